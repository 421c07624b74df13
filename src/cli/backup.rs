//! `baton backup DEST`: a consistent copy of the store, taken while the daemon runs.

use std::path::PathBuf;
use std::time::Duration;

use super::context::Context;
use super::{UsageError, output};
use crate::CommitRecord;
use crate::api::BackupRequest;

/// How long a backup may take: it reads the whole store.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Options of `baton backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// A directory that does not exist yet (or is empty): it becomes a data
    /// dir holding every record acknowledged before the backup began.
    #[arg(value_name = "DEST")]
    dest: PathBuf,
}

/// Asks the daemon for the copy and says what it holds.
pub async fn run(context: &Context, args: BackupArgs) -> anyhow::Result<()> {
    let dest = std::path::absolute(&args.dest)?;
    if std::fs::read_dir(&dest).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(UsageError(format!("{} is not empty: a backup goes into a new directory", dest.display())).into());
    }
    let client = context.connect().await?.clone().with_timeout(BACKUP_TIMEOUT);
    let record: CommitRecord = client.post("/v1/store/backup", &BackupRequest { dest: dest.clone() }).await?;
    if context.json {
        return output::json(&record);
    }
    output::line(format_args!(
        "backed up commit {} ({} sessions, {} agents, {} handoffs) to {}",
        record.commit,
        record.sessions,
        record.agents,
        record.handoffs,
        dest.display()
    ))?;
    output::line(format_args!(
        "to use it: stop the daemon, then `baton store reset` and move {0}/store and {0}/store.commit into the data dir, \
         or run `baton serve --data-dir {0}`",
        dest.display()
    ))
}
