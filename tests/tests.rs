//! baton's integration tests: one binary, so the suite links once.
//!
//! Every test runs the real engine on a real sled database in a temporary
//! directory. Nothing is mocked; faults are injected through the engine's
//! `fault-injection` hooks, and time-driven behaviour runs on a clock the
//! test moves.

mod cli;
mod engine;
mod support;
