//! The library's error type.

use std::path::PathBuf;

pub use baton_actors::config::ConfigError;
pub use baton_actors::{EngineError, StoreError};

/// What a call on a [`Baton`](crate::Baton) handle can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data dir could not be created.
    #[error("cannot create the data dir {}: {err}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        err: std::io::Error,
    },
    /// A tunable of the engine's config is out of its range.
    #[error("invalid engine config: {0}")]
    Config(#[from] ConfigError),
    /// Agents were to run in cgroups (`tracking = "cgroup"`) and no cgroup
    /// v2 hierarchy can be written to.
    #[error("cannot track agents by cgroup: {0}")]
    Tracking(std::io::Error),
    /// The engine's thread could not be started.
    #[error("cannot start the engine thread: {0}")]
    Thread(std::io::Error),
    /// The store could not be opened (see the message for what to do).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused or failed the request.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The engine has stopped: [`Baton::shutdown`](crate::Baton::shutdown) was called.
    #[error("baton has stopped")]
    Stopped,
}

impl Error {
    /// The engine's error, if the engine answered with one.
    pub fn engine(&self) -> Option<&EngineError> {
        match self {
            Error::Engine(err) => Some(err),
            _ => None,
        }
    }
}

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
