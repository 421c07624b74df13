//! The `baton` command line: one file per verb.

mod demo;

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// baton supervises AI coding-agent sessions.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the engine in-process for a moment: opens, lists and closes sessions
    /// in the data dir, and prints the events they produced.
    Demo(demo::DemoArgs),
}

/// Options every verb that touches the data dir shares.
#[derive(Debug, clap::Args)]
pub struct DataDirArgs {
    /// The data dir [default: $XDG_DATA_HOME/baton, else ~/.local/share/baton].
    #[arg(long, env = "BATON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
    }
}
