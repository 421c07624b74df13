//! `baton version`: this CLI's version and the daemon's, as `docker version`
//! shows client and server. It starts no daemon: the point is to see what
//! runs.

use serde::Serialize;

use super::context::Context;
use super::output;
use crate::api::{API_VERSION, Version};
use crate::client::ClientError;

/// What `--json` prints: the daemon's part is `null` when none answers.
#[derive(Debug, Serialize)]
struct Versions {
    client: Version,
    daemon: Option<Version>,
}

/// Prints both versions; exits 3 when no daemon answers (after printing the client's).
pub async fn run(context: &Context) -> anyhow::Result<()> {
    let client = Version { version: env!("CARGO_PKG_VERSION").into(), api: API_VERSION };
    let daemon = match context.client.get::<Version>("/v1/version").await {
        Ok(daemon) => Ok(daemon),
        Err(err @ ClientError::Unreachable { .. }) => Err(err),
        Err(err) => return Err(err.into()),
    };
    let shown = |version: &Version| format!("{} (API {})", version.version, version.api);
    if context.json {
        output::json(&Versions { client: client.clone(), daemon: daemon.as_ref().ok().cloned() })?;
    } else {
        let daemon_line = match &daemon {
            Ok(version) => shown(version),
            Err(_) => format!("not running on {}", context.settings.socket.display()),
        };
        output::fields([("client", shown(&client)), ("daemon", daemon_line)])?;
    }
    daemon.map(drop).map_err(Into::into)
}
