//! The observation record: an event an editor hook posted (a tool use, a
//! prompt), queued durably per session until a consumer has processed it.
//!
//! Hooks must return at once, and the consumer that digests their events may be
//! slow, down or crash halfway; so each event is stored first and then handed out
//! under a lease, at least once, until a consumer acks it or it has failed too
//! often and is set aside.

use std::fmt;
use std::io;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::payload::{self, InvalidPayload, MAX_PAYLOAD_DEPTH};
use super::{InvalidTransition, Lifecycle, SessionId, state_names};

/// What an observation reports, so consumers can pick the ones they handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    /// The agent used a tool (Claude Code's `PostToolUse` hook, say).
    ToolUse,
    /// The user sent a prompt.
    Prompt,
    /// The editor notified the user of something.
    Notification,
    /// A request to summarize the session so far, such as at its end.
    Summarize,
    /// Anything else a hook posts; the payload says what.
    #[default]
    Custom,
}

impl ObservationKind {
    /// Every kind.
    pub const ALL: &'static [ObservationKind] = &[
        ObservationKind::ToolUse,
        ObservationKind::Prompt,
        ObservationKind::Notification,
        ObservationKind::Summarize,
        ObservationKind::Custom,
    ];

    /// The snake_case name used on the wire and by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationKind::ToolUse => "tool_use",
            ObservationKind::Prompt => "prompt",
            ObservationKind::Notification => "notification",
            ObservationKind::Summarize => "summarize",
            ObservationKind::Custom => "custom",
        }
    }

    /// Whether it asks for a summary rather than reporting one event.
    pub fn is_summarize(self) -> bool {
        self == ObservationKind::Summarize
    }
}

impl fmt::Display for ObservationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObservationKind {
    type Err = UnknownObservationKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObservationKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownObservationKind { given: s.to_owned() })
    }
}

/// An observation kind name that no kind has (from a CLI flag or a request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not an observation kind \
     (expected tool_use, prompt, notification, summarize or custom)"
)]
pub struct UnknownObservationKind {
    /// The name as given.
    pub given: String,
}

/// Where an observation is in the queue.
///
/// ```text
/// pending -> leased -> acked
///    ^         |
///    +---------+  (nack, or the lease lapsed)
///    |         v
///    +------- dead   (max attempts reached; requeued by hand)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ObservationState {
    /// Waiting for a consumer to claim it (held back until `available_at`, if set).
    Pending,
    /// Claimed by a consumer until its lease runs out.
    Leased,
    /// Processed: the consumer confirmed it. Nothing happens to it any more.
    Acked,
    /// Given up on after too many attempts; kept aside for inspection until
    /// someone requeues it.
    Dead,
}

state_names!(ObservationState {
    Pending => "pending",
    Leased => "leased",
    Acked => "acked",
    Dead => "dead",
});

impl Lifecycle for ObservationState {
    const ORDER: &'static [Self] = Self::ALL;

    const ENTITY: &'static str = "observation";

    fn allows(self, next: Self) -> bool {
        use ObservationState::*;
        matches!((self, next), (Pending, Leased) | (Leased, Pending | Acked | Dead) | (Dead, Pending))
    }

    fn is_terminal(self) -> bool {
        matches!(self, ObservationState::Acked)
    }
}

/// A consumer's claim on an observation, for a limited time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lease {
    /// Who claimed it, so an ack or nack from anyone else can be told apart.
    pub consumer: String,
    /// When the claim lapses: a consumer that crashed holds nothing past this,
    /// and the observation goes back to pending.
    pub until: DateTime<Utc>,
}

impl Lease {
    /// Whether the claim has lapsed at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.until <= now
    }
}

/// An observation as posted, before the queue numbers it.
///
/// Its payload is held as JSON text: the queue stores it as it is, so the
/// work of encoding a payload falls on whoever builds the observation, on
/// their own thread, and none of it on the engine's. A daemon or a program
/// that already holds the JSON (a request body, a hook's stdin) passes it
/// through [`from_json`](Self::from_json), which checks it without building
/// a [`Value`](serde_json::Value).
///
/// A payload that would not read back once stored (see
/// [`payload`](super::payload)) is refused: as text, by `from_json`; as a
/// value, by the engine when the observation is enqueued, with the same
/// [`InvalidPayload`] reason.
///
/// Its `Debug` shows the payload only by its size. It deserializes only
/// from serde_json (its payload is a `RawValue`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "Posted")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct NewObservation {
    /// What it reports; `custom` when not given.
    pub kind: ObservationKind,
    /// What the hook saw, as JSON text, kept as it came (any JSON value).
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    pub(crate) payload: Box<RawValue>,
    /// Why the payload, built from a value, would not read back; the engine
    /// refuses the observation with it.
    #[serde(skip)]
    pub(crate) invalid: Option<InvalidPayload>,
    /// An idempotency key, such as Claude Code's `tool_use_id`: posting the same
    /// key again returns the first sequence number and stores nothing new.
    pub key: Option<String>,
}

impl NewObservation {
    /// An observation of `kind` carrying `payload`, encoded here.
    pub fn new(kind: ObservationKind, payload: serde_json::Value) -> Self {
        Self::encoding(kind, &payload, payload::check_value(&payload).err())
    }

    /// An observation of `kind` whose payload is already JSON text, which
    /// the queue keeps as it is (inner whitespace and all), unless it would
    /// not read back.
    pub fn from_json(kind: ObservationKind, payload: Box<RawValue>) -> Result<Self, InvalidPayload> {
        payload::check_json(payload.get())?;
        Ok(Self { kind, payload, invalid: None, key: None })
    }

    /// A tool use: the tool's name, what it was given and what it answered.
    pub fn tool_use(tool: impl AsRef<str>, input: serde_json::Value, response: serde_json::Value) -> Self {
        /// Claude Code's names for the three, as its `PostToolUse` hook posts them.
        #[derive(Serialize)]
        struct ToolUse<'a> {
            tool_name: &'a str,
            tool_input: &'a serde_json::Value,
            tool_response: &'a serde_json::Value,
        }
        // Its parts sit a level down.
        let invalid = [&input, &response]
            .into_iter()
            .find_map(|part| payload::check_value_within(part, MAX_PAYLOAD_DEPTH - 1).err());
        let payload = ToolUse { tool_name: tool.as_ref(), tool_input: &input, tool_response: &response };
        Self::encoding(ObservationKind::ToolUse, &payload, invalid)
    }

    /// A summarize marker: consumers finish the batch before it, then summarize.
    pub fn summarize(payload: serde_json::Value) -> Self {
        Self::new(ObservationKind::Summarize, payload)
    }

    /// Sets the idempotency key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The payload's JSON text.
    pub fn payload(&self) -> &RawValue {
        &self.payload
    }

    /// The size of the payload's JSON text, which the size limit applies to.
    pub fn payload_size(&self) -> usize {
        self.payload.get().len()
    }

    /// Its kind, payload text and idempotency key.
    pub fn into_parts(self) -> (ObservationKind, Box<RawValue>, Option<String>) {
        (self.kind, self.payload, self.key)
    }

    /// An observation of `kind` carrying `payload`'s JSON encoding, which
    /// cannot fail for what is made of `Value`s and string-keyed structs.
    fn encoding(kind: ObservationKind, payload: &impl Serialize, invalid: Option<InvalidPayload>) -> Self {
        let payload = serde_json::value::to_raw_value(payload).unwrap_or_default();
        Self { kind, payload, invalid, key: None }
    }
}

/// A [`NewObservation`] as it is deserialized, before its payload is checked.
#[derive(Deserialize)]
struct Posted {
    #[serde(default)]
    kind: ObservationKind,
    #[serde(default)]
    payload: Box<RawValue>,
    #[serde(default)]
    key: Option<String>,
}

impl TryFrom<Posted> for NewObservation {
    type Error = InvalidPayload;

    fn try_from(Posted { kind, payload, key }: Posted) -> Result<Self, InvalidPayload> {
        Ok(Self { key, ..Self::from_json(kind, payload)? })
    }
}

impl PartialEq for NewObservation {
    /// The same kind and key, and the same payload text.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.key == other.key && self.payload.get() == other.payload.get()
    }
}

impl fmt::Debug for NewObservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewObservation")
            .field("kind", &self.kind)
            .field("payload", &format_args!("<{} bytes>", self.payload_size()))
            .field("key", &self.key)
            .finish()
    }
}

/// A new observation as its first record holds it: pending, never claimed,
/// its payload the JSON text it was posted with (see [`NewObservation`]).
/// It is stored in the same JSON as an [`Observation`] and reads back as one.
#[derive(Clone)]
#[non_exhaustive]
pub struct PendingObservation {
    /// The session it belongs to.
    pub session: SessionId,
    /// Its place in its session's queue.
    pub seq: u64,
    /// What it reports.
    pub kind: ObservationKind,
    /// What the hook posted, as JSON.
    pub payload: Box<RawValue>,
    /// The idempotency key.
    pub key: Option<String>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

impl PendingObservation {
    /// A new observation numbered `seq`, posted at `now`.
    pub fn new(session: SessionId, seq: u64, posted: NewObservation, now: DateTime<Utc>) -> Self {
        let NewObservation { kind, payload, key, .. } = posted;
        Self { session, seq, kind, payload, key, created_at: now }
    }

    /// About how many bytes its stored JSON takes: room to encode it, as a
    /// rule, without growing the buffer again and again.
    pub(crate) fn encoded_len_hint(&self) -> usize {
        /// The record's other fields: names, a session id, two timestamps, a state.
        const FIELDS: usize = 320;
        self.payload.get().len() + self.key.as_ref().map_or(0, String::len) + FIELDS
    }

    /// The record it stands for, with its payload parsed.
    pub fn to_observation(&self) -> Observation {
        // A `RawValue` holds valid JSON text, so it parses into a value.
        let payload = serde_json::from_str(self.payload.get()).unwrap_or_default();
        Observation::new(self.session, self.seq, self.kind, payload, self.key.clone(), self.created_at)
    }
}

impl Serialize for PendingObservation {
    /// The JSON of [`Observation`], field for field.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Record<'a> {
            session: SessionId,
            seq: u64,
            kind: ObservationKind,
            payload: &'a RawValue,
            key: &'a Option<String>,
            created_at: &'a str,
            state: ObservationState,
            attempts: u32,
            lease: Option<Lease>,
            available_at: Option<DateTime<Utc>>,
            reason: Option<String>,
            updated_at: &'a str,
        }
        // Both times are the same: formatted once, as chrono's `Serialize` writes them.
        let at = self.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        Record {
            session: self.session,
            seq: self.seq,
            kind: self.kind,
            payload: &self.payload,
            key: &self.key,
            created_at: &at,
            state: ObservationState::Pending,
            attempts: 0,
            lease: None,
            available_at: None,
            reason: None,
            updated_at: &at,
        }
        .serialize(serializer)
    }
}

impl fmt::Debug for PendingObservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingObservation")
            .field("session", &self.session)
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("payload", &format_args!("<{} bytes>", self.payload.get().len()))
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The durable record of one observation, keyed by its session and sequence number.
///
/// Its `Debug` shows the payload only by its size: payloads hold whatever the
/// editor saw, file contents and secrets included.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Observation {
    /// The session it belongs to; each session has its own queue.
    pub session: SessionId,
    /// Its place in its session's queue, so consumers see events in the order
    /// they were posted.
    pub seq: u64,
    /// What it reports, for consumers that handle only some kinds.
    pub kind: ObservationKind,
    /// What the hook posted, kept as it came.
    pub payload: serde_json::Value,
    /// The idempotency key, such as Claude Code's `tool_use_id`: a hook that
    /// posts the same event twice queues it once.
    pub key: Option<String>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Where it is in the queue.
    pub state: ObservationState,
    /// How many times consumers have claimed it, to give up after too many.
    pub attempts: u32,
    /// The current claim on it; set exactly while it is leased.
    pub lease: Option<Lease>,
    /// A nack with a delay holds it back until then, so a failing consumer does
    /// not spin on it.
    pub available_at: Option<DateTime<Utc>>,
    /// Why it was set aside as dead, for whoever inspects the dead ones;
    /// cleared when it is requeued.
    pub reason: Option<String>,
    /// When its record last changed.
    pub updated_at: DateTime<Utc>,
}

impl Observation {
    /// A new pending observation, the `seq`th of `session`, posted at `now`.
    pub fn new(
        session: SessionId,
        seq: u64,
        kind: ObservationKind,
        payload: serde_json::Value,
        key: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            session,
            seq,
            kind,
            payload,
            key,
            created_at: now,
            state: ObservationState::Pending,
            attempts: 0,
            lease: None,
            available_at: None,
            reason: None,
            updated_at: now,
        }
    }

    /// Whether a consumer may claim it at `now`: it is pending and not held back.
    pub fn is_available(&self, now: DateTime<Utc>) -> bool {
        self.state == ObservationState::Pending && self.available_at.is_none_or(|at| at <= now)
    }

    /// Claims it for `consumer` until `until`, counting one more attempt.
    /// Returns the state it left; refused unless it is pending.
    pub fn lease_to(
        &mut self,
        consumer: impl Into<String>,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ObservationState, InvalidTransition> {
        let from = self.step(ObservationState::Pending, ObservationState::Leased, now)?;
        self.lease = Some(Lease { consumer: consumer.into(), until });
        self.attempts = self.attempts.saturating_add(1);
        self.available_at = None;
        Ok(from)
    }

    /// Gives it back to the queue (a nack, or a lease that lapsed), held back
    /// until `available_at` when set. Refused unless it is leased.
    pub fn release(
        &mut self,
        now: DateTime<Utc>,
        available_at: Option<DateTime<Utc>>,
    ) -> Result<ObservationState, InvalidTransition> {
        let from = self.step(ObservationState::Leased, ObservationState::Pending, now)?;
        self.lease = None;
        self.available_at = available_at;
        Ok(from)
    }

    /// Marks it processed. Refused unless it is leased.
    pub fn ack(&mut self, now: DateTime<Utc>) -> Result<ObservationState, InvalidTransition> {
        let from = self.step(ObservationState::Leased, ObservationState::Acked, now)?;
        self.lease = None;
        Ok(from)
    }

    /// Sets it aside as dead, saying why (such as max attempts reached).
    /// Refused unless it is leased.
    pub fn bury(
        &mut self,
        now: DateTime<Utc>,
        reason: impl Into<String>,
    ) -> Result<ObservationState, InvalidTransition> {
        let from = self.step(ObservationState::Leased, ObservationState::Dead, now)?;
        self.lease = None;
        self.reason = Some(reason.into());
        Ok(from)
    }

    /// Puts a dead observation back in the queue with a fresh count of attempts.
    /// Refused unless it is dead.
    pub fn requeue(&mut self, now: DateTime<Utc>) -> Result<ObservationState, InvalidTransition> {
        let from = self.step(ObservationState::Dead, ObservationState::Pending, now)?;
        self.attempts = 0;
        self.available_at = None;
        self.reason = None;
        Ok(from)
    }

    /// Moves it to `next` at `now`; returns the state it left. An invalid
    /// change is refused and leaves the record as it was.
    ///
    /// Private so that a lease is never entered without its holder: callers use
    /// the methods above, which go through [`step`](Self::step).
    fn transition(
        &mut self,
        next: ObservationState,
        now: DateTime<Utc>,
    ) -> Result<ObservationState, InvalidTransition> {
        let from = self.state;
        self.state = from.transition(next).map_err(|refused| refused.of(self.seq))?;
        self.updated_at = now;
        Ok(from)
    }

    /// [`transition`](Self::transition), refused unless it is in `from`: the
    /// lifecycle has two ways into `pending` (a release from `leased`, a requeue
    /// from `dead`) and each method may take only its own.
    fn step(
        &mut self,
        from: ObservationState,
        next: ObservationState,
        now: DateTime<Utc>,
    ) -> Result<ObservationState, InvalidTransition> {
        if self.state != from {
            return Err(InvalidTransition::between(self.state, next).of(self.seq));
        }
        self.transition(next, now)
    }
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observation")
            .field("session", &self.session)
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("payload", &JsonSize(&self.payload))
            .field("key", &self.key)
            .field("created_at", &self.created_at)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("lease", &self.lease)
            .field("available_at", &self.available_at)
            .field("reason", &self.reason)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A JSON value shown only by the size of its encoding, such as `<120 bytes>`,
/// so user payloads (prompts, file contents, command output) stay out of
/// logs: use it in hand-written `Debug` impls.
pub struct JsonSize<'a>(pub &'a serde_json::Value);

impl JsonSize<'_> {
    /// The length of `value`'s JSON encoding, without building it.
    pub fn of(value: &serde_json::Value) -> usize {
        let mut counter = ByteCounter(0);
        // Writing a `Value` to a writer that never fails cannot fail.
        let _ = serde_json::to_writer(&mut counter, value);
        counter.0
    }
}

impl fmt::Debug for JsonSize<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", JsonSize::of(self.0))
    }
}

/// A writer that only counts what it is given.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_observation_is_stored_as_the_observation_it_stands_for() {
        // Times with and without a fraction of a second: chrono writes them differently.
        let whole_second = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        for now in [Utc::now(), whole_second] {
            let posted =
                crate::model::NewObservation::tool_use("Read", serde_json::json!({"file": "a.rs"}), "ok".into())
                    .with_key("toolu_1");
            let pending = PendingObservation::new(SessionId::new(), 7, posted, now);
            let stored = serde_json::to_vec(&pending).unwrap();
            let read: Observation = serde_json::from_slice(&stored).unwrap();
            assert_eq!(read, pending.to_observation());
            assert_eq!(
                serde_json::to_value(&read).unwrap(),
                serde_json::from_slice::<serde_json::Value>(&stored).unwrap(),
                "the same JSON as the observation's own"
            );
            assert_eq!((read.seq, read.state, read.attempts, read.updated_at), (7, ObservationState::Pending, 0, now));
            assert_eq!(read.payload["tool_input"]["file"], "a.rs");
        }
    }
    use crate::model::assert_edges;
    use ObservationState::*;
    use serde_json::json;

    fn observation(now: DateTime<Utc>) -> Observation {
        Observation::new(
            SessionId::new(),
            1,
            ObservationKind::ToolUse,
            json!({"tool": "Bash", "input": {"command": "ls"}}),
            Some("toolu_01".into()),
            now,
        )
    }

    #[test]
    fn observation_lifecycle_allows_exactly_its_edges() {
        assert_edges(
            ObservationState::ALL,
            &[(Pending, Leased), (Leased, Pending), (Leased, Acked), (Leased, Dead), (Dead, Pending)],
        );
    }

    #[test]
    fn a_lease_counts_an_attempt_and_a_release_holds_it_back() {
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(30);
        let mut obs = observation(t0);
        assert!(obs.is_available(t0));
        assert_eq!(obs.lease_to("summarizer", t1, t0).unwrap(), Pending);
        assert_eq!(obs.attempts, 1);
        assert_eq!(obs.lease.as_ref().map(|l| l.consumer.as_str()), Some("summarizer"));
        assert!(!obs.is_available(t0));
        assert!(obs.lease.as_ref().unwrap().expired(t1));

        assert_eq!(obs.release(t0, Some(t1)).unwrap(), Leased);
        assert_eq!(obs.lease, None);
        assert!(!obs.is_available(t0));
        assert!(obs.is_available(t1));

        obs.lease_to("summarizer", t1, t1).unwrap();
        assert_eq!(obs.attempts, 2);
        assert_eq!(obs.available_at, None);
        obs.ack(t1).unwrap();
        assert_eq!(obs.state, Acked);
        assert_eq!(obs.lease, None);
        assert!(!obs.is_available(t1));
    }

    #[test]
    fn a_buried_observation_is_requeued_with_fresh_attempts() {
        let now = Utc::now();
        let mut obs = observation(now);
        obs.lease_to("c", now, now).unwrap();
        assert_eq!(obs.bury(now, "max attempts reached").unwrap(), Leased);
        assert_eq!(obs.state, Dead);
        assert_eq!(obs.reason.as_deref(), Some("max attempts reached"));
        let dead = obs.clone();
        let err = obs.release(now, None).unwrap_err();
        assert_eq!(err.to_string(), "observation 1 is already dead");
        assert_eq!(obs, dead);
        assert_eq!(obs.requeue(now).unwrap(), Dead);
        assert_eq!(obs.attempts, 0);
        assert_eq!(obs.reason, None);
        assert!(obs.is_available(now));
    }

    #[test]
    fn refused_changes_leave_the_record_unchanged() {
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(1);
        let mut obs = observation(now);
        let before = obs.clone();
        let err = obs.ack(later).unwrap_err();
        assert_eq!(err.to_string(), "observation 1 is pending and cannot become acked");
        assert!(obs.release(later, None).is_err());
        assert!(obs.bury(later, "x").is_err());
        assert!(obs.requeue(later).is_err());
        assert_eq!(obs, before);

        obs.lease_to("c", later, now).unwrap();
        let leased = obs.clone();
        assert!(obs.lease_to("other", later, later).is_err());
        let err = obs.requeue(later).unwrap_err();
        assert_eq!(err.to_string(), "observation 1 is already leased");
        assert_eq!(obs, leased);
    }

    #[test]
    fn observations_serialize_with_their_wire_names_and_parse_back() {
        let refused = "sleeping".parse::<ObservationState>().unwrap_err().to_string();
        assert_eq!(refused, "\"sleeping\" is not an observation state (one of: pending, leased, acked, dead)");
        let now = Utc::now();
        let mut obs = observation(now);
        obs.lease_to("c", now, now).unwrap();
        let json = serde_json::to_value(&obs).unwrap();
        assert_eq!(json["kind"], "tool_use");
        assert_eq!(json["state"], "leased");
        assert_eq!(json["lease"]["consumer"], "c");
        assert_eq!(serde_json::from_value::<Observation>(json).unwrap(), obs);
        for &state in ObservationState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn kind_names_parse_back() {
        for &kind in ObservationKind::ALL {
            assert_eq!(kind.to_string().parse::<ObservationKind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ObservationKind::default(), ObservationKind::Custom);
        assert!(ObservationKind::Summarize.is_summarize());
        assert!(!ObservationKind::Prompt.is_summarize());
        assert_eq!(
            "tool-use".parse::<ObservationKind>().unwrap_err().to_string(),
            "\"tool-use\" is not an observation kind \
             (expected tool_use, prompt, notification, summarize or custom)"
        );
    }

    #[test]
    fn debug_shows_the_payload_only_by_size() {
        let payload = json!({"env": "AWS_SECRET=hunter2"});
        let size = serde_json::to_string(&payload).unwrap().len();
        let obs = Observation::new(SessionId::new(), 7, ObservationKind::Custom, payload, None, Utc::now());
        let shown = format!("{obs:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(&format!("<{size} bytes>")), "{shown}");
    }
}
