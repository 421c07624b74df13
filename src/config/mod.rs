//! Where the daemon's files go and how it behaves, from four sources.
//!
//! Highest first: command-line flags (`--data-dir`, `--socket`, `--config`),
//! environment variables (`BATON_DATA_DIR`, `BATON_SOCKET`, `BATON_CONFIG`),
//! the TOML config file, then the defaults:
//!
//! | setting | default |
//! |---|---|
//! | data dir | `$XDG_DATA_HOME/baton`, else `~/.local/share/baton` |
//! | socket | `$XDG_RUNTIME_DIR/baton/baton.sock`, else `<data dir>/baton.sock` |
//! | config file | `$XDG_CONFIG_HOME/baton/config.toml`, else `~/.config/baton/config.toml` (read if it exists) |
//!
//! Every key of the file must be known and every value in its range
//! (`check.rs`); `baton config check` runs the same checks.
//!
//! The config file may also set `body_limit` (bytes, default 1 MiB), a `[log]`
//! table (`format = "text" | "json"`, `file = "..."`) and an `[engine]` table
//! with the engine's tunables in milliseconds (`watchdog_interval`,
//! `idle_after`, ...), role templates among them
//! (`[engine.agents.roles.<role>]`: how to run an agent of that role).

mod check;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use baton_actors::EngineConfig;
use serde::Deserialize;

pub use check::{ConfigFileError, parse as parse_config};

/// The default limit on a request body.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The smallest limit on a request body that leaves room for a request.
pub const MIN_BODY_LIMIT: usize = 1024;

/// The config file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Overrides the default data dir.
    pub data_dir: Option<PathBuf>,
    /// Overrides the default socket path.
    pub socket: Option<PathBuf>,
    /// The largest request body the daemon accepts, in bytes.
    pub body_limit: Option<usize>,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The engine's tunables.
    #[serde(default)]
    pub engine: EngineConfig,
}

/// How the daemon logs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// Also append the log to this file.
    pub file: Option<PathBuf>,
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What flags and environment variables said; `None` where they said nothing.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir` / `BATON_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--socket` / `BATON_SOCKET`.
    pub socket: Option<PathBuf>,
    /// `--config` / `BATON_CONFIG`.
    pub config: Option<PathBuf>,
}

/// The settings in force, every source applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the store, the lock and the logs live.
    pub data_dir: PathBuf,
    /// Where the daemon listens.
    pub socket: PathBuf,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The largest request body the daemon accepts.
    pub body_limit: usize,
    /// Logging.
    pub log: LogConfig,
    /// The engine's tunables.
    pub engine: EngineConfig,
}

impl Settings {
    /// Applies `overrides` over the config file over the defaults.
    pub fn resolve(overrides: &Overrides) -> anyhow::Result<Self> {
        let (file, config_file) = match Self::config_path(overrides) {
            Some(path) => (read_config(&path)?, Some(path)),
            None => (ConfigFile::default(), None),
        };
        Self::over(overrides, file, config_file)
    }

    /// As [`resolve`](Self::resolve), but a config file that cannot be read
    /// or is refused is left out (the defaults stand in for it) and its
    /// error returned beside the settings, for `baton doctor` to report
    /// among its other checks.
    pub fn resolve_despite_config(overrides: &Overrides) -> anyhow::Result<(Self, Option<anyhow::Error>)> {
        let Some(path) = Self::config_path(overrides) else {
            return Ok((Self::over(overrides, ConfigFile::default(), None)?, None));
        };
        match read_config(&path) {
            Ok(file) => Ok((Self::over(overrides, file, Some(path))?, None)),
            Err(err) => Ok((Self::over(overrides, ConfigFile::default(), None)?, Some(err))),
        }
    }

    /// The config file to read: the one named, else the default one if it exists.
    fn config_path(overrides: &Overrides) -> Option<PathBuf> {
        overrides.config.clone().or_else(|| default_config_file().filter(|path| path.exists()))
    }

    /// `overrides` over `file` (read from `config_file`) over the defaults.
    fn over(overrides: &Overrides, file: ConfigFile, config_file: Option<PathBuf>) -> anyhow::Result<Self> {
        let data_dir = overrides
            .data_dir
            .clone()
            .or(file.data_dir)
            .or_else(crate::default_data_dir)
            .context("no data dir: set --data-dir or BATON_DATA_DIR (no home directory is known)")?;
        let socket = overrides.socket.clone().or(file.socket).unwrap_or_else(|| default_socket(&data_dir));
        let mut engine = file.engine;
        if let Some(mode) = std::env::var_os(TRACKING_VAR).filter(|mode| !mode.is_empty()) {
            let mode = mode.to_string_lossy();
            engine.agents.tracking = mode.parse().map_err(anyhow::Error::msg).context(TRACKING_VAR)?;
        }
        Ok(Self {
            data_dir,
            socket,
            config_file,
            body_limit: file.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            log: file.log,
            engine,
        })
    }

    /// The file a daemon started by the CLI logs to.
    pub fn daemon_log(&self) -> PathBuf {
        self.data_dir.join("daemon.log")
    }

    /// The lock file that makes one daemon per data dir.
    pub fn lock_file(&self) -> PathBuf {
        self.data_dir.join("baton.lock")
    }
}

/// Reads and checks the config file at `path`. An unreadable file fails with
/// an I/O error in its chain; one that is read but refused, with a
/// [`ConfigFileError`] (its line and what is wrong), each under the path.
pub fn read_config(path: &Path) -> anyhow::Result<ConfigFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
    parse_config(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The variable that says how agents are tracked (`auto`, `cgroup` or
/// `environ`), over `[engine.agents] tracking` in the config file.
pub const TRACKING_VAR: &str = "BATON_AGENT_TRACKING";

/// `$XDG_CONFIG_HOME/baton/config.toml`, else `~/.config/baton/config.toml`.
pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "baton").map(|dirs| dirs.config_dir().join("config.toml"))
}

/// `$XDG_RUNTIME_DIR/baton/baton.sock`, else `<data dir>/baton.sock`.
pub fn default_socket(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(runtime_dir) => PathBuf::from(runtime_dir).join("baton").join("baton.sock"),
        None => data_dir.join("baton.sock"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_file_which_wins_over_defaults() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "data_dir = \"/from/file\"\nsocket = \"/from/file.sock\"\nbody_limit = 2048\n\
             [engine]\nidle_after = 5000\n[log]\nformat = \"json\"\n",
        )
        .unwrap();

        let from_file = Settings::resolve(&Overrides { config: Some(config.clone()), ..Overrides::default() }).unwrap();
        assert_eq!(from_file.data_dir, Path::new("/from/file"));
        assert_eq!(from_file.socket, Path::new("/from/file.sock"));
        assert_eq!(from_file.body_limit, 2048);
        assert_eq!(from_file.engine.idle_after, std::time::Duration::from_secs(5));
        assert_eq!(from_file.log.format, LogFormat::Json);

        let overrides = Overrides {
            data_dir: Some("/from/flag".into()),
            socket: Some("/from/flag.sock".into()),
            config: Some(config),
        };
        let from_flags = Settings::resolve(&overrides).unwrap();
        assert_eq!(from_flags.data_dir, Path::new("/from/flag"));
        assert_eq!(from_flags.socket, Path::new("/from/flag.sock"));
    }

    #[test]
    fn role_templates_in_the_config_file_reach_the_engine_config() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[engine.agents.roles.reviewer]\n\
             command = [\"claude\", \"-p\", \"review the diff\"]\n\
             restart = \"on-failure\"\n\
             env = { REVIEW_DEPTH = \"2\" }\n\
             [engine.agents.roles.tester]\n\
             command = [\"cargo\", \"test\"]\n",
        )
        .unwrap();
        let settings = Settings::resolve(&Overrides { config: Some(config), ..Overrides::default() }).unwrap();
        let roles = &settings.engine.agents.roles;
        assert_eq!(roles.keys().collect::<Vec<_>>(), ["reviewer", "tester"]);
        let reviewer = &roles["reviewer"];
        assert_eq!(reviewer.argv, ["claude", "-p", "review the diff"]);
        assert_eq!(reviewer.restart, baton_actors::model::RestartPolicy::OnFailure);
        assert_eq!(reviewer.env.get("REVIEW_DEPTH").map(String::as_str), Some("2"));
        assert_eq!(roles["tester"].argv, ["cargo", "test"]);
        assert_eq!(roles["tester"].restart, baton_actors::model::RestartPolicy::Never);
    }

    #[test]
    fn the_example_in_the_operations_guide_parses() {
        let guide = include_str!("../../docs/operations.md");
        let start = guide.find("```toml\n").expect("a TOML example") + "```toml\n".len();
        let example = &guide[start..][..guide[start..].find("```").expect("the end of the example")];
        let file = parse_config(example).unwrap_or_else(|err| panic!("{err}"));
        let reviewer = &file.engine.agents.roles["reviewer"];
        assert_eq!(reviewer.argv[0], "claude");
        assert_eq!(reviewer.limits.max_runtime, Some(std::time::Duration::from_secs(1800)));
        assert!(file.engine.agents.roles.contains_key("tester"));
    }

    #[test]
    fn an_unknown_key_in_a_role_template_is_an_error() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "[engine.agents.roles.reviewer]\ncommand = [\"claude\"]\ncomand = [\"typo\"]\n")
            .unwrap();
        let err = Settings::resolve(&Overrides { config: Some(config), ..Overrides::default() }).unwrap_err();
        assert!(format!("{err:#}").contains("comand"), "{err:#}");
    }

    #[test]
    fn an_unknown_key_in_the_config_file_is_an_error_that_names_the_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, "data_dri = \"/typo\"\n").unwrap();
        let err = Settings::resolve(&Overrides { config: Some(config.clone()), ..Overrides::default() }).unwrap_err();
        assert!(format!("{err:#}").contains(&config.display().to_string()), "{err:#}");
        assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
    }

    #[test]
    fn without_a_socket_setting_the_socket_follows_the_runtime_dir_or_the_data_dir() {
        let data_dir = Path::new("/data/baton");
        let socket = default_socket(data_dir);
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
            Some(runtime) => assert_eq!(socket, Path::new(&runtime).join("baton/baton.sock")),
            None => assert_eq!(socket, data_dir.join("baton.sock")),
        }
    }
}
