//! What a client verb needs: the settings, a client, and how to print.

use std::time::Duration;

use crate::client::{Autostart, Client, ClientError, ensure_running};
use crate::config::Settings;

use super::GlobalArgs;

/// How long a verb waits for a daemon it started to answer.
const AUTOSTART_WAIT: Duration = Duration::from_secs(5);

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
        let settings = Settings::resolve(&global.overrides())?;
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
