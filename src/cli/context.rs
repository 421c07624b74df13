//! What a client verb needs: the settings, a client, and how to print.

use std::ffi::OsString;
use std::time::Duration;

use baton_actors::process::STANDARD_ALLOW_LIST;

use crate::client::{Autostart, Client, ClientError, ensure_running};
use crate::config::{Settings, TRACKING_VAR};

use super::GlobalArgs;

/// How long a verb waits for a daemon it started to answer.
const AUTOSTART_WAIT: Duration = Duration::from_secs(5);

/// What a started daemon takes from the CLI's environment besides the
/// standard variables agents get and those role templates let them inherit:
/// where the user's directories are, and how the daemon logs and tracks agents.
const DAEMON_ENV: &[&str] = &["XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "RUST_LOG", TRACKING_VAR];

/// The resolved settings and a client for the daemon they name.
pub struct Context {
    /// The settings in force.
    pub settings: Settings,
    /// The client.
    pub client: Client,
    /// Print JSON instead of tables.
    pub json: bool,
    /// How to start the daemon, unless autostart is off.
    autostart: Option<Autostart>,
}

impl Context {
    /// Resolves the settings the global options name.
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        Self::with(global, Settings::resolve(&global.overrides())?)
    }

    /// The context of `settings`, resolved from `global`'s options.
    pub fn with(global: &GlobalArgs, settings: Settings) -> anyhow::Result<Self> {
        let autostart = if global.no_autostart {
            None
        } else {
            let mut args = vec!["serve".into(), "--data-dir".into(), settings.data_dir.clone().into_os_string()];
            args.extend(["--socket".into(), settings.socket.clone().into_os_string()]);
            if let Some(config) = &settings.config_file {
                args.extend(["--config".into(), config.clone().into_os_string()]);
            }
            Some(Autostart {
                exe: std::env::current_exe()?,
                args,
                env: daemon_env(&settings),
                log_file: settings.daemon_log(),
                wait: AUTOSTART_WAIT,
            })
        };
        Ok(Self { client: Client::new(&settings.socket), settings, json: global.json, autostart })
    }

    /// The client, once a daemon answers (started here if need be).
    pub async fn connect(&self) -> Result<&Client, ClientError> {
        ensure_running(&self.client, self.autostart.as_ref()).await?;
        Ok(&self.client)
    }
}

/// The environment of a daemon the CLI starts: the CLI's values of the
/// standard variables, of [`DAEMON_ENV`], and of the names role templates list
/// in `inherit_env`; nothing else, so that whichever client happens to start
/// the daemon, its agents see the same variables.
fn daemon_env(settings: &Settings) -> Vec<(OsString, OsString)> {
    let templates = settings.engine.agents.roles.values().flat_map(|template| &template.inherit_env);
    let mut names: Vec<&str> = STANDARD_ALLOW_LIST.iter().chain(DAEMON_ENV).copied().collect();
    names.extend(templates.map(String::as_str));
    names.sort_unstable();
    names.dedup();
    names.into_iter().filter_map(|name| Some((name.into(), std::env::var_os(name)?))).collect()
}
