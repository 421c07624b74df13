//! The agent record: one supervised OS process, such as a coding agent a session
//! spawned, and the runs it is given after it ends.
//!
//! The record is what survives a restart of baton: it says what to run, how to
//! restart it, and which process (pid and start time) the last run was, so a
//! supervisor that comes back can tell whether that process still lives.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AgentId, InvalidTransition, Lifecycle, SessionId, duration_ms, state_names};
use crate::supervision::{Backoff, RestartIntensity};

/// Where an agent is in its life.
///
/// ```text
/// queued   -> starting | stopped
/// starting -> running | backoff | failed | stopping
/// running  -> stopping | exited | backoff | failed
/// stopping -> stopped | timed_out | backoff | failed
/// backoff  -> starting | stopped
/// exited | failed | timed_out | stopped -> queued   (`baton restart`)
/// ```
///
/// No state is terminal: a manual restart queues an ended agent again. Use
/// [`is_ended`](Self::is_ended) to ask whether a run is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Waiting for the supervisor to spawn its process.
    Queued,
    /// Its process is being spawned.
    Starting,
    /// Its process runs; `pid` says which one.
    Running,
    /// Its process ended or could not start, and its restart policy asks for
    /// another run: it waits out the restart delay before starting again.
    Backoff,
    /// Asked to stop: it was sent SIGTERM and has a grace period to exit.
    Stopping,
    /// Its process exited on its own and its policy does not run it again;
    /// `last_exit` says how it exited.
    Exited,
    /// baton gave up on it: it could not be spawned, could not be stopped, or
    /// crashed more often than its restarts allow; `reason` says why.
    Failed,
    /// A time limit stopped it: its max runtime, or its stale limit (no
    /// output for that long); `reason` says which.
    TimedOut,
    /// A resource limit stopped it: its max RSS or its max CPU time;
    /// `reason` says which.
    Killed,
    /// Stopped on request, before it ran, while it waited to restart, or once
    /// it exited after being asked to.
    Stopped,
}

state_names!(AgentState {
    Queued => "queued",
    Starting => "starting",
    Running => "running",
    Backoff => "backoff",
    Stopping => "stopping",
    Exited => "exited",
    Failed => "failed",
    TimedOut => "timed_out",
    Killed => "killed",
    Stopped => "stopped",
});

impl Lifecycle for AgentState {
    const ORDER: &'static [Self] = Self::ALL;

    const ENTITY: &'static str = "agent";

    fn allows(self, next: Self) -> bool {
        use AgentState::*;
        matches!(
            (self, next),
            (Queued, Starting | Stopped)
                | (Starting, Running | Backoff | Failed | Stopping)
                | (Running, Stopping | Exited | Backoff | Failed)
                | (Stopping, Stopped | TimedOut | Killed | Backoff | Failed)
                | (Backoff, Starting | Stopped)
                | (Exited | Failed | TimedOut | Killed | Stopped, Queued)
        )
    }

    fn is_terminal(self) -> bool {
        // Every ended state can be queued again by `baton restart`.
        false
    }
}

impl AgentState {
    /// Whether its run is over (exited, failed, timed out, killed or stopped):
    /// nothing more happens to it unless someone restarts it by hand.
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            AgentState::Exited | AgentState::Failed | AgentState::TimedOut | AgentState::Killed | AgentState::Stopped
        )
    }

    /// Whether a process of its exists or is being spawned (starting, running or
    /// stopping), so there is, or is about to be, a pid to watch and signal.
    pub fn is_live(self) -> bool {
        matches!(self, AgentState::Starting | AgentState::Running | AgentState::Stopping)
    }
}

/// What happens to an agent's process when baton shuts down cleanly (a crash
/// of baton leaves every agent running, to be adopted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum ShutdownPolicy {
    /// It keeps running; the next baton on the same data dir adopts it.
    #[default]
    Keep,
    /// It is stopped (SIGTERM, grace, SIGKILL) before baton exits.
    Stop,
}

impl ShutdownPolicy {
    /// The kebab-case name used on the wire, in the config file and by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownPolicy::Keep => "keep",
            ShutdownPolicy::Stop => "stop",
        }
    }
}

/// Read by its name, refused with [`FromStr`]'s message (in a request body too).
impl TryFrom<String> for ShutdownPolicy {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl FromStr for ShutdownPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keep" => Ok(ShutdownPolicy::Keep),
            "stop" => Ok(ShutdownPolicy::Stop),
            _ => Err(format!("{s:?} is not a shutdown policy (expected keep or stop)")),
        }
    }
}

/// What a new baton (after a crash or a restart of the daemon) does with an
/// agent's process that it finds still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum AdoptPolicy {
    /// Adopts it: watches it until it exits, tails its logs, enforces its limits.
    #[default]
    Adopt,
    /// Stops it and runs the agent afresh (for an agent that needs what only
    /// a fresh run has, such as its stdin pipe). Counts as a restart.
    Restart,
}

impl AdoptPolicy {
    /// The kebab-case name used on the wire, in the config file and by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AdoptPolicy::Adopt => "adopt",
            AdoptPolicy::Restart => "restart",
        }
    }
}

/// Read by its name, refused with [`FromStr`]'s message (in a request body too).
impl TryFrom<String> for AdoptPolicy {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl FromStr for AdoptPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "adopt" => Ok(AdoptPolicy::Adopt),
            "restart" => Ok(AdoptPolicy::Restart),
            _ => Err(format!("{s:?} is not an adoption policy (expected adopt or restart)")),
        }
    }
}

/// When the supervisor runs an agent's process again after it exits on its own.
///
/// A stop asked for by a user is never undone by the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum RestartPolicy {
    /// Never: one run only.
    #[default]
    Never,
    /// When it exited without success (a non-zero code or a signal).
    OnFailure,
    /// Whenever it exits, successfully or not.
    Always,
}

impl RestartPolicy {
    /// Every policy.
    pub const ALL: &'static [RestartPolicy] = &[RestartPolicy::Never, RestartPolicy::OnFailure, RestartPolicy::Always];

    /// The kebab-case name used on the wire and by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Never => "never",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }

    /// Whether a run should be run again: one that ended with `exit` (`None`
    /// when its status is unknown, as for a process that ended while baton
    /// was away), or that a limit stopped (`limit_passed`). Anything but
    /// exit code 0 is a failure.
    pub fn should_restart(self, exit: Option<&ExitStatus>, limit_passed: bool) -> bool {
        match self {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => limit_passed || exit.is_none_or(|exit| !exit.success()),
            RestartPolicy::Always => true,
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read by its name, refused with [`FromStr`]'s message (in a request body too).
impl TryFrom<String> for RestartPolicy {
    type Error = UnknownRestartPolicy;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl FromStr for RestartPolicy {
    type Err = UnknownRestartPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RestartPolicy::ALL
            .iter()
            .copied()
            .find(|policy| policy.as_str() == s)
            .ok_or_else(|| UnknownRestartPolicy { given: s.to_owned() })
    }
}

/// A restart policy name that no policy has (from a CLI flag or a request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a restart policy (expected never, on-failure or always)")]
pub struct UnknownRestartPolicy {
    /// The name as given.
    pub given: String,
}

/// How a process ended, kept so people and the restart policy can tell a clean
/// exit from a crash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExitStatus {
    /// The code it passed to `exit`, when it exited rather than being killed.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// A process that exited with `code`.
    pub fn exited(code: i32) -> Self {
        Self { code: Some(code), signal: None }
    }

    /// A process that `signal` killed.
    pub fn killed(signal: i32) -> Self {
        Self { code: None, signal: Some(signal) }
    }

    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (_, Some(signal)) => write!(f, "killed by signal {signal}"),
            (Some(code), None) => write!(f, "exit code {code}"),
            (None, None) => f.write_str("unknown exit status"),
        }
    }
}

impl From<std::process::ExitStatus> for ExitStatus {
    fn from(status: std::process::ExitStatus) -> Self {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        Self { code: status.code(), signal }
    }
}

/// The watchdog limits of an agent's runs, checked on watchdog ticks. A run
/// that passes one is stopped, the limit is recorded as the reason, and its
/// restart policy applies as to a failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentLimits {
    /// The longest a run may last.
    #[serde(with = "duration_ms::option")]
    pub max_runtime: Option<Duration>,
    /// The longest a run may go without writing to stdout or stderr.
    #[serde(with = "duration_ms::option")]
    pub stale_after: Option<Duration>,
    /// The most resident memory, in bytes, of all its processes together.
    pub max_rss_bytes: Option<u64>,
    /// The most CPU time of all its processes together.
    #[serde(with = "duration_ms::option")]
    pub max_cpu_time: Option<Duration>,
}

/// How soon, and how often, an agent's restart policy runs it again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartSchedule {
    /// At most this many restarts within a window; one more and it is `failed`.
    pub intensity: RestartIntensity,
    /// The wait before each restart in the window (the first is immediate).
    pub backoff: Backoff,
    /// A random share (0 to 1) of each wait added to it, so agents that
    /// failed together do not all restart together.
    pub jitter: f64,
    /// A run that lasts this long forgets earlier restarts: the backoff and
    /// the restart count start afresh.
    #[serde(with = "duration_ms")]
    pub stable_after: Duration,
}

impl Default for RestartSchedule {
    /// 5 restarts in 60 s; 1 s doubling to 60 s, with 10% jitter; stable after 60 s.
    fn default() -> Self {
        Self {
            intensity: RestartIntensity { max_restarts: 5, within: Duration::from_secs(60) },
            backoff: Backoff { initial: Duration::from_secs(1), factor: 2.0, max: Duration::from_secs(60) },
            jitter: 0.1,
            stable_after: Duration::from_secs(60),
        }
    }
}

/// How an agent runs: its command, where, with what environment, when it is
/// run again, its limits, and what baton's shutdown and restart do to it.
/// Every agent's record holds one, and a role's template
/// ([`RoleTemplate`](crate::RoleTemplate)) is one, from which agents of the
/// role are made.
///
/// Its `Debug` shows the names of its environment variables but not their
/// values, which often hold tokens.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentSpec {
    /// The program and its arguments, run again as they are on each restart
    /// (`command` in a role's template).
    #[serde(alias = "command")]
    pub argv: Vec<String>,
    /// The directory to run it in; the supervisor's own when none.
    pub cwd: Option<PathBuf>,
    /// The variables the caller set explicitly, added to the inherited
    /// environment on every run.
    pub env: BTreeMap<String, String>,
    /// Names of the supervisor's own environment variables it may inherit,
    /// besides the standard ones (PATH, HOME, ...).
    pub inherit_env: Vec<String>,
    /// Whether it is run again after it exits on its own.
    pub restart: RestartPolicy,
    /// How soon and how often the restart policy runs it again.
    pub schedule: RestartSchedule,
    /// The watchdog limits of each run.
    pub limits: AgentLimits,
    /// Whether its stdin is a pipe that baton writes the handoffs routed to it
    /// and its session's new observations to, as JSON lines (else
    /// `/dev/null`). The pipe does not survive a restart of baton.
    pub stdin_pipe: bool,
    /// How much it matters when memory runs short: past the agents' memory
    /// budget, the lowest-priority agents are stopped first. Default 0.
    pub priority: i32,
    /// Whether a clean shutdown of baton stops it or leaves it running.
    pub on_shutdown: ShutdownPolicy,
    /// Whether a new baton adopts its process, found still running, or
    /// replaces it with a fresh run.
    pub on_adopt: AdoptPolicy,
}

impl AgentSpec {
    /// A spec that runs `argv`, with everything else at its default.
    pub fn new(argv: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self { argv: argv.into_iter().map(Into::into).collect(), ..Self::default() }
    }

    /// A queued agent of `role` in `session` that runs as this says.
    pub fn agent(&self, role: &str, session: SessionId, now: DateTime<Utc>) -> Agent {
        let mut agent = Agent::queued(session, Vec::new(), now).with_role(role);
        agent.spec = self.clone();
        agent
    }
}

impl fmt::Debug for AgentSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSpec")
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field("env", &RedactedValues(&self.env))
            .field("inherit_env", &self.inherit_env)
            .field("restart", &self.restart)
            .field("schedule", &self.schedule)
            .field("limits", &self.limits)
            .field("stdin_pipe", &self.stdin_pipe)
            .field("priority", &self.priority)
            .field("on_shutdown", &self.on_shutdown)
            .field("on_adopt", &self.on_adopt)
            .finish()
    }
}

/// The durable record of an agent.
///
/// Its `Debug` shows the names of its environment variables but not their
/// values, which often hold tokens.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Agent {
    /// baton's own id for the agent, kept across its restarts.
    pub id: AgentId,
    /// The session that spawned it; closing the session stops it.
    pub session: SessionId,
    /// What it does in the session (such as `reviewer`), so handoffs addressed
    /// to a role can be routed to it.
    pub role: Option<String>,
    /// How it runs: its command, directory, environment, restart policy,
    /// limits and policies.
    #[serde(flatten)]
    pub spec: AgentSpec,
    /// Where it is in its life.
    pub state: AgentState,
    /// Why it entered its current state, when that is worth telling
    /// (stopped by request, spawn failed, restart limit passed).
    pub reason: Option<String>,
    /// The pid of its current or last process, to watch and signal it.
    pub pid: Option<u32>,
    /// When that process started, in clock ticks since boot (from
    /// `/proc/<pid>/stat`): a pid reused by another process has another start
    /// time, so baton never signals a stranger.
    pub pid_start_time: Option<u64>,
    /// The cgroup its processes run in, when its engine gives each agent one
    /// (see `process::Tracking`): a restarted baton finds them there again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
    /// How many times its restart policy ran it again, over its whole life.
    pub restarts: u32,
    /// How its last process ended, for people and for the restart policy.
    pub last_exit: Option<ExitStatus>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its record last changed.
    pub updated_at: DateTime<Utc>,
    /// When it last entered `running`, to tell how long its current run has lasted.
    pub started_at: Option<DateTime<Utc>>,
    /// When its last run ended (it entered exited, failed, timed_out or
    /// stopped); cleared when it is queued again.
    pub ended_at: Option<DateTime<Utc>>,
}

impl Agent {
    /// A new agent of `session` that runs `argv`, queued at `now`, with no role,
    /// no working directory, no extra environment and no restarts.
    pub fn queued(session: SessionId, argv: Vec<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: AgentId::new(),
            session,
            role: None,
            spec: AgentSpec { argv, ..AgentSpec::default() },
            state: AgentState::Queued,
            reason: None,
            pid: None,
            pid_start_time: None,
            cgroup: None,
            restarts: 0,
            last_exit: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
        }
    }

    /// Every process of its current or last run, as its record names them:
    /// its process session (while that is still the run's: the leader lives,
    /// or its pid went to nobody else), its cgroup when it has one, and its id
    /// in their environments. None when no run started.
    pub fn process_tree(&self) -> Option<crate::process::AgentTree> {
        let identity = crate::process::ProcessIdentity { pid: self.pid?, start_time: self.pid_start_time? };
        Some(crate::process::AgentTree {
            sid: identity.sid_is_ours().then_some(identity.pid),
            agent: self.id.to_string(),
            cgroup: self.cgroup.clone().map(crate::process::AgentCgroup::at),
        })
    }

    /// Sets its role, for routing handoffs.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Sets the directory it runs in.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.spec.cwd = Some(cwd.into());
        self
    }

    /// Adds one environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.spec.env.insert(key.into(), value.into());
        self
    }

    /// Sets its restart policy.
    pub fn with_restart(mut self, restart: RestartPolicy) -> Self {
        self.spec.restart = restart;
        self
    }

    /// Sets how soon and how often its policy restarts it.
    pub fn with_schedule(mut self, schedule: RestartSchedule) -> Self {
        self.spec.schedule = schedule;
        self
    }

    /// Sets the watchdog limits of its runs.
    pub fn with_limits(mut self, limits: AgentLimits) -> Self {
        self.spec.limits = limits;
        self
    }

    /// Gives it a stdin pipe that handoffs and observations are written to.
    pub fn with_stdin_pipe(mut self) -> Self {
        self.spec.stdin_pipe = true;
        self
    }

    /// Lets it inherit the supervisor's variable `name` too.
    pub fn inheriting(mut self, name: impl Into<String>) -> Self {
        self.spec.inherit_env.push(name.into());
        self
    }

    /// Moves the agent to `next`, recording why; returns the state it left.
    /// An invalid change is refused and leaves the record as it was.
    pub fn transition(
        &mut self,
        next: AgentState,
        now: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<AgentState, InvalidTransition> {
        let from = self.state;
        self.state = from.transition(next).map_err(|refused| refused.of(self.id))?;
        self.reason = reason;
        self.updated_at = now;
        if next == AgentState::Running {
            self.started_at = Some(now);
        }
        if next.is_ended() {
            self.ended_at = Some(now);
        } else if next == AgentState::Queued {
            self.ended_at = None;
        }
        Ok(from)
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("session", &self.session)
            .field("role", &self.role)
            .field("spec", &self.spec)
            .field("state", &self.state)
            .field("reason", &self.reason)
            .field("pid", &self.pid)
            .field("pid_start_time", &self.pid_start_time)
            .field("restarts", &self.restarts)
            .field("last_exit", &self.last_exit)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("started_at", &self.started_at)
            .field("ended_at", &self.ended_at)
            .finish()
    }
}

/// A map shown by its keys only, each value replaced by `<redacted>`.
struct RedactedValues<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for RedactedValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.keys().map(|key| (key, Redacted))).finish()
    }
}

/// Stands in for a value that must stay out of logs.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assert_edges;
    use AgentState::*;

    fn agent(now: DateTime<Utc>) -> Agent {
        Agent::queued(SessionId::new(), vec!["claude".into(), "--print".into()], now)
    }

    #[test]
    fn agent_lifecycle_allows_exactly_its_edges() {
        assert_edges(
            AgentState::ALL,
            &[
                (Queued, Starting),
                (Queued, Stopped),
                (Starting, Running),
                (Starting, Backoff),
                (Starting, Failed),
                (Starting, Stopping),
                (Running, Stopping),
                (Running, Exited),
                (Running, Backoff),
                (Running, Failed),
                (Stopping, Stopped),
                (Stopping, TimedOut),
                (Stopping, Killed),
                (Stopping, Backoff),
                (Stopping, Failed),
                (Backoff, Starting),
                (Backoff, Stopped),
                (Exited, Queued),
                (Failed, Queued),
                (TimedOut, Queued),
                (Killed, Queued),
                (Stopped, Queued),
            ],
        );
    }

    #[test]
    fn ended_and_live_states_are_disjoint() {
        let ended: Vec<_> = AgentState::ALL.iter().filter(|s| s.is_ended()).copied().collect();
        let live: Vec<_> = AgentState::ALL.iter().filter(|s| s.is_live()).copied().collect();
        assert_eq!(ended, [Exited, Failed, TimedOut, Killed, Stopped]);
        assert_eq!(live, [Starting, Running, Stopping]);
    }

    #[test]
    fn a_refused_transition_leaves_the_record_unchanged() {
        let now = Utc::now();
        let mut agent = agent(now);
        let before = agent.clone();
        let later = now + chrono::Duration::seconds(1);
        let err = agent.transition(Running, later, Some("skip".into())).unwrap_err();
        assert_eq!(err.to_string(), format!("agent {} is queued and cannot become running", agent.id));
        assert_eq!(agent, before);
    }

    #[test]
    fn a_run_records_its_start_and_end_and_a_restart_clears_the_end() {
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(1);
        let t2 = t0 + chrono::Duration::seconds(2);
        let mut agent = agent(t0);
        agent.transition(Starting, t0, None).unwrap();
        agent.transition(Running, t1, None).unwrap();
        assert_eq!(agent.started_at, Some(t1));
        assert_eq!(agent.ended_at, None);
        assert_eq!(agent.transition(Exited, t2, None).unwrap(), Running);
        assert_eq!(agent.ended_at, Some(t2));
        assert_eq!(agent.updated_at, t2);
        agent.transition(Queued, t2, Some("baton restart".into())).unwrap();
        assert_eq!(agent.ended_at, None);
        assert_eq!(agent.reason.as_deref(), Some("baton restart"));
    }

    #[test]
    fn restart_policies_decide_by_how_a_run_ended() {
        let clean = ExitStatus::exited(0);
        let crash = ExitStatus::exited(3);
        let killed = ExitStatus::killed(9);
        assert!(!RestartPolicy::Never.should_restart(Some(&crash), false));
        assert!(!RestartPolicy::Never.should_restart(Some(&clean), true));
        assert!(!RestartPolicy::OnFailure.should_restart(Some(&clean), false));
        assert!(RestartPolicy::OnFailure.should_restart(Some(&crash), false));
        assert!(RestartPolicy::OnFailure.should_restart(Some(&killed), false));
        assert!(RestartPolicy::OnFailure.should_restart(None, false), "an unknown exit is a failure");
        assert!(RestartPolicy::OnFailure.should_restart(Some(&clean), true), "so is a passed limit");
        assert!(RestartPolicy::Always.should_restart(Some(&clean), false));
        assert_eq!(RestartPolicy::default(), RestartPolicy::Never);
    }

    #[test]
    fn restart_policy_names_parse_back() {
        for &policy in RestartPolicy::ALL {
            assert_eq!(policy.to_string().parse::<RestartPolicy>().unwrap(), policy);
            assert_eq!(serde_json::to_value(policy).unwrap(), policy.as_str());
        }
        assert_eq!(
            "on_failure".parse::<RestartPolicy>().unwrap_err().to_string(),
            "\"on_failure\" is not a restart policy (expected never, on-failure or always)"
        );
    }

    #[test]
    fn exit_statuses_read_as_people_expect() {
        assert_eq!(ExitStatus::exited(3).to_string(), "exit code 3");
        assert_eq!(ExitStatus::killed(9).to_string(), "killed by signal 9");
        assert!(ExitStatus::exited(0).success());
        assert!(!ExitStatus::killed(15).success());
    }

    #[test]
    fn agents_serialize_with_their_wire_names_and_parse_back() {
        let now = Utc::now();
        let mut agent = agent(now).with_role("reviewer").with_restart(RestartPolicy::OnFailure);
        agent.last_exit = Some(ExitStatus::killed(9));
        agent.state = TimedOut;
        let json = serde_json::to_value(&agent).unwrap();
        assert_eq!(json["state"], "timed_out");
        assert_eq!(json["restart"], "on-failure");
        assert_eq!(json["last_exit"], serde_json::json!({"code": null, "signal": 9}));
        assert_eq!(serde_json::from_value::<Agent>(json).unwrap(), agent);
        for &state in AgentState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(state.as_str().parse::<AgentState>().unwrap(), state);
        }
    }

    #[test]
    fn debug_hides_environment_values() {
        let agent = agent(Utc::now()).with_env("API_TOKEN", "sk-very-secret");
        let shown = format!("{agent:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("API_TOKEN"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("claude"), "{shown}");
    }
}
