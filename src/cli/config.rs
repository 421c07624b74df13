//! `baton config check [FILE]`: checks a config file without starting
//! anything, as `nginx -t` does: every key known, every value in its range.
//!
//! It reads the file the daemon would read (or FILE) through the same
//! [`crate::config::read_config`], so what it accepts the daemon accepts.

use std::path::PathBuf;

use clap::Subcommand;

use super::{GlobalArgs, output};
use crate::config::{default_config_file, read_config};

/// What `baton config` does.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Checks a config file without starting anything; prints `ok FILE`, or the
    /// line at fault and exits 2 (1 when the file cannot be read).
    Check(CheckArgs),
}

/// Options of `baton config check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The file to check [default: the one the daemon reads: --config,
    /// $BATON_CONFIG, else $XDG_CONFIG_HOME/baton/config.toml].
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
}

/// What a check found, for `--json`.
#[derive(Debug, serde::Serialize)]
struct Checked {
    /// The file checked.
    file: PathBuf,
    /// Whether it exists (a missing default file means the defaults).
    exists: bool,
}

/// Runs `baton config ...`.
pub fn run(global: &GlobalArgs, command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Check(args) = command;
    let (file, named) = match args.file.or_else(|| global.config.clone()) {
        Some(file) => (file, true),
        None => (default_config_file().ok_or_else(|| anyhow::anyhow!("no config file is known: name one"))?, false),
    };
    // A default file that is not there is no error: the defaults are in force.
    let exists = named || file.exists();
    if exists {
        read_config(&file)?;
    }
    if global.json {
        return output::json(&Checked { file, exists });
    }
    if exists {
        output::line(format_args!("ok {}", file.display()))
    } else {
        output::line(format_args!("ok {} does not exist; the defaults are in force", file.display()))
    }
}
