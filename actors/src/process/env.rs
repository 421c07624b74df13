//! The environment an agent runs with, and nothing more.
//!
//! The daemon's own environment holds what its user exported in the shell that
//! started it: cloud credentials, API tokens, `SSH_AUTH_SOCK`. An agent must not
//! get them unless someone meant it to. So an agent's environment is built, not
//! inherited: a few harmless variables taken from the daemon by name (an
//! allow-list the caller can extend), then the variables the caller set
//! explicitly, then baton's own (`BATON_SOCKET`, `BATON_SESSION_ID`,
//! `BATON_AGENT_ID`, and `BATON_DATA_DIR` and `BATON_CONFIG` where the
//! daemon has them), which tell the agent how to reach baton and who it is.
//!
//! The source environment is a parameter, so tests need not touch the
//! process's own.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{AgentId, SessionId};

/// The variables every agent inherits from the daemon when they are set there:
/// what a command-line tool needs to find programs, its home and its locale.
pub const STANDARD_ALLOW_LIST: &[&str] = &["PATH", "HOME", "LANG", "TERM", "USER", "SHELL"];

/// The path of the daemon's socket, so the agent (or a hook it runs) can talk to baton.
pub const BATON_SOCKET: &str = "BATON_SOCKET";
/// The id of the session the agent belongs to.
pub const BATON_SESSION_ID: &str = "BATON_SESSION_ID";
/// The agent's own id.
pub const BATON_AGENT_ID: &str = "BATON_AGENT_ID";
/// The daemon's data dir, so a `baton` the agent runs starts no other daemon.
pub const BATON_DATA_DIR: &str = "BATON_DATA_DIR";
/// The daemon's config file, for the same reason.
pub const BATON_CONFIG: &str = "BATON_CONFIG";

/// The names of the daemon's variables an agent may inherit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// Exact names; a variable not named here is never inherited.
    names: BTreeSet<OsString>,
}

impl Default for AllowList {
    fn default() -> Self {
        Self::standard()
    }
}

impl AllowList {
    /// The [`STANDARD_ALLOW_LIST`].
    pub fn standard() -> Self {
        Self { names: STANDARD_ALLOW_LIST.iter().map(OsString::from).collect() }
    }

    /// An empty list: nothing is inherited.
    pub fn nothing() -> Self {
        Self { names: BTreeSet::new() }
    }

    /// Also lets `name` through (such as `ANTHROPIC_API_KEY`, for an agent that
    /// needs it).
    pub fn allow(mut self, name: impl Into<OsString>) -> Self {
        self.names.insert(name.into());
        self
    }

    /// Whether a variable called `name` may be inherited.
    pub fn allows(&self, name: &OsStr) -> bool {
        self.names.contains(name)
    }

    /// The names on the list, in order.
    pub fn names(&self) -> impl Iterator<Item = &OsStr> {
        self.names.iter().map(OsString::as_os_str)
    }
}

/// What baton tells an agent about itself, through the `BATON_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatonContext {
    /// The daemon's socket, set as `BATON_SOCKET`.
    pub socket: PathBuf,
    /// The agent's session, set as `BATON_SESSION_ID`.
    pub session: SessionId,
    /// The agent, set as `BATON_AGENT_ID`.
    pub agent: AgentId,
    /// The daemon's data dir, set as `BATON_DATA_DIR` when known.
    pub data_dir: Option<PathBuf>,
    /// The daemon's config file, set as `BATON_CONFIG` when it read one.
    pub config_file: Option<PathBuf>,
}

impl BatonContext {
    /// The context of agent `agent` of session `session`, served at `socket`.
    pub fn new(socket: impl AsRef<Path>, session: SessionId, agent: AgentId) -> Self {
        Self { socket: socket.as_ref().to_path_buf(), session, agent, data_dir: None, config_file: None }
    }
}

/// The complete environment of one agent process: the child gets exactly these
/// variables.
///
/// Its `Debug` lists the names only: values often hold tokens.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// Name to value; later settings replace earlier ones.
    vars: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// An agent's environment: the variables of `source` (normally
    /// [`std::env::vars_os`]) that `allow` names, then `explicit`, then baton's
    /// own from `baton`. A later layer wins, so an agent cannot be handed a
    /// false `BATON_AGENT_ID`.
    pub fn for_agent<I, K, V>(
        source: I,
        allow: &AllowList,
        explicit: &BTreeMap<String, String>,
        baton: &BatonContext,
    ) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env = Self::inherited(source, allow);
        for (name, value) in explicit {
            env.set(name, value);
        }
        env.set_baton(baton);
        env
    }

    /// The variables of `source` that `allow` names, and no others.
    pub fn inherited<I, K, V>(source: I, allow: &AllowList) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let vars = source
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .filter(|(name, _)| allow.allows(name))
            .collect();
        Self { vars }
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// This environment with `name` set to `value`.
    pub fn with(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets `BATON_SOCKET`, `BATON_SESSION_ID` and `BATON_AGENT_ID`.
    pub fn set_baton(&mut self, baton: &BatonContext) {
        self.set(BATON_SOCKET, &baton.socket);
        self.set(BATON_SESSION_ID, baton.session.to_string());
        self.set(BATON_AGENT_ID, baton.agent.to_string());
        if let Some(dir) = &baton.data_dir {
            self.set(BATON_DATA_DIR, dir);
        }
        if let Some(file) = &baton.config_file {
            self.set(BATON_CONFIG, file);
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        self.vars.get(name.as_ref()).map(OsString::as_os_str)
    }

    /// The names of the variables, in order.
    pub fn names(&self) -> impl Iterator<Item = &OsStr> {
        self.vars.keys().map(OsString::as_os_str)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars.iter().map(|(name, value)| (name.as_os_str(), value.as_os_str()))
    }

    /// How many variables it holds.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether it holds no variable.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The first name that cannot be passed to a program (empty, or holding
    /// `=` or a NUL byte), or whose value holds a NUL byte.
    pub(super) fn unpassable_variable(&self) -> Option<&OsStr> {
        use std::os::unix::ffi::OsStrExt;
        self.vars
            .iter()
            .find(|(name, value)| {
                let name = name.as_bytes();
                name.is_empty() || name.contains(&b'=') || name.contains(&0) || value.as_bytes().contains(&0)
            })
            .map(|(name, _)| name.as_os_str())
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Environment").field(&Names(self)).finish()
    }
}

/// The names of an environment, shown as a list.
struct Names<'a>(&'a Environment);

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.names()).finish()
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
