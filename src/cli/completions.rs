//! `baton completions SHELL`: a completion script on stdout.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::Cli;

/// Options of `baton completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Prints the script, for example `baton completions bash > ~/.local/share/bash-completion/completions/baton`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    // clap_complete panics when its writer fails: it writes to memory, and a
    // closed stdout is an error like any other command's.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "baton", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}
