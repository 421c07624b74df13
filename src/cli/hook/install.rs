//! `baton hook install`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::cli::output;
use crate::hook::{EventChange, HookCommand, SettingsScope, install};

/// Options of `baton hook install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The project whose `.claude/settings.json` gets the hook [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "user", num_args = 0..=1, default_missing_value = ".")]
    project: Option<PathBuf>,
    /// `~/.claude/settings.json`: every project of this user.
    #[arg(long)]
    user: bool,
}

impl InstallArgs {
    fn scope(&self) -> SettingsScope {
        match (&self.project, self.user) {
            (_, true) => SettingsScope::User,
            (Some(dir), false) => SettingsScope::Project(dir.clone()),
            (None, false) => SettingsScope::Project(PathBuf::from(".")),
        }
    }
}

/// Installs the hook and says what changed.
pub fn run(global: &GlobalArgs, args: InstallArgs) -> anyhow::Result<()> {
    let settings = args.scope().settings_file()?;
    let exe = std::env::current_exe().context("cannot tell where the baton binary is")?;
    let command = HookCommand::new(&exe)?;
    let report = install(&settings, &command)?;
    if global.json {
        return output::json(&super::uninstall::report_json(&report));
    }
    if !report.changed() {
        return output::line(format_args!("baton's hook is already installed in {}", settings.display()));
    }
    let touched: Vec<String> = report
        .events
        .iter()
        .filter(|(_, change)| matches!(change, EventChange::Added | EventChange::Updated))
        .map(|(event, _)| event.to_string())
        .collect();
    output::line(format_args!("installed baton's hook in {} for {}", settings.display(), touched.join(", ")))?;
    if let Some(backup) = &report.backup {
        output::line(format_args!("the previous file is saved as {}", backup.display()))?;
    }
    Ok(())
}
