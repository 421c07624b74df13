//! `baton serve`: runs the daemon in the foreground.

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt as _};

use super::GlobalArgs;
use crate::StoreError;
use crate::config::{LogFormat, Settings};

/// Options of `baton serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The log format on stderr [default: text, or the config file's].
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Also append the log to this file.
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

/// Resolves the settings, sets up logging and runs the daemon until a signal stops it.
pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    // First, before anything is opened: the daemon holds only what it opens.
    crate::daemon::close_inherited().map_err(|err| anyhow::anyhow!("cannot close inherited descriptors: {err}"))?;
    let settings = Settings::resolve(&global.overrides())?;
    let format = args.log_format.unwrap_or(settings.log.format);
    let log_file = args.log_file.or_else(|| settings.log.file.clone());
    init_tracing(global.verbose, format, log_file.as_deref())?;
    crate::daemon::run(settings).map_err(|err| {
        let damaged = err.chain().any(|cause| {
            let store = cause.downcast_ref::<StoreError>().or_else(|| match cause.downcast_ref::<crate::Error>() {
                Some(crate::Error::Store(store)) => Some(store),
                _ => None,
            });
            matches!(store, Some(StoreError::Damaged { .. }))
        });
        if damaged {
            anyhow::anyhow!("{err:#}. To start over, run `baton store reset`: it keeps the damaged store aside")
        } else {
            err
        }
    })
}

/// The daemon logs at info unless told otherwise.
fn init_tracing(verbose: u8, format: LogFormat, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let writer = match file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|err| anyhow::anyhow!("cannot open the log file {}: {err}", path.display()))?;
            BoxMakeWriter::new(std::io::stderr.and(std::sync::Mutex::new(file)))
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot set up logging: {err}"))
}
