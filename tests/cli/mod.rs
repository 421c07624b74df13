//! The daemon and the CLI, as users run them: the real binary, real sockets.

mod agents;
mod autostart;
mod bad_input;
mod bounds;
mod concurrency;
mod config;
mod descriptors;
mod disk_full;
mod handoffs;
mod harness;
mod hook;
mod observability;
mod queue;
mod queue_torture;
mod serve;
mod sessions;
mod store;
mod tracking;
