//! `baton store ...`: the store itself, with no daemon running.

use super::GlobalArgs;
use crate::config::Settings;
use crate::daemon::instance::InstanceLock;

/// What to do with the store.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Sets the store aside and starts over with an empty one: for a store
    /// that is refused as damaged. Nothing is deleted: the old store is
    /// moved to `store.damaged-TIME` in the data dir. Needs the daemon stopped.
    Reset,
}

/// Runs a store command under the data dir's lock, so no daemon runs meanwhile.
pub fn run(global: &GlobalArgs, command: StoreCommand) -> anyhow::Result<()> {
    let settings = Settings::resolve(&global.overrides())?;
    match command {
        StoreCommand::Reset => {
            let _lock = InstanceLock::acquire(&settings.lock_file())?;
            let aside = crate::set_store_aside(&settings.data_dir)
                .map_err(|err| anyhow::anyhow!("cannot set the store aside: {err}"))?;
            if global.json {
                super::output::json(&serde_json::json!({ "set_aside": aside }))
            } else {
                super::output::line(format_args!(
                    "set the store aside at {}; the next start makes an empty store",
                    aside.display()
                ))
            }
        }
    }
}
