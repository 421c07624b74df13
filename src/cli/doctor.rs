//! `baton doctor`: what is wrong, and what to do about it.
//!
//! Each check prints `ok`, `warn` or `FAIL` with a line a person can act on.
//! It never starts the daemon: it reports on what is there.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use serde::Serialize;

use super::context::Context;
use super::output;
use crate::StoreCheck;
use crate::api::{Health, Status, Version};
use crate::client::ClientError;
use crate::private_dir::{Holds, judge};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    verdict: Verdict,
    detail: String,
}

/// Runs every check, prints them, and fails if any failed. A config file
/// that was refused (`config_problem`) is one failed check; the others run
/// on the defaults.
pub async fn run(context: &Context, config_problem: Option<anyhow::Error>) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let settings = &context.settings;
    checks.push(match (config_problem, &settings.config_file) {
        (Some(err), _) => Check {
            check: "config file",
            verdict: Verdict::Fail,
            detail: format!("{err:#}; the other checks use the defaults"),
        },
        (None, Some(path)) => {
            Check { check: "config file", verdict: Verdict::Ok, detail: format!("read {}", path.display()) }
        }
        (None, None) => {
            let looked = crate::config::default_config_file().map_or_else(
                || "no home directory to look in".to_owned(),
                |path| format!("none at {}", path.display()),
            );
            Check { check: "config file", verdict: Verdict::Ok, detail: format!("{looked}; defaults in use") }
        }
    });
    checks.push(private_dir("data dir", &settings.data_dir, Holds::Data));
    if let Some(dir) = settings.socket.parent() {
        checks.push(private_dir("socket dir", dir, Holds::Socket));
    }
    checks.extend(daemon_checks(context).await);

    if context.json {
        output::json(&checks)?;
    } else {
        for check in &checks {
            let verdict = match check.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            output::line(format_args!("{verdict}  {:<12} {}", check.check, check.detail))?;
        }
    }
    let failed = checks.iter().filter(|check| check.verdict == Verdict::Fail).count();
    anyhow::ensure!(failed == 0, "{failed} check(s) failed");
    Ok(())
}

/// The daemon's own rule ([`crate::private_dir`]) for a directory it would
/// refuse; a warning for one others may read.
fn private_dir(check: &'static str, dir: &Path, holds: Holds) -> Check {
    let own = nix::unistd::geteuid().as_raw();
    let (verdict, detail) = match std::fs::metadata(dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            (Verdict::Ok, format!("{} does not exist yet; the daemon creates it", dir.display()))
        }
        Err(err) => (Verdict::Fail, format!("cannot read {}: {err}", dir.display())),
        Ok(meta) => match judge(meta.is_dir(), meta.uid(), meta.mode(), own, holds) {
            Err(refusal) => (Verdict::Fail, refusal.explain(dir, holds)),
            Ok(()) if holds == Holds::Socket && meta.mode() & 0o1002 == 0o1002 => {
                (Verdict::Ok, format!("{} is shared but sticky; the socket in it is private", dir.display()))
            }
            Ok(()) if meta.mode() & 0o077 != 0 => (
                Verdict::Warn,
                format!(
                    "{} is readable by others (mode {:o}); run: chmod 700 {}",
                    dir.display(),
                    meta.mode() & 0o777,
                    dir.display()
                ),
            ),
            Ok(()) => (Verdict::Ok, format!("{} is private", dir.display())),
        },
    };
    Check { check, verdict, detail }
}

/// How long a check of the whole store may take.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The verdict on a store that was read back whole.
fn store_check(found: &StoreCheck) -> Check {
    if found.problems.is_empty() {
        let detail = format!(
            "{} records read back, none damaged; {} sessions, {} agents, {} handoffs, as the commit record says (commit {})",
            found.records, found.sessions, found.agents, found.handoffs, found.commit
        );
        return Check { check: "store", verdict: Verdict::Ok, detail };
    }
    let mut detail = format!("{} of {} records do not read back", found.undecodable, found.records);
    for problem in &found.problems {
        detail.push_str("; ");
        detail.push_str(problem);
    }
    detail.push_str(". Restore a backup, or run `baton store reset` to set the store aside and start over");
    Check { check: "store", verdict: Verdict::Fail, detail }
}

/// With no daemon running, the store is opened here, under the daemon's
/// lock (so no daemon starts meanwhile), and read back whole.
fn offline_store_check(settings: &crate::config::Settings) -> Option<Check> {
    let store_dir = settings.data_dir.join("store");
    if !store_dir.exists() && !baton_actors::store::record_path(&store_dir).exists() {
        return None;
    }
    let fail = |detail: String| Some(Check { check: "store", verdict: Verdict::Fail, detail });
    let Ok(_lock) = crate::daemon::instance::InstanceLock::acquire(&settings.lock_file()) else {
        return Some(Check {
            check: "store",
            verdict: Verdict::Warn,
            detail: "not checked: a daemon holds the data dir's lock but does not answer".into(),
        });
    };
    let store = match baton_actors::SledStore::open(&store_dir, baton_actors::StoreOptions::default()) {
        Ok(store) => store,
        Err(err) => return fail(format!("{err}; run `baton store reset` to set it aside and start over")),
    };
    match baton_actors::Store::check(&store) {
        Ok(found) => Some(store_check(&found)),
        Err(err) => fail(err.to_string()),
    }
}

async fn daemon_checks(context: &Context) -> Vec<Check> {
    let socket = &context.settings.socket;
    let mut checks = Vec::new();
    let socket_state = std::fs::metadata(socket);
    match &socket_state {
        Ok(meta) if !meta.file_type().is_socket() => checks.push(Check {
            check: "socket",
            verdict: Verdict::Fail,
            detail: format!("{} is not a socket; move it away", socket.display()),
        }),
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => checks.push(Check {
            check: "socket",
            verdict: Verdict::Warn,
            detail: format!("{} is open to others (mode {:o})", socket.display(), meta.permissions().mode() & 0o777),
        }),
        _ => {}
    }
    match context.client.get::<Version>("/v1/version").await {
        Ok(version) => {
            let cli = env!("CARGO_PKG_VERSION");
            checks.push(if version.version == cli {
                Check {
                    check: "daemon",
                    verdict: Verdict::Ok,
                    detail: format!("answers on {}, version {cli}", socket.display()),
                }
            } else {
                Check {
                    check: "daemon",
                    verdict: Verdict::Warn,
                    detail: format!("runs version {}, this CLI is {cli}; restart the daemon", version.version),
                }
            });
            let status = context.client.get::<Status>("/v1/status").await;
            if let Ok(status) = &status {
                let detail = status.agent_tracking.clone();
                checks.push(Check { check: "agent tracking", verdict: Verdict::Ok, detail });
            }
            let client = context.client.clone().with_timeout(CHECK_TIMEOUT);
            checks.push(match client.get::<StoreCheck>("/v1/store/check").await {
                Ok(found) => store_check(&found),
                Err(err) => Check { check: "store", verdict: Verdict::Fail, detail: err.to_string() },
            });
            if let Ok(status) = &status {
                checks.push(corrupt_records_check(status.corrupt_records));
            }
            if let Ok(health) = context.client.get::<Health>("/v1/health").await {
                checks.push(match health.reason {
                    None => Check { check: "store writes", verdict: Verdict::Ok, detail: "go through".into() },
                    Some(reason) => Check { check: "store writes", verdict: Verdict::Fail, detail: reason },
                });
            }
        }
        Err(ClientError::Unreachable { err, .. }) => {
            checks.push(match socket_state {
                Ok(_) => Check {
                    check: "daemon",
                    verdict: Verdict::Warn,
                    detail: format!(
                        "stale socket {} ({err}): no daemon runs; the next command starts one and replaces it",
                        socket.display()
                    ),
                },
                Err(_) => Check {
                    check: "daemon",
                    verdict: Verdict::Ok,
                    detail: "not running; the next command starts it (or run: baton serve)".into(),
                },
            });
            checks.extend(offline_store_check(&context.settings));
        }
        Err(err) => checks.push(Check { check: "daemon", verdict: Verdict::Fail, detail: err.to_string() }),
    }
    let log = context.settings.daemon_log();
    if log.exists() {
        checks.push(Check { check: "daemon log", verdict: Verdict::Ok, detail: log.display().to_string() });
    }
    checks
}

/// Whether reads have skipped records that do not decode.
fn corrupt_records_check(count: u64) -> Check {
    let (verdict, detail) = match count {
        0 => (Verdict::Ok, "every record read decodes".to_owned()),
        count => (Verdict::Warn, format!("{count} skipped as undecodable; the daemon log names their keys")),
    };
    Check { check: "store records", verdict, detail }
}
