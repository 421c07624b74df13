//! The engine through the library handle.

mod crash_recovery;
mod errors;
mod events;
mod persistence;
mod queue;
mod supervision;
mod watchdog;
