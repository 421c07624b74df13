//! The session actor's handoffs: creating them, routing them to agents,
//! moving them along their lifecycle, their deadlines, their transfer when an
//! agent stops for good, and agents' inboxes.
//!
//! The actor keeps its session's open handoffs in memory (ended ones live only
//! in the store). As with the queue, every change is checkpointed with the
//! events that report it, and answered only once a commit covers it; the
//! memory is updated only after the store took the write.
//!
//! Routing to an agent by id needs only its record. Routing to a role needs
//! the supervisor, which knows the agents and spawns from role templates: one
//! [`PickAgents`] request per routing pass, awaited with `ctx.wait`, so no
//! other message finds handoffs half-routed and no two handoffs are given the
//! same idle agent. A routed handoff is delivered to its agent's actor once
//! durable, and answers any inbox waiting for it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use actix::fut::{ActorFutureExt, wrap_future};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::warn;

use super::hang_up::{HangUpGuard, Wait};
use super::{Handles, Preamble, SessionActor, SessionRequest, queue_without_actor};
use crate::awaited::Awaited;
use crate::error::EngineError;
use crate::messages::{Ask, ClaimObservations, SetFallback};
use crate::model::bounds;
use crate::model::{
    AgentId, Deadline, EventKind, Handoff, HandoffId, HandoffState, HandoffTarget, InvalidTransition, JsonSize,
    Lifecycle, NewEvent, Session, SessionState, payload,
};
use crate::protocol::{AgentGone, DeliverHandoff, Pick, PickAgents, Want};
use crate::requests::{CreateHandoff, HandoffAction, Inbox, InboxClaim, InboxItems, UpdateHandoff};
use crate::store::Commit;

type InboxAnswer = oneshot::Sender<Result<InboxItems, EngineError>>;

/// What the session actor knows of its handoffs.
#[derive(Default)]
pub(super) struct Handoffs {
    /// The open ones, by id (ids are UUIDv7: creation order).
    pub(super) open: BTreeMap<HandoffId, Handoff>,
    /// Agents waiting on their inbox, oldest first.
    inboxes: VecDeque<InboxWaiter>,
    next_waiter: u64,
    /// The timer that routes handoffs once their backoff after a transfer is
    /// over, and when it fires.
    wake: Option<(DateTime<Utc>, SpawnHandle)>,
}

pub(super) struct InboxWaiter {
    id: u64,
    inbox: Inbox,
    /// Closed once the agent hung up: it is then handed nothing.
    answer: InboxAnswer,
    /// The timer that ends the wait; cancelled when the wait is answered sooner.
    pub(super) timer: Option<SpawnHandle>,
}

impl Handoffs {
    /// Takes the inbox wait `id` out of the list.
    pub(super) fn remove_inbox(&mut self, id: u64) -> Option<InboxWaiter> {
        let index = self.inboxes.iter().position(|waiter| waiter.id == id)?;
        self.inboxes.remove(index)
    }

    /// Whether any agent still waits on its inbox.
    pub(super) fn has_waiters(&self) -> bool {
        self.inboxes.iter().any(|waiter| !waiter.answer.is_closed())
    }

    /// Ends every inbox wait empty-handed: the actor is going away.
    pub(super) fn release_all(&mut self) {
        for waiter in self.inboxes.drain(..) {
            let _ = waiter.answer.send(Ok(InboxItems::default()));
        }
    }

    /// The agents with an open handoff: they are not idle.
    fn busy(&self) -> HashSet<AgentId> {
        self.open.values().filter_map(|handoff| handoff.assigned).collect()
    }
}

/// Why a handoff is in a routing pass.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// It waits, unassigned, for an agent of its role.
    Route,
    /// Its agent did not acknowledge it in time: another agent of the role
    /// gets it, or it times out.
    Redeliver(AgentId),
}

type Reply<T> = ResponseActFuture<SessionActor, Result<T, EngineError>>;

/// The note of a handoff that waits for an agent of its role that nothing
/// will bring (issue 18: such a handoff once waited in silence).
fn nobody_note(route_to: &HandoffTarget) -> String {
    format!(
        "waits for an agent of {route_to} that nothing can spawn: the session has none, and there is no template of \
         that role"
    )
}

fn refused<T: 'static>(err: EngineError) -> Reply<T> {
    Box::pin(actix::fut::ready(Err(err)))
}

impl SessionActor {
    /// Checkpoints changed handoffs with `events` and brings the memory in
    /// line: ended ones leave it. It asks for no commit: each caller asks for
    /// one when it needs it (an unneeded request costs a flush).
    fn write_handoffs(&mut self, changed: Vec<Handoff>, events: Vec<EventKind>) -> Result<(), EngineError> {
        if changed.is_empty() {
            return Ok(());
        }
        let now = self.engine.clock.now();
        let events = events.into_iter().map(|kind| NewEvent::session(self.session.id, now, kind)).collect();
        self.engine.store.save_handoffs(&changed, events)?;
        for handoff in changed {
            if handoff.is_open() {
                self.handoffs.open.insert(handoff.id, handoff);
            } else {
                self.handoffs.open.remove(&handoff.id);
            }
        }
        Ok(())
    }

    /// Loads the open handoffs when the actor starts, and hands on those whose
    /// agent stopped for good while no actor was there to notice.
    pub(super) fn load_handoffs(&mut self, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        let open = self.engine.store.handoffs(Some(self.session.id))?.into_iter().filter(Handoff::is_open);
        self.handoffs.open = open.map(|handoff| (handoff.id, handoff)).collect();
        for agent in self.handoffs.busy() {
            self.transfer_from(agent, ctx);
        }
        self.route_pending(Vec::new(), ctx);
        Ok(())
    }

    /// A new handoff, checked but not yet written; assigned already when it is
    /// for an agent by id.
    fn new_handoff(&self, request: CreateHandoff, now: DateTime<Utc>) -> Result<Handoff, EngineError> {
        self.accepting(&[SessionState::Active, SessionState::Idle], "new handoffs")?;
        let CreateHandoff { session, from, to, task, payload, ack_within, complete_within, redeliver } = request;
        if task.trim().is_empty() {
            return Err(EngineError::InvalidRequest("a handoff needs a task".into()));
        }
        bounds::HANDOFF_DEADLINE.check_some(ack_within)?;
        bounds::HANDOFF_DEADLINE.check_some(complete_within)?;
        if let Some(payload) = &payload {
            self.check_value(payload)?;
        }
        if let Some(from) = from {
            self.session_agent(from)?;
        }
        let target_agent = match &to {
            HandoffTarget::Agent(agent) => {
                let record = self.session_agent(*agent)?;
                if record.state.is_ended() {
                    return Err(EngineError::AgentNotAccepting { agent: *agent, state: record.state });
                }
                Some(*agent)
            }
            HandoffTarget::Role(role) if role.trim().is_empty() => {
                return Err(EngineError::InvalidRequest("a handoff's role must not be empty".into()));
            }
            HandoffTarget::Role(_) => None,
        };
        let mut handoff = Handoff::new(session, from, to.clone(), task, now);
        handoff.payload = payload;
        handoff.redeliver = redeliver;
        if let Some(within) = ack_within {
            handoff = handoff.with_ack_timeout(within);
        }
        if let Some(within) = complete_within {
            handoff = handoff.with_complete_deadline(now + crate::clock::to_chrono(within));
        }
        if let Some(agent) = target_agent {
            // Routed as it is created: its first step says to whom.
            handoff.assigned = Some(agent);
            handoff.history[0].assigned = Some(agent);
        }
        Ok(handoff)
    }

    /// Writes a new handoff with the events that report it; returns the
    /// commit to wait for.
    fn write_new(&mut self, handoff: &Handoff) -> Result<Commit, EngineError> {
        let (from, to) = (handoff.from, handoff.to.clone());
        let mut events = vec![EventKind::HandoffCreated { handoff: handoff.id, from, to }];
        for step in &handoff.history {
            if let Some(agent) = step.assigned {
                events.push(EventKind::HandoffAssigned { handoff: handoff.id, agent, previous: None });
            }
        }
        self.write_handoffs(vec![handoff.clone()], events)?;
        Ok(self.engine.store.commit())
    }

    /// The record of an agent of this session.
    fn session_agent(&self, id: AgentId) -> Result<crate::model::Agent, EngineError> {
        let agent = self.engine.store.agent(id)?.ok_or(EngineError::AgentNotFound(id))?;
        if agent.session != self.session.id {
            return Err(EngineError::InvalidRequest(format!(
                "agent {id} belongs to session {}, not {}",
                agent.session, self.session.id
            )));
        }
        Ok(agent)
    }

    /// Refuses a handoff's payload or result that the store should not keep.
    fn check_value(&self, value: &serde_json::Value) -> Result<(), EngineError> {
        self.check_payload(JsonSize::of(value), payload::check_value(value).err().as_ref())
    }

    /// Takes one step on a handoff for whoever asks.
    fn update(&mut self, request: UpdateHandoff, now: DateTime<Utc>) -> Result<(Handoff, Commit), EngineError> {
        let UpdateHandoff { id, action, by, result, note } = request;
        let Some(handoff) = self.handoffs.open.get(&id) else {
            return Err(match self.engine.store.handoff(id)? {
                Some(ended) if ended.session == self.session.id => {
                    EngineError::from(ended.state.transition(action.target()).unwrap_err().of(ended.id))
                }
                _ => EngineError::HandoffNotFound(id),
            });
        };
        if let Some(agent) = by {
            let (party, holder) =
                if action.is_senders() { ("sender", handoff.from) } else { ("target", handoff.assigned) };
            if holder != Some(agent) {
                return Err(EngineError::NotPermitted { handoff: id, agent, action: action.as_str(), party });
            }
        }
        if let Some(result) = &result {
            if !matches!(action, HandoffAction::Complete | HandoffAction::Fail) {
                return Err(EngineError::InvalidRequest("only a completion or a failure hands a result back".into()));
            }
            self.check_value(result)?;
        }
        let mut next = handoff.clone();
        let to = action.target();
        if !action.allowed_from(next.state) {
            return Err(InvalidTransition::between(next.state, to).of(next.id).into());
        }
        let from = next.transition(to, now, note.clone())?;
        if result.is_some() {
            next.result = result;
        }
        self.write_handoffs(vec![next.clone()], vec![EventKind::HandoffStateChanged { handoff: id, from, to, note }])?;
        Ok((next, self.engine.store.commit()))
    }

    /// Routes the handoffs that wait for an agent, and redelivers `overdue`
    /// ones (not acknowledged in time) to another agent of their role.
    pub(super) fn route_pending(&mut self, overdue: Vec<HandoffId>, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let mut changed = Vec::new();
        let mut events = Vec::new();
        let mut wants = Vec::new();
        let mut purposes = Vec::new();
        let mut backing_off: Option<DateTime<Utc>> = None;
        for handoff in self.handoffs.open.values() {
            if handoff.state != HandoffState::Initiated || handoff.assigned.is_some() {
                continue;
            }
            if let Some(at) = handoff.route_after.filter(|_| !handoff.routable_at(now)) {
                backing_off = Some(backing_off.map_or(at, |earliest| earliest.min(at)));
                continue;
            }
            match &handoff.route_to {
                HandoffTarget::Agent(agent) => {
                    let live = match self.engine.store.agent(*agent) {
                        Ok(record) => record.is_some_and(|record| !record.state.is_ended()),
                        Err(err) => {
                            warn!(session_id = %self.session.id, cause = %err, "cannot read a handoff's agent");
                            false
                        }
                    };
                    if live {
                        let mut next = handoff.clone();
                        if next.assign(Some(*agent), now, Some(format!("routed to agent {agent}"))).is_ok() {
                            events.push(EventKind::HandoffAssigned { handoff: next.id, agent: *agent, previous: None });
                            changed.push(next);
                        }
                    }
                }
                HandoffTarget::Role(role) => {
                    wants.push(Want { role: role.clone(), exclude: Vec::new(), spawn: true });
                    purposes.push((handoff.id, Purpose::Route));
                }
            }
        }
        for id in overdue {
            let Some(handoff) = self.handoffs.open.get(&id) else { continue };
            let (HandoffTarget::Role(role), Some(current)) = (&handoff.route_to, handoff.assigned) else { continue };
            let exclude: Vec<AgentId> = handoff.history.iter().filter_map(|step| step.assigned).collect();
            wants.push(Want { role: role.clone(), exclude, spawn: false });
            purposes.push((id, Purpose::Redeliver(current)));
        }
        self.settle_routing(changed, events, ctx);
        if let Some(at) = backing_off {
            self.route_at(at, ctx);
        }
        if wants.is_empty() {
            return;
        }
        let pick = PickAgents { session: self.session.id, busy: self.handoffs.busy(), wants };
        ctx.wait(wrap_future::<_, Self>(self.parent.pick_agents.send(pick)).map(
            move |picked, act, ctx| match picked {
                Ok(Ok(picked)) => act.apply_picks(purposes, picked, ctx),
                Ok(Err(err)) => warn!(session_id = %act.session.id, cause = %err, "cannot route handoffs"),
                Err(err) => {
                    warn!(session_id = %act.session.id, cause = %err, "the supervisor did not answer a routing pass")
                }
            },
        ));
    }

    /// Routes what waits once `at` has come (the end of a transfer's
    /// backoff), unless a timer set for earlier will do it.
    fn route_at(&mut self, at: DateTime<Utc>, ctx: &mut Context<Self>) {
        if self.handoffs.wake.as_ref().is_some_and(|(armed, _)| *armed <= at) {
            return;
        }
        if let Some((_, timer)) = self.handoffs.wake.take() {
            ctx.cancel_future(timer);
        }
        let wait = (at - self.engine.clock.now()).to_std().unwrap_or_default();
        let timer = ctx.spawn(wrap_future::<_, Self>(self.engine.clock.sleep(wait)).map(|(), act, ctx| {
            act.handoffs.wake = None;
            if act.session.is_open() && !act.retiring {
                act.route_pending(Vec::new(), ctx);
            }
        }));
        self.handoffs.wake = Some((at, timer));
    }

    /// Applies the supervisor's picks to the handoffs they were asked for
    /// (unless something changed them meanwhile).
    fn apply_picks(&mut self, purposes: Vec<(HandoffId, Purpose)>, picked: Vec<Pick>, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let mut changed = Vec::new();
        let mut events = Vec::new();
        for ((id, purpose), pick) in purposes.into_iter().zip(picked) {
            let Some(handoff) = self.handoffs.open.get(&id) else { continue };
            let mut next = handoff.clone();
            let waiting = next.state == HandoffState::Initiated && next.assigned.is_none();
            match (purpose, pick) {
                (Purpose::Route, Pick::Agent(agent)) if waiting => {
                    let note = format!("routed to agent {agent} of {}", next.route_to);
                    if next.assign(Some(agent), now, Some(note)).is_ok() {
                        events.push(EventKind::HandoffAssigned { handoff: id, agent, previous: None });
                        changed.push(next);
                    }
                }
                (Purpose::Route, Pick::Nobody) if waiting => {
                    // Said once, not on every pass.
                    let note = nobody_note(&next.route_to);
                    let said = next.history.last().and_then(|step| step.note.as_ref()) == Some(&note);
                    if !said && next.assign(None, now, Some(note)).is_ok() {
                        changed.push(next);
                    }
                }
                (Purpose::Redeliver(previous), pick)
                    if next.state == HandoffState::Initiated && next.assigned == Some(previous) =>
                {
                    match pick.agent() {
                        Some(agent) => {
                            let note =
                                format!("agent {previous} did not acknowledge it in time; redelivered to {agent}");
                            if next.assign(Some(agent), now, Some(note)).is_ok() {
                                next.restart_ack_clock(now);
                                events.push(EventKind::HandoffAssigned {
                                    handoff: id,
                                    agent,
                                    previous: Some(previous),
                                });
                                changed.push(next);
                            }
                        }
                        None => {
                            let note = format!(
                                "{}; no other agent of {} to redeliver to",
                                Deadline::Acknowledge,
                                next.route_to
                            );
                            if let Ok(from) = next.transition(HandoffState::TimedOut, now, Some(note.clone())) {
                                events.push(EventKind::HandoffStateChanged {
                                    handoff: id,
                                    from,
                                    to: HandoffState::TimedOut,
                                    note: Some(note),
                                });
                                changed.push(next);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.settle_routing(changed, events, ctx);
    }

    /// Checkpoints routing changes, then delivers the routed handoffs to their
    /// agents once durable and answers inboxes waiting for them.
    fn settle_routing(&mut self, changed: Vec<Handoff>, events: Vec<EventKind>, ctx: &mut Context<Self>) {
        if changed.is_empty() {
            return;
        }
        let deliveries = changed.clone();
        match self.write_handoffs(changed, events) {
            Ok(()) => {
                let commit = self.engine.store.commit();
                drop(self.deliver_after(commit, deliveries, ctx));
                self.serve_inboxes(self.engine.clock.now(), ctx);
            }
            Err(err) => warn!(session_id = %self.session.id, cause = %err, "handoff routing not recorded"),
        }
    }

    /// Hands the routed ones of `handoffs` to their agents' actors once
    /// `commit` makes them durable; returns a commit that completes with it,
    /// for a caller to wait on too (one flush for both).
    fn deliver_after(&mut self, commit: Commit, handoffs: Vec<Handoff>, ctx: &mut Context<Self>) -> Commit {
        let routed: Vec<Handoff> = handoffs
            .into_iter()
            .filter(|handoff| handoff.state == HandoffState::Initiated && handoff.assigned.is_some())
            .collect();
        if routed.is_empty() {
            return commit;
        }
        let (done, durable) = oneshot::channel();
        let deliver = self.parent.deliver_handoff.clone();
        ctx.spawn(wrap_future(async move {
            let result = commit.await;
            if result.is_ok() {
                for handoff in routed {
                    deliver.do_send(DeliverHandoff(handoff));
                }
            }
            let _ = done.send(result);
        }));
        Box::pin(async move { durable.await.unwrap_or(Err(crate::error::StoreError::Closed)) })
    }

    /// Times out handoffs past a deadline, or redelivers them where they ask
    /// for it, then routes what waits for an agent.
    pub(super) fn handoff_tick(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let mut changed = Vec::new();
        let mut events = Vec::new();
        let mut overdue = Vec::new();
        for handoff in self.handoffs.open.values() {
            match handoff.overdue(now) {
                None => {}
                Some(Deadline::Acknowledge)
                    if handoff.redeliver
                        && handoff.assigned.is_some()
                        && matches!(handoff.route_to, HandoffTarget::Role(_)) =>
                {
                    overdue.push(handoff.id);
                }
                Some(deadline) => {
                    let mut next = handoff.clone();
                    let note = deadline.to_string();
                    if let Ok(from) = next.transition(HandoffState::TimedOut, now, Some(note.clone())) {
                        let to = HandoffState::TimedOut;
                        events.push(EventKind::HandoffStateChanged { handoff: next.id, from, to, note: Some(note) });
                        changed.push(next);
                    }
                }
            }
        }
        let timed_out = !changed.is_empty();
        match self.write_handoffs(changed, events) {
            Ok(()) if timed_out => self.commit_in_background(self.engine.store.commit(), "handoff deadlines", ctx),
            Ok(()) => {}
            Err(err) => warn!(session_id = %self.session.id, cause = %err, "handoff deadlines not recorded"),
        }
        self.route_pending(overdue, ctx);
    }

    /// Hands on the open handoffs of `agent` if its run is over for good: to
    /// the session's fallback, or back to be routed anew.
    pub(super) fn agent_gone(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        self.transfer_from(agent, ctx);
        self.route_pending(Vec::new(), ctx);
    }

    /// Moves the open handoffs of `agent`, if its run is over for good, back
    /// to `initiated` (to the fallback, if any), for the next routing pass
    /// once the transfer's backoff is over; fails those whose agents kept
    /// ending (`handoff_transfer`).
    fn transfer_from(&mut self, agent: AgentId, ctx: &mut Context<Self>) {
        let record = match self.engine.store.agent(agent) {
            Ok(Some(record)) if record.state.is_ended() => record,
            Ok(_) => return,
            Err(err) => return warn!(session_id = %self.session.id, cause = %err, "cannot read a stopped agent"),
        };
        let now = self.engine.clock.now();
        let limit = self.engine.config.handoff_transfer;
        let fallback = self.session.fallback.clone().filter(|fallback| *fallback != HandoffTarget::Agent(agent));
        let mut changed = Vec::new();
        let mut events = Vec::new();
        let mut backing_off: Option<DateTime<Utc>> = None;
        for handoff in self.handoffs.open.values().filter(|handoff| handoff.assigned == Some(agent)) {
            let mut next = handoff.clone();
            next.transfers = next.transfers.saturating_add(1);
            let why = format!("agent {agent} is {}", record.state);
            if next.transfers >= limit.max_attempts {
                let undone = if next.acknowledged_at().is_some() { "finishing" } else { "acknowledging" };
                let note = format!(
                    "{why}: its agents kept ending without {undone} it ({} attempts, the most allowed)",
                    next.transfers
                );
                if let Ok(from) = next.transition(HandoffState::Failed, now, Some(note.clone())) {
                    let to = HandoffState::Failed;
                    events.push(EventKind::HandoffStateChanged { handoff: next.id, from, to, note: Some(note) });
                    changed.push(next);
                }
                continue;
            }
            // The first transfer is routed at once, later ones wait longer, as restarts do.
            let delay = limit.backoff.delay(next.transfers - 1);
            let mut note = match &fallback {
                Some(fallback) => format!("{why}: transferred to the session's fallback, {fallback}"),
                None => format!("{why}: back to be routed anew"),
            };
            if !delay.is_zero() {
                note.push_str(&format!(" after {delay:?} (attempt {} of {})", next.transfers + 1, limit.max_attempts));
            }
            let moved = if next.state == HandoffState::Initiated {
                next.assign(None, now, Some(note))
            } else {
                next.transition(HandoffState::Initiated, now, Some(note.clone())).map(|from| {
                    let to = HandoffState::Initiated;
                    events.push(EventKind::HandoffStateChanged { handoff: next.id, from, to, note: Some(note) });
                })
            };
            if moved.is_ok() {
                if let Some(fallback) = &fallback {
                    next.route_to = fallback.clone();
                }
                next.restart_ack_clock(now);
                if !delay.is_zero() {
                    let at = now + crate::clock::to_chrono(delay);
                    next.route_after = Some(at);
                    backing_off = Some(backing_off.map_or(at, |earliest| earliest.min(at)));
                }
                changed.push(next);
            }
        }
        let moved = !changed.is_empty();
        if let Err(err) = self.write_handoffs(changed, events) {
            return warn!(session_id = %self.session.id, cause = %err, "handoff transfer not recorded");
        }
        if moved {
            self.commit_in_background(self.engine.store.commit(), "handoff transfer", ctx);
        }
        if let Some(at) = backing_off {
            self.route_at(at, ctx);
        }
    }

    /// Cancels every open handoff: the session is closing.
    pub(super) fn cancel_open_handoffs(&mut self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let note = "the session closed".to_owned();
        let mut changed = Vec::new();
        let mut events = Vec::new();
        for handoff in self.handoffs.open.values() {
            let mut next = handoff.clone();
            let from = next.transition(HandoffState::Cancelled, now, Some(note.clone()))?;
            let to = HandoffState::Cancelled;
            events.push(EventKind::HandoffStateChanged { handoff: next.id, from, to, note: Some(note.clone()) });
            changed.push(next);
        }
        // The closing checkpoint that follows is committed after this write.
        self.write_handoffs(changed, events)
    }

    /// What waits in `inbox.agent`'s inbox now (with what it claims, when it
    /// claims), ready to answer once the returned commit completes; none when
    /// it is empty.
    fn inbox_now(&mut self, inbox: &Inbox, now: DateTime<Utc>) -> Result<Option<(InboxItems, Commit)>, EngineError> {
        let handoffs: Vec<Handoff> = self
            .handoffs
            .open
            .values()
            .filter(|handoff| handoff.assigned == Some(inbox.agent) && handoff.state == HandoffState::Initiated)
            .cloned()
            .collect();
        let claimed = match inbox.claim {
            None => None,
            Some(InboxClaim { max, lease }) => {
                let claim = ClaimObservations {
                    session: self.session.id,
                    consumer: inbox.agent.to_string(),
                    max,
                    lease,
                    wait: Duration::ZERO,
                };
                self.claim_now(&claim, now)?
            }
        };
        if handoffs.is_empty() && claimed.is_none() {
            return Ok(None);
        }
        let (observations, commit) = claimed.unwrap_or_else(|| (Vec::new(), self.engine.store.commit()));
        Ok(Some((InboxItems { handoffs, observations }, commit)))
    }

    /// Answers the agents waiting on their inbox whose inbox is no longer empty.
    pub(super) fn serve_inboxes(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let mut index = 0;
        while index < self.handoffs.inboxes.len() {
            // Checked as it would be served: an agent that hung up gets no lease.
            if self.handoffs.inboxes[index].answer.is_closed() {
                if let Some(timer) = self.handoffs.inboxes.remove(index).and_then(|waiter| waiter.timer) {
                    ctx.cancel_future(timer);
                }
                continue;
            }
            let inbox = self.handoffs.inboxes[index].inbox.clone();
            let outcome = self.inbox_now(&inbox, now);
            if matches!(outcome, Ok(None)) {
                index += 1;
                continue;
            }
            let Some(mut waiter) = self.handoffs.inboxes.remove(index) else { break };
            if let Some(timer) = waiter.timer.take() {
                ctx.cancel_future(timer);
            }
            match outcome {
                Ok(Some((items, commit))) => {
                    ctx.spawn(wrap_future(async move {
                        let _ = waiter.answer.send(commit.await.map(|()| items).map_err(EngineError::from));
                    }));
                }
                Ok(None) => {}
                Err(err) => {
                    let _ = waiter.answer.send(Err(err));
                }
            }
        }
    }
}

impl SessionRequest for Ask<CreateHandoff> {
    type Output = Handoff;

    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Handoff, EngineError> {
        match restarting_in {
            Some(_) => queue_without_actor(&stored, restarting_in),
            None => {
                Err(EngineError::SessionNotAccepting { session: stored.id, state: stored.state, what: "new handoffs" })
            }
        }
    }
}

impl SessionRequest for Ask<UpdateHandoff> {
    type Output = Handoff;

    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Handoff, EngineError> {
        match restarting_in {
            Some(_) => queue_without_actor(&stored, restarting_in),
            None => Err(EngineError::SessionNotAccepting {
                session: stored.id,
                state: stored.state,
                what: "handoff changes",
            }),
        }
    }
}

impl SessionRequest for SetFallback {
    type Output = Session;

    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Session, EngineError> {
        match restarting_in {
            Some(_) => queue_without_actor(&stored, restarting_in),
            None => Err(EngineError::SessionNotAccepting { session: stored.id, state: stored.state, what: "changes" }),
        }
    }
}

impl SessionRequest for Ask<Inbox> {
    type Output = InboxItems;

    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<InboxItems, EngineError> {
        match restarting_in {
            Some(_) => queue_without_actor(&stored, restarting_in),
            // An ended session has no open handoffs and hands out no observations.
            None => Ok(InboxItems::default()),
        }
    }
}

impl Handles<Ask<CreateHandoff>> for SessionActor {
    type Reply = Reply<Handoff>;

    /// A handoff for an agent by id is written routed; one for a role is
    /// routed first (the supervisor picks or spawns its agent) and written
    /// once, routed or waiting. Either way the answer comes once it is durable.
    fn handle(&mut self, Ask(request): Ask<CreateHandoff>, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let handoff = match self.touch(now).and_then(|()| self.new_handoff(request, now)) {
            Ok(handoff) => handoff,
            Err(err) => return refused(err),
        };
        let HandoffTarget::Role(role) = handoff.route_to.clone() else {
            return match self.write_new(&handoff) {
                Ok(commit) => {
                    let commit = self.deliver_after(commit, vec![handoff.clone()], ctx);
                    self.serve_inboxes(now, ctx);
                    Box::pin(wrap_future(async move {
                        commit.await?;
                        Ok(handoff)
                    }))
                }
                Err(err) => refused(err),
            };
        };
        let (answer, answered) = oneshot::channel();
        let pick = PickAgents {
            session: self.session.id,
            busy: self.handoffs.busy(),
            wants: vec![Want { role, exclude: Vec::new(), spawn: true }],
        };
        // Held until routed, so no other message sees the new handoff half-done.
        ctx.wait(wrap_future::<_, Self>(self.parent.pick_agents.send(pick)).map(move |picked, act, ctx| {
            let mut handoff = handoff;
            match picked {
                Ok(Ok(picks)) => match picks.first() {
                    Some(&Pick::Agent(agent)) => {
                        let note = format!("routed to agent {agent} of {}", handoff.route_to);
                        // Initiated, as it was just made: assigning cannot be refused.
                        let _ = handoff.assign(Some(agent), act.engine.clock.now(), Some(note));
                    }
                    // Its answer says so, rather than leave it to wait in silence.
                    Some(Pick::Nobody) => handoff.history[0].note = Some(nobody_note(&handoff.route_to)),
                    Some(Pick::Wait) | None => {}
                },
                Ok(Err(err)) => warn!(session_id = %act.session.id, cause = %err, "cannot route a new handoff"),
                Err(err) => warn!(session_id = %act.session.id, cause = %err, "the supervisor did not answer"),
            }
            match act.write_new(&handoff) {
                Ok(commit) => {
                    let commit = act.deliver_after(commit, vec![handoff.clone()], ctx);
                    act.serve_inboxes(act.engine.clock.now(), ctx);
                    ctx.spawn(wrap_future(async move {
                        let _ = answer.send(commit.await.map(|()| handoff).map_err(EngineError::from));
                    }));
                }
                Err(err) => drop(answer.send(Err(err))),
            }
        }));
        let actor = self.actor();
        Box::pin(wrap_future(async move { answered.await.unwrap_or(Err(EngineError::ActorCrashed { actor })) }))
    }
}

impl Handles<Ask<UpdateHandoff>> for SessionActor {
    type Reply = Reply<Handoff>;

    fn handle(&mut self, Ask(request): Ask<UpdateHandoff>, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        match self.update(request, now) {
            Ok((handoff, commit)) => {
                if let Err(err) = self.touch(now) {
                    warn!(session_id = %self.session.id, cause = %err, "activity not recorded");
                }
                if !handoff.is_open() {
                    // Its agent may be free for a handoff that waits.
                    self.route_pending(Vec::new(), ctx);
                }
                Box::pin(wrap_future(async move {
                    commit.await?;
                    Ok(handoff)
                }))
            }
            Err(err) => refused(err),
        }
    }
}

impl Handles<SetFallback> for SessionActor {
    type Reply = Reply<Session>;

    fn handle(&mut self, SetFallback { fallback, .. }: SetFallback, _: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let change = (|| {
            self.accepting(&[SessionState::Active, SessionState::Idle], "changes")?;
            match &fallback {
                Some(HandoffTarget::Agent(agent)) => drop(self.session_agent(*agent)?),
                Some(HandoffTarget::Role(role)) if role.trim().is_empty() => {
                    return Err(EngineError::InvalidRequest("a fallback role must not be empty".into()));
                }
                _ => {}
            }
            let mut next = self.session.clone();
            next.fallback = fallback;
            next.updated_at = now;
            self.save(next, now, Vec::new())
        })();
        let session = self.session.clone();
        Box::pin(wrap_future(async move {
            change?.await?;
            Ok(session)
        }))
    }
}

impl Handles<Ask<Inbox>> for SessionActor {
    type Reply = Awaited<Result<InboxItems, EngineError>>;

    /// Answers at once, or parks the read until something arrives or the
    /// wait ends; a parked read whose caller hangs up is dropped unserved.
    fn handle(&mut self, Ask(inbox): Ask<Inbox>, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let outcome = self
            .accepting(&[SessionState::Active, SessionState::Idle, SessionState::Closing], "inbox requests")
            .and_then(|()| self.touch(now))
            .and_then(|()| self.inbox_now(&inbox, now));
        match outcome {
            Ok(Some((items, commit))) => Awaited::new(async move {
                commit.await?;
                Ok(items)
            }),
            Ok(None) if inbox.wait.is_zero() => Awaited::ready(Ok(InboxItems::default())),
            Ok(None) => {
                let (answer, answered) = oneshot::channel();
                let wait = inbox.wait;
                self.handoffs.next_waiter += 1;
                let id = self.handoffs.next_waiter;
                let timer = ctx.spawn(wrap_future::<_, Self>(self.engine.clock.sleep(wait)).map(move |(), act, _| {
                    if let Some(waiter) = act.handoffs.remove_inbox(id) {
                        let _ = waiter.answer.send(Ok(InboxItems::default()));
                    }
                }));
                self.handoffs.inboxes.push_back(InboxWaiter { id, inbox, answer, timer: Some(timer) });
                let actor = self.actor();
                let hang_up = HangUpGuard::new(ctx.address().recipient(), Wait::Inbox(id));
                Awaited::new(async move {
                    let answer = answered.await.unwrap_or(Err(EngineError::ActorCrashed { actor }));
                    hang_up.answered();
                    answer
                })
            }
            Err(err) => Awaited::ready(Err(err)),
        }
    }
}

impl Handles<AgentGone> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = ();

    fn handle(&mut self, AgentGone(agent): AgentGone, ctx: &mut Context<Self>) {
        if self.session.is_open() && !self.retiring {
            self.agent_gone(agent, ctx);
        }
    }
}
