//! The `baton` command line: one file per verb.
//!
//! Every verb but `serve` talks to the daemon over its Unix socket through
//! [`crate::client`], starting the daemon in the background first when none
//! answers (unless `--no-autostart` or `BATON_NO_AUTOSTART` is set). Every
//! verb takes `--json` for machine output and `--socket`. Exit codes: 0 ok,
//! 1 failure, 2 usage, 3 daemon unreachable, 4 not found, 5 conflict or
//! invalid state; errors are one line on stderr.

mod agents;
mod backup;
mod completions;
mod config;
mod context;
mod doctor;
mod events;
mod handoff;
mod hook;
mod inbox;
mod observe;
mod output;
mod queue;
mod serve;
mod session;
mod status;
mod store;
mod values;
mod version;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

use crate::client::ClientError;
use context::Context;

/// baton supervises AI coding-agent sessions.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every verb takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb takes.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// The daemon's socket [default: $XDG_RUNTIME_DIR/baton/baton.sock, else <data dir>/baton.sock].
    #[arg(long, global = true, env = "BATON_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The data dir [default: $XDG_DATA_HOME/baton, else ~/.local/share/baton].
    #[arg(long, global = true, env = "BATON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The config file [default: $XDG_CONFIG_HOME/baton/config.toml].
    #[arg(long, global = true, env = "BATON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not start the daemon when none answers.
    #[arg(long, global = true, env = "BATON_NO_AUTOSTART", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_autostart: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl GlobalArgs {
    /// What the flags and environment say about paths, for [`crate::config::Settings::resolve`].
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            data_dir: self.data_dir.clone(),
            socket: self.socket.clone(),
            config: self.config.clone(),
        }
    }
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the daemon in the foreground.
    Serve(serve::ServeArgs),
    /// Shows the daemon's version, uptime, data dir and counts.
    Status,
    /// Checks the socket, the data dir, the store (every record read back) and
    /// versions, and says what to fix.
    Doctor,
    /// Copies the store, while the daemon runs, into a new directory that
    /// becomes a data dir of its own.
    Backup(backup::BackupArgs),
    /// Works on the store itself, with the daemon stopped.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Opens, lists, shows and closes sessions.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Queues an observation in a session (JSON payload from --data or stdin).
    Observe(observe::ObserveArgs),
    /// Claims, acks, nacks and inspects a session's observations.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Starts an agent process in a session and prints its id.
    Spawn(agents::spawn::SpawnArgs),
    /// Lists agents: state, pid, uptime, restarts, last exit, memory, command.
    Ps(agents::ps::PsArgs),
    /// Stops an agent and everything it started.
    Stop(agents::stop::StopArgs),
    /// Runs again an agent whose run is over.
    Restart(agents::restart::RestartArgs),
    /// Prints what an agent wrote, or follows it.
    Logs(agents::logs::LogsArgs),
    /// Hands work from one agent to another and follows it: create, ack,
    /// start, complete, fail, cancel, list, show.
    #[command(subcommand)]
    Handoff(handoff::HandoffCommand),
    /// Shows what waits for an agent: handoffs to acknowledge, observations to process.
    Inbox(inbox::InboxArgs),
    /// Claude Code's hook: reads one hook event on stdin and records it (always exits 0).
    Hook(hook::HookArgs),
    /// Lists stored events, or follows them live.
    Events(events::EventsArgs),
    /// Prints a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Checks a config file without starting anything.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Shows this CLI's version and the running daemon's (starts none).
    Version,
}

/// Parses the command line, runs the verb, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("baton: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Prints what clap found wrong with the command line as the contract's one
/// line, `baton: ...`, with clap's hints (usage, tips) on the lines after it;
/// exit 2. Help and version (and the help shown for a missing subcommand)
/// are printed as clap prints them.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !err.use_stderr() || err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        err.exit();
    }
    let rendered = err.render().to_string();
    let text = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    // clap's message is its first paragraph; lines indented under it list
    // what it names (missing arguments, possible values).
    let mut paragraphs = text.split("\n\n").filter(|paragraph| !paragraph.trim().is_empty());
    let message = paragraphs.next().unwrap_or_default();
    let mut lines = message.lines().map(str::trim);
    let mut line = lines.next().unwrap_or_default().to_owned();
    let listed: Vec<&str> = lines.filter(|line| !line.is_empty()).collect();
    if !listed.is_empty() {
        let separator = if line.ends_with(':') { ", " } else { " " };
        line = format!("{line} {}", listed.join(separator));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "baton: {line}");
    for hint in paragraphs.flat_map(str::lines).map(str::trim).filter(|hint| !hint.is_empty()) {
        let _ = writeln!(stderr, "{hint}");
    }
    ExitCode::from(2)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    match command {
        Command::Serve(args) => serve::run(&global, args),
        Command::Completions(args) => completions::run(&args),
        Command::Store(command) => store::run(&global, command),
        Command::Config(command) => config::run(&global, command),
        Command::Hook(args) => {
            init_tracing(global.verbose);
            hook::run(&global, args)
        }
        command => {
            init_tracing(global.verbose);
            // A doctor reports a refused config file as one failed check among the others.
            let (context, config_problem) = match command {
                Command::Doctor => {
                    let (settings, problem) = crate::config::Settings::resolve_despite_config(&global.overrides())?;
                    (Context::with(&global, settings)?, problem)
                }
                _ => (Context::new(&global)?, None),
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let result = match command {
                    Command::Status => status::run(&context).await,
                    Command::Doctor => doctor::run(&context, config_problem).await,
                    Command::Backup(args) => backup::run(&context, args).await,
                    Command::Session(command) => session::run(&context, command).await,
                    Command::Observe(args) => observe::run(&context, args).await,
                    Command::Queue(command) => queue::run(&context, command).await,
                    Command::Events(args) => events::run(&context, args).await,
                    Command::Spawn(args) => agents::spawn::run(&context, args).await,
                    Command::Ps(args) => agents::ps::run(&context, args).await,
                    Command::Stop(args) => agents::stop::run(&context, args).await,
                    Command::Restart(args) => agents::restart::run(&context, args).await,
                    Command::Logs(args) => agents::logs::run(&context, args).await,
                    Command::Handoff(command) => handoff::run(&context, command).await,
                    Command::Inbox(args) => inbox::run(&context, args).await,
                    Command::Version => version::run(&context).await,
                    Command::Serve(_)
                    | Command::Completions(_)
                    | Command::Config(_)
                    | Command::Hook(_)
                    | Command::Store(_) => {
                        unreachable!("handled above")
                    }
                };
                if let Some(daemon) = context.client.daemon_version() {
                    warn_on_version_mismatch(&daemon);
                }
                result
            })
        }
    }
}

/// Warns on stderr when the daemon runs another version than this CLI.
fn warn_on_version_mismatch(daemon: &str) {
    let cli = env!("CARGO_PKG_VERSION");
    if daemon != cli {
        eprintln!(
            "baton: warning: the daemon runs version {daemon}, this CLI is {cli}; restart the daemon to upgrade it"
        );
    }
}

/// A command line that clap accepted but that makes no sense where it runs,
/// such as a malformed `$BATON_AGENT_ID`: a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error: 2 for a usage error (a config file refused
/// among them), the client's code where the daemon answered or could not be
/// reached, else 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<UsageError>() || cause.is::<crate::config::ConfigFileError>()) {
        return 2;
    }
    err.chain().find_map(|cause| cause.downcast_ref::<ClientError>()).map_or(1, ClientError::exit_code)
}

/// Whether the error is a write to a closed pipe (`baton ps | head`): the
/// reader has what it wanted, so the command stops quietly, with success.
/// Every verb writes through fallible writes whose errors end up here; a
/// serde_json error keeps the I/O error it wraps out of the chain, so it is
/// asked for its kind.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = match cause.downcast_ref::<std::io::Error>() {
            Some(err) => Some(err.kind()),
            None => cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Logging for client verbs: warnings on stderr, more with `-v`.
fn init_tracing(verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level(verbose)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn level(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}
