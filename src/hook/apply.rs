//! Applying a hook event to the engine: the daemon's half of `baton hook`.
//!
//! The hook process only reads its event and posts it whole to the daemon
//! (`POST /v1/hooks/claude-code`), one round trip; the daemon maps it to
//! engine calls here. Events spooled while the daemon was down are applied by
//! the same function when it starts again, so there is one way an event
//! becomes baton state.

use baton_actors::model::{Enqueued, NewObservation, ObservationKind, SessionId, SessionState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{HookAction, HookEvent, HookEventName};
use crate::{Baton, CloseMode, EngineError, Error};

/// What a hook event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HookOutcome {
    /// The baton session of the event's Claude Code session.
    #[schema(value_type = String, format = Uuid)]
    pub session: SessionId,
    /// What was done: `opened`, `observed`, `summarize_queued` or `closed`.
    pub action: String,
    /// The observation's sequence number, for an observation or a marker.
    pub seq: Option<u64>,
    /// Whether that observation was already queued (a repeated delivery).
    pub duplicate: bool,
}

/// Applies `event`: opens its session if baton has not seen it, then does what
/// the event means. `spool_id` is the id of the spool entry the event came
/// from (or was made as, before a live post); it keys observations that have
/// no key of their own, so a repeated delivery queues them once.
pub async fn apply(baton: &Baton, event: HookEvent, spool_id: Option<Uuid>) -> Result<HookOutcome, Error> {
    // Every tool call runs the hook: a session baton knows is looked up, not
    // opened again (which would wait for a flush of its own).
    let known = match event.name() {
        HookEventName::SessionStart => None,
        _ => baton.session_by_external_id(event.session_id()).await?,
    };
    let session = match known {
        // A session that no longer takes observations (it ended, or drains
        // after a SessionEnd) is not reused: opening starts a new one under
        // the same external id. A repeated SessionEnd closes nothing new.
        Some(session)
            if matches!(session.state, SessionState::Active | SessionState::Idle)
                || *event.name() == HookEventName::SessionEnd =>
        {
            session
        }
        _ => baton.open_session(event.open_session()).await?,
    };
    let fallback_key = spool_id.map(|id| format!("spool:{id}"));
    let outcome = |action: &str, enqueued: Option<Enqueued>| HookOutcome {
        session: session.id,
        action: action.to_owned(),
        seq: enqueued.map(|e| e.seq),
        duplicate: enqueued.is_some_and(|e| e.duplicate),
    };
    match event.into_action() {
        HookAction::Open { .. } => Ok(outcome("opened", None)),
        HookAction::Observe { kind, key, payload, .. } => {
            let observation = keyed(NewObservation::new(kind, payload), key.or(fallback_key));
            Ok(outcome("observed", Some(baton.observe(session.id, observation).await?)))
        }
        HookAction::Summarize { payload, .. } => {
            let marker = keyed(NewObservation::new(ObservationKind::Summarize, payload), fallback_key);
            Ok(outcome("summarize_queued", Some(baton.observe(session.id, marker).await?)))
        }
        HookAction::Close { reason, .. } => {
            let reason = Some(reason.map_or_else(|| "session ended".to_owned(), |r| format!("session ended: {r}")));
            match baton.close_session_with(session.id, CloseMode::Drain, reason).await {
                // Already closing or closed: a repeated SessionEnd changes nothing.
                Ok(_) | Err(Error::Engine(EngineError::InvalidTransition(_))) => Ok(outcome("closed", None)),
                Err(err) => Err(err),
            }
        }
    }
}

fn keyed(observation: NewObservation, key: Option<String>) -> NewObservation {
    match key {
        Some(key) => observation.with_key(key),
        None => observation,
    }
}

/// Whether `err` is the engine refusing the event for good (an ended session,
/// a payload over the limit), rather than failing for now (the store, a
/// restarting actor, shutdown): a refused event is logged and dropped, one
/// that failed is kept to try again.
pub fn is_refusal(err: &Error) -> bool {
    match err {
        Error::Engine(err) => !matches!(
            err,
            EngineError::Store(_)
                | EngineError::ActorCrashed { .. }
                | EngineError::Restarting { .. }
                | EngineError::ShuttingDown
        ),
        _ => false,
    }
}

/// Delivers the events hooks spooled while the daemon was down, oldest first,
/// in-process; the daemon runs this once it listens. An entry that is not a
/// hook event, or that the engine refuses, is logged and dropped: kept, it
/// would hold back every later one.
pub async fn deliver_spool(
    baton: &Baton,
    spool: &super::Spool,
) -> Result<super::DrainReport, super::SpoolError<Error>> {
    spool
        .drain_async(|entry| {
            let entry_id = entry.id;
            let event = HookEvent::from_value(entry.event.clone());
            async move {
                let event = match event {
                    Ok(event) => event,
                    Err(err) => {
                        tracing::warn!(%entry_id, cause = %err, "dropping a spooled entry that is not a hook event");
                        return Ok(());
                    }
                };
                match apply(baton, event, Some(entry_id)).await {
                    Ok(_) => Ok(()),
                    Err(err) if is_refusal(&err) => {
                        tracing::warn!(%entry_id, cause = %err, "dropping a spooled hook event the engine refuses");
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            }
        })
        .await
}
