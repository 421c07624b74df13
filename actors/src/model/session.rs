//! The session record: one per coding-agent session, durable across restarts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lifecycle::{InvalidTransition, Lifecycle, state_names};
use super::{HandoffTarget, SessionId};

/// Where a session is in its life.
///
/// ```text
/// active <-> idle
///   |         |
///   +-> closing -> closed
/// any non-terminal state -> failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// In use: its actor runs and answers.
    Active,
    /// Nothing happened for a while: its actor was stopped to free memory, and the
    /// next message for the session starts it again from its record.
    Idle,
    /// Asked to close, still finishing what it holds (draining its queue).
    Closing,
    /// Closed for good; the record stays for inspection.
    Closed,
    /// Its actor crashed more often than the restart limit allows; `reason` says how.
    Failed,
}

state_names!(SessionState {
    Active => "active",
    Idle => "idle",
    Closing => "closing",
    Closed => "closed",
    Failed => "failed",
});

impl Lifecycle for SessionState {
    const ORDER: &'static [Self] = Self::ALL;

    const ENTITY: &'static str = "session";

    fn allows(self, next: Self) -> bool {
        use SessionState::*;
        matches!(
            (self, next),
            (Active, Idle)
                | (Idle, Active)
                | (Active | Idle, Closing)
                | (Closing, Closed)
                | (Active | Idle | Closing, Failed)
        )
    }

    fn is_terminal(self) -> bool {
        matches!(self, SessionState::Closed | SessionState::Failed)
    }
}

/// What closing a session does with the observations still in its queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CloseMode {
    /// Keep them: the session stays `closing` until consumers have acked every
    /// pending and leased one, then closes. Nothing acknowledged is lost.
    #[default]
    Drain,
    /// Drop them and close at once.
    Discard,
}

/// What a caller asks for when opening a session.
///
/// Opening is idempotent by [`external_id`](Self::external_id): a second open with
/// the same external id returns the first session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OpenSession {
    /// A name for people: shown by `baton session list`.
    pub name: Option<String>,
    /// The id another system knows the session by, such as Claude Code's
    /// `session_id`; it makes opening idempotent.
    pub external_id: Option<String>,
    /// The directory the session works in, for the agents it spawns.
    pub cwd: Option<PathBuf>,
    /// Free-form labels (`--meta K=V`), such as a transcript path.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Closes the session once it has been open this long, whatever it is doing.
    #[serde(default, with = "crate::model::duration_ms::option")]
    pub max_lifetime: Option<Duration>,
    /// Where the open handoffs of an agent that stops for good go.
    #[serde(default)]
    pub fallback: Option<HandoffTarget>,
}

impl OpenSession {
    /// A session with a name for people and nothing else set.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: Some(name.into()), ..Self::default() }
    }

    /// A session known to another system by `external_id` (idempotent open).
    pub fn external(external_id: impl Into<String>) -> Self {
        Self { external_id: Some(external_id.into()), ..Self::default() }
    }

    /// Sets the external id, which makes opening idempotent.
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the working directory.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Adds one metadata label.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    /// Sets the maximum lifetime, after which the watchdog closes the session.
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = Some(max_lifetime);
        self
    }

    /// Sends the open handoffs of an agent that stops for good to `fallback`.
    pub fn with_fallback(mut self, fallback: HandoffTarget) -> Self {
        self.fallback = Some(fallback);
        self
    }
}

/// The durable record of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Session {
    /// baton's own id for the session.
    pub id: SessionId,
    /// A name for people.
    pub name: Option<String>,
    /// The id another system knows this session by (unique among sessions).
    pub external_id: Option<String>,
    /// The directory the session works in.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cwd: Option<PathBuf>,
    /// Free-form labels given at open.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Where the session is in its life.
    pub state: SessionState,
    /// Why it entered its current state, when that is worth telling
    /// (closed by request, max lifetime reached, restart limit passed).
    pub reason: Option<String>,
    /// The reason its close gave (a user's, or the max lifetime), kept while
    /// it drains its queue so that the closed record still says why it closed.
    #[serde(default)]
    pub close_reason: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When its record last changed.
    pub updated_at: DateTime<Utc>,
    /// When it last saw activity; the watchdog marks it idle after a quiet spell.
    pub last_active_at: DateTime<Utc>,
    /// When it reached `closed` or `failed`.
    pub ended_at: Option<DateTime<Utc>>,
    /// The watchdog closes it once it has been open this long (milliseconds).
    #[serde(default, with = "crate::model::duration_ms::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub max_lifetime: Option<Duration>,
    /// How many times its actor was restarted after a crash, over its whole life.
    pub restarts: u32,
    /// Where the open handoffs of an agent that stops for good go: to this
    /// agent or role. Without one, they go back to be routed anew.
    #[serde(default)]
    pub fallback: Option<HandoffTarget>,
}

impl Session {
    /// A new active session as `spec` describes it, opened at `now`.
    pub fn open(spec: OpenSession, now: DateTime<Utc>) -> Self {
        Self {
            id: SessionId::new(),
            name: spec.name,
            external_id: spec.external_id,
            cwd: spec.cwd,
            meta: spec.meta,
            state: SessionState::Active,
            reason: None,
            close_reason: None,
            created_at: now,
            updated_at: now,
            last_active_at: now,
            ended_at: None,
            max_lifetime: spec.max_lifetime,
            restarts: 0,
            fallback: spec.fallback,
        }
    }

    /// Moves the session to `next`, recording why; returns the state it left.
    /// An invalid change is refused and leaves the record as it was.
    pub fn transition(
        &mut self,
        next: SessionState,
        now: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<SessionState, InvalidTransition> {
        let from = self.state;
        self.state = from.transition(next).map_err(|refused| refused.of(self.id))?;
        self.reason = reason;
        self.updated_at = now;
        if next.is_terminal() {
            self.ended_at = Some(now);
        }
        Ok(from)
    }

    /// Records activity at `now`; an idle session becomes active again.
    /// Returns the state it left when that changed.
    pub fn record_activity(&mut self, now: DateTime<Utc>) -> Option<SessionState> {
        self.last_active_at = self.last_active_at.max(now);
        self.updated_at = now;
        if self.state == SessionState::Idle { self.transition(SessionState::Active, now, None).ok() } else { None }
    }

    /// Whether the session may still change (it is neither closed nor failed).
    pub fn is_open(&self) -> bool {
        !self.state.is_terminal()
    }

    /// Whether its maximum lifetime has run out at `now`.
    pub fn lifetime_expired(&self, now: DateTime<Utc>) -> bool {
        self.max_lifetime.is_some_and(|max| elapsed(self.created_at, now) >= max)
    }

    /// Whether it has been quiet for at least `idle_after` at `now`.
    pub fn quiet_for(&self, idle_after: Duration, now: DateTime<Utc>) -> bool {
        elapsed(self.last_active_at, now) >= idle_after
    }
}

/// Time from `earlier` to `later`, zero when the clock went backwards.
pub(crate) fn elapsed(earlier: DateTime<Utc>, later: DateTime<Utc>) -> Duration {
    (later - earlier).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lifecycle::assert_edges;
    use SessionState::*;

    #[test]
    fn session_lifecycle_allows_exactly_its_edges() {
        assert_edges(
            SessionState::ALL,
            &[
                (Active, Idle),
                (Idle, Active),
                (Active, Closing),
                (Idle, Closing),
                (Closing, Closed),
                (Active, Failed),
                (Idle, Failed),
                (Closing, Failed),
            ],
        );
    }

    #[test]
    fn a_refused_transition_leaves_the_record_unchanged() {
        let now = Utc::now();
        let mut session = Session::open(OpenSession::named("s"), now);
        session.transition(Closing, now, None).unwrap();
        session.transition(Closed, now, Some("done".into())).unwrap();
        let before = session.clone();
        let err = session.transition(Active, now, None).unwrap_err();
        assert_eq!(err.to_string(), format!("session {} is already closed", session.id));
        assert_eq!(session, before);
    }

    #[test]
    fn activity_wakes_an_idle_session() {
        let now = Utc::now();
        let mut session = Session::open(OpenSession::default(), now);
        session.transition(Idle, now, None).unwrap();
        assert_eq!(session.record_activity(now), Some(Idle));
        assert_eq!(session.state, Active);
        assert_eq!(session.record_activity(now), None);
    }

    #[test]
    fn lifetime_and_quiet_spells_are_measured_from_the_record() {
        let t0 = Utc::now();
        let session = Session::open(OpenSession::default().with_max_lifetime(Duration::from_secs(60)), t0);
        assert!(!session.lifetime_expired(t0 + chrono::Duration::seconds(59)));
        assert!(session.lifetime_expired(t0 + chrono::Duration::seconds(60)));
        assert!(session.quiet_for(Duration::from_secs(5), t0 + chrono::Duration::seconds(5)));
        assert!(!session.quiet_for(Duration::from_secs(5), t0 - chrono::Duration::seconds(5)));
    }

    #[test]
    fn state_names_parse_back() {
        for &state in SessionState::ALL {
            assert_eq!(state.as_str().parse::<SessionState>().unwrap(), state);
        }
        assert_eq!(
            "open".parse::<SessionState>().unwrap_err().to_string(),
            "\"open\" is not a session state (one of: active, idle, closing, closed, failed)"
        );
    }
}
