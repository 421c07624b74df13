//! `baton hook uninstall`.

use std::path::PathBuf;

use serde_json::json;

use crate::cli::GlobalArgs;
use crate::cli::output;
use crate::hook::{EventChange, SettingsReport, SettingsScope, uninstall};

/// Options of `baton hook uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// The project whose `.claude/settings.json` loses the hook [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "user", num_args = 0..=1, default_missing_value = ".")]
    project: Option<PathBuf>,
    /// `~/.claude/settings.json`.
    #[arg(long)]
    user: bool,
}

/// Removes the hook and says what changed.
pub fn run(global: &GlobalArgs, args: UninstallArgs) -> anyhow::Result<()> {
    let scope = if args.user { SettingsScope::User } else { SettingsScope::Project(args.project.unwrap_or_default()) };
    let settings = scope.settings_file()?;
    let report = uninstall(&settings)?;
    if global.json {
        return output::json(&report_json(&report));
    }
    if report.changed() {
        let removed: Vec<String> = report.events_with(EventChange::Removed).map(ToString::to_string).collect();
        output::line(format_args!("removed baton's hook from {} for {}", settings.display(), removed.join(", ")))
    } else {
        output::line(format_args!("baton's hook is not installed in {}", settings.display()))
    }
}

/// A report as JSON: the file, the backup, and each event's change.
pub(super) fn report_json(report: &SettingsReport) -> serde_json::Value {
    let events: serde_json::Map<String, serde_json::Value> = report
        .events
        .iter()
        .map(|(event, change)| (event.to_string(), json!(format!("{change:?}").to_lowercase())))
        .collect();
    json!({"settings": report.settings, "backup": report.backup, "changed": report.changed(), "events": events})
}
