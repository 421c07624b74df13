//! What goes into a session's observation queue and what it says about itself.
//!
//! [`NewObservation`] is what a hook posts; the queue turns it into an
//! [`Observation`](super::Observation) with a sequence number. [`QueueStats`]
//! is kept beside the observations and written in the same batch as every
//! change to them, so counts and the next sequence number are never out of
//! step with the records, even after `kill -9`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ObservationKind;
use super::payload::{self, InvalidPayload, MAX_PAYLOAD_DEPTH};

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

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enqueued {
    /// The observation's sequence number in its session's queue.
    pub seq: u64,
    /// Whether it was already queued under the same idempotency key (this post
    /// stored nothing new).
    pub duplicate: bool,
}

/// The counts of one session's queue, and the sequence number the next
/// observation gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct QueueStats {
    /// The sequence number the next observation gets; sequence numbers are
    /// never reused, so an ack of an older one that is gone is known to be
    /// a repeat rather than a mistake.
    pub next_seq: u64,
    /// Waiting to be claimed.
    pub pending: u64,
    /// Claimed and not yet acked.
    pub leased: u64,
    /// Set aside after too many attempts.
    pub dead: u64,
    /// Acked over the queue's whole life.
    pub acked: u64,
}

impl QueueStats {
    /// The stats of a queue that never held anything.
    pub fn empty() -> Self {
        Self { next_seq: 1, ..Self::default() }
    }

    /// Observations still to be processed: pending or leased.
    pub fn outstanding(&self) -> u64 {
        self.pending + self.leased
    }

    /// Adds `other`'s counts to these (for totals over sessions).
    pub fn add(&mut self, other: &QueueStats) {
        self.pending += other.pending;
        self.leased += other.leased;
        self.dead += other.dead;
        self.acked += other.acked;
    }
}

/// The answer to an ack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckReport {
    /// The observations this ack settled.
    pub acked: Vec<u64>,
    /// Observations that were acked before (a repeated ack, say after a lost
    /// answer): not an error, and nothing changed for them.
    pub already_acked: Vec<u64>,
}
