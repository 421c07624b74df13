//! The engine through the library handle.

mod agents;
mod crash_recovery;
mod damage;
mod errors;
mod events;
mod handoffs;
mod persistence;
mod queue;
mod supervision;
mod tracking;
mod watchdog;
