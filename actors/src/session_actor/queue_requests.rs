//! The session actor's observation queue: enqueue, claim (with long-polling
//! waiters), ack, nack, requeue, and lapsed leases on watchdog ticks.
//!
//! Every change is one atomic queue write; the answer waits for a commit that
//! covers it, so an enqueue that was answered survives `kill -9`. The index in
//! [`QueueIndex`](crate::queue_index::QueueIndex) is updated only after the store took the
//! write. A request that would change several observations checks all of them
//! first: it changes all or nothing.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::hang_up::{HangUpGuard, Wait};
use super::{Handles, Preamble, SessionActor, SessionRequest, queue_without_actor};
use crate::awaited::Awaited;
use crate::clock::to_chrono;
use crate::error::EngineError;
use crate::messages::{AckObservations, ClaimObservations, NackObservations, Observe, RequeueObservations};
use crate::model::bounds;
use crate::model::{
    AckReport, Enqueued, EventKind, InvalidPayload, NewEvent, NewObservation, Observation, ObservationState,
    PendingObservation, QueueStats, Session, SessionState,
};
use crate::protocol::FeedLine;
use crate::queue_index::Standing;
use crate::requests::Selection;
use crate::store::{Commit, QueueOp};

type ClaimAnswer = oneshot::Sender<Result<Vec<Observation>, EngineError>>;

/// Consumers waiting, oldest first, for observations to claim.
#[derive(Default)]
pub(super) struct Waiters {
    next_id: u64,
    waiting: VecDeque<Waiter>,
}

pub(super) struct Waiter {
    id: u64,
    claim: ClaimObservations,
    /// Closed once the consumer hung up: it is then handed nothing.
    answer: ClaimAnswer,
    /// The timer that ends the wait; cancelled when the wait is answered sooner.
    pub(super) timer: Option<SpawnHandle>,
}

impl Waiters {
    fn push(&mut self, claim: ClaimObservations, answer: ClaimAnswer) -> u64 {
        self.next_id += 1;
        self.waiting.push_back(Waiter { id: self.next_id, claim, answer, timer: None });
        self.next_id
    }

    fn set_timer(&mut self, id: u64, timer: SpawnHandle) {
        if let Some(waiter) = self.waiting.iter_mut().find(|waiter| waiter.id == id) {
            waiter.timer = Some(timer);
        }
    }

    pub(super) fn remove(&mut self, id: u64) -> Option<Waiter> {
        let index = self.waiting.iter().position(|waiter| waiter.id == id)?;
        self.waiting.remove(index)
    }

    /// Whether a consumer still waits (one that hung up does not count).
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.iter().all(|waiter| waiter.answer.is_closed())
    }

    /// Ends every wait with an empty claim.
    pub(super) fn release_all(&mut self) {
        for waiter in self.waiting.drain(..) {
            let _ = waiter.answer.send(Ok(Vec::new()));
        }
    }
}

/// Enqueues taken and not yet written, in order, with the callers waiting.
///
/// The actor writes the enqueues it takes one after another as one batch
/// ([`Store::enqueue`](crate::store::Store::enqueue): a store writes a batch
/// far more cheaply than each on its own) with one commit: once its mailbox
/// is empty, or before it handles any other message, so every other message
/// sees them written ([`SessionActor::write_enqueued`]). A caller is
/// answered once the commit covers its enqueue.
#[derive(Default)]
pub(super) struct Unwritten {
    observations: Vec<PendingObservation>,
    /// Each caller, with what it is told once its observation is durable.
    answers: Vec<(Enqueued, EnqueueAnswer)>,
}

/// Where an enqueue's answer goes.
type EnqueueAnswer = oneshot::Sender<Result<Enqueued, EngineError>>;

impl Unwritten {
    fn len(&self) -> u64 {
        u64::try_from(self.observations.len()).unwrap_or(u64::MAX)
    }

    fn seq_of_key(&self, key: &str) -> Option<u64> {
        self.observations.iter().find(|observation| observation.key.as_deref() == Some(key)).map(|o| o.seq)
    }
}

type Reply<T> = ResponseFuture<Result<T, EngineError>>;

fn after_commit<T: Send + 'static>(commit: Commit, value: T) -> Reply<T> {
    Box::pin(async move {
        commit.await?;
        Ok(value)
    })
}

fn refused<T: Send + 'static>(err: EngineError) -> Reply<T> {
    Box::pin(std::future::ready(Err(err)))
}

impl SessionActor {
    /// Writes `ops` (and `events`) to the queue, updates the index, and
    /// returns the commit to wait for.
    pub(super) fn write_queue(&mut self, ops: Vec<QueueOp>, events: Vec<EventKind>) -> Result<Commit, EngineError> {
        let now = self.engine.clock.now();
        let write = self.queue.write(ops);
        let events = events.into_iter().map(|kind| NewEvent::session(self.session.id, now, kind)).collect();
        self.engine.store.write_queue(self.session.id, &write, events)?;
        self.queue.apply(&write);
        Ok(self.engine.store.commit())
    }

    /// Writes the enqueues taken so far as one batch, and answers their
    /// callers once a commit covers it (at once, with the error, if the
    /// store refused it). Every message but an enqueue runs this first (see
    /// [`Preamble`](super::Preamble)).
    pub(super) fn write_enqueued(&mut self, ctx: &mut Context<Self>) {
        if self.unwritten.observations.is_empty() {
            return;
        }
        let Unwritten { observations, answers } = std::mem::take(&mut self.unwritten);
        let commit = match self.engine.store.enqueue(&observations) {
            Ok(commit) => commit,
            Err(err) => {
                let err = EngineError::from(err);
                warn!(session_id = %self.session.id, cause = %err, "enqueues not written");
                for (_, answer) in answers {
                    let _ = answer.send(Err(err.clone()));
                }
                return;
            }
        };
        self.queue.enqueued(&observations);
        // Agents with a stdin pipe get them too, once durable.
        let piped = self.engine.feeds.any(self.session.id).then_some(observations);
        let feeds = self.engine.feeds.clone();
        // A task of its own, not the actor's: the answers outlive a crash of the actor.
        actix_rt::spawn(async move {
            let result = commit.await.map_err(EngineError::from);
            for (enqueued, answer) in answers {
                let _ = answer.send(result.clone().map(|()| enqueued));
            }
            if result.is_ok() {
                for observation in piped.into_iter().flatten() {
                    feeds.send(observation.session, || FeedLine::observation(&observation.to_observation()));
                }
            }
        });
        self.serve_waiters(self.engine.clock.now(), ctx);
    }

    /// The stored record of a live observation.
    fn record(&self, seq: u64) -> Result<Observation, EngineError> {
        self.engine
            .store
            .observation(self.session.id, seq)?
            .ok_or(EngineError::ObservationNotFound { session: self.session.id, seq })
    }

    /// Refuses a queue change unless the session is open; `what` names it.
    pub(super) fn accepting(&self, states: &[SessionState], what: &'static str) -> Result<(), EngineError> {
        if states.contains(&self.session.state) {
            Ok(())
        } else {
            Err(EngineError::SessionNotAccepting { session: self.session.id, state: self.session.state, what })
        }
    }

    /// Refuses a payload (an observation's, a handoff's, a result) that the
    /// store should not keep: `size` bytes of JSON over the limit, or one
    /// that would not read back, for the reason `invalid` gives.
    pub(super) fn check_payload(&self, size: usize, invalid: Option<&InvalidPayload>) -> Result<(), EngineError> {
        let limit = self.engine.config.queue.max_payload_bytes;
        if size > limit {
            return Err(EngineError::PayloadTooLarge { size, limit });
        }
        invalid.map_or(Ok(()), |invalid| Err(EngineError::InvalidPayload(invalid.clone())))
    }

    /// Leases what `claim` may take now; `None` when nothing is available.
    pub(super) fn claim_now(
        &mut self,
        claim: &ClaimObservations,
        now: DateTime<Utc>,
    ) -> Result<Option<(Vec<Observation>, Commit)>, EngineError> {
        let seqs = self.queue.claimable(claim.max, now);
        if seqs.is_empty() {
            return Ok(None);
        }
        let until = now + to_chrono(claim.lease);
        let mut claimed = Vec::with_capacity(seqs.len());
        for (seq, record) in seqs.iter().zip(self.engine.store.observations_at(self.session.id, &seqs)?) {
            let mut record = record.ok_or(EngineError::ObservationNotFound { session: self.session.id, seq: *seq })?;
            record.lease_to(claim.consumer.clone(), until, now)?;
            claimed.push(record);
        }
        let commit = self.write_queue(claimed.iter().cloned().map(QueueOp::Put).collect(), Vec::new())?;
        Ok(Some((claimed, commit)))
    }

    /// Hands available observations to waiting consumers, oldest waiter first.
    pub(super) fn serve_waiters(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        while let Some(waiter) = self.waiters.waiting.front() {
            // Checked as it would be served: a consumer that hung up gets no lease.
            if waiter.answer.is_closed() {
                if let Some(timer) = self.waiters.waiting.pop_front().and_then(|waiter| waiter.timer) {
                    ctx.cancel_future(timer);
                }
                continue;
            }
            if !self.queue.has_available(now) {
                break;
            }
            let Some(mut waiter) = self.waiters.waiting.pop_front() else { break };
            match self.claim_now(&waiter.claim, now) {
                Ok(Some((claimed, commit))) => {
                    if let Some(timer) = waiter.timer.take() {
                        ctx.cancel_future(timer);
                    }
                    ctx.spawn(wrap_future(async move {
                        let _ = waiter.answer.send(commit.await.map(|()| claimed).map_err(EngineError::from));
                    }));
                }
                Ok(None) => {
                    self.waiters.waiting.push_front(waiter);
                    break;
                }
                Err(err) => {
                    if let Some(timer) = waiter.timer.take() {
                        ctx.cancel_future(timer);
                    }
                    let _ = waiter.answer.send(Err(err));
                    break;
                }
            }
        }
        // Agents waiting on their inbox take observations too.
        if self.queue.has_available(now) {
            self.serve_inboxes(now, ctx);
        }
    }

    /// Returns observations whose lease lapsed to the queue, or sets them
    /// aside as dead once they have had their attempts.
    pub(super) fn return_lapsed(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        let lapsed = self.queue.lapsed(now);
        if lapsed.is_empty() {
            return;
        }
        let result = lapsed
            .into_iter()
            .map(|seq| {
                let mut record = self.record(seq)?;
                self.give_back(&mut record, now, None, "its lease lapsed")
            })
            .collect::<Result<Vec<_>, EngineError>>()
            .and_then(|changes| {
                let (ops, events) = changes.into_iter().unzip::<_, _, Vec<_>, Vec<_>>();
                self.write_queue(ops, events.into_iter().flatten().collect())
            });
        match result {
            Ok(commit) => self.commit_in_background(commit, "lapsed leases", ctx),
            Err(err) => warn!(session_id = %self.session.id, cause = %err, "cannot return lapsed leases"),
        }
    }

    /// Gives a leased observation back to the queue (after `delay`, if any),
    /// or buries it when it has had its attempts; returns the change and the
    /// event that reports a burial.
    fn give_back(
        &self,
        record: &mut Observation,
        now: DateTime<Utc>,
        delay: Option<Duration>,
        why: &str,
    ) -> Result<(QueueOp, Option<EventKind>), EngineError> {
        let max_attempts = self.engine.config.queue.max_attempts;
        if record.attempts >= max_attempts {
            let reason = format!("{why} after {} attempts (max {max_attempts})", record.attempts);
            info!(session_id = %self.session.id, seq = record.seq, %reason, "observation set aside as dead");
            record.bury(now, reason.clone())?;
            let event = EventKind::ObservationDead { observation_seq: record.seq, attempts: record.attempts, reason };
            Ok((QueueOp::Put(record.clone()), Some(event)))
        } else {
            record.release(now, delay.filter(|delay| !delay.is_zero()).map(|delay| now + to_chrono(delay)))?;
            Ok((QueueOp::Put(record.clone()), None))
        }
    }

    /// Checks that every one of `seqs` is leased (to `consumer`, when named);
    /// returns them in order without repeats, and those already acked apart.
    fn leased(&self, seqs: &[u64], consumer: Option<&str>) -> Result<(Vec<u64>, Vec<u64>), EngineError> {
        if seqs.is_empty() {
            return Err(EngineError::InvalidRequest("name at least one observation by its sequence number".into()));
        }
        let mut leased = Vec::new();
        let mut settled = Vec::new();
        for seq in seqs.iter().copied().collect::<BTreeSet<u64>>() {
            match self.queue.standing(seq) {
                Standing::Live(ObservationState::Leased, holder) => match (holder, consumer) {
                    (Some(holder), Some(consumer)) if holder != consumer => {
                        return Err(EngineError::LeaseHeldByOther { seq, holder, consumer: consumer.to_owned() });
                    }
                    _ => leased.push(seq),
                },
                Standing::Live(state, _) => {
                    return Err(EngineError::WrongObservationState { seq, state, expected: ObservationState::Leased });
                }
                Standing::Settled => settled.push(seq),
                Standing::Unknown => return Err(EngineError::ObservationNotFound { session: self.session.id, seq }),
            }
        }
        Ok((leased, settled))
    }

    /// After a change that may free a summarize marker or empty the queue.
    fn after_settling(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        self.serve_waiters(now, ctx);
        self.finish_drain(now, ctx);
    }
}

/// Without an actor a queue request gets [`queue_without_actor`]'s answer:
/// retry later while the actor restarts, refused once the session ended.
macro_rules! queue_requests {
    ($($message:ty => $output:ty),* $(,)?) => {$(
        impl SessionRequest for $message {
            type Output = $output;

            fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<$output, EngineError> {
                queue_without_actor(&stored, restarting_in)
            }
        }
    )*};
}

queue_requests! {
    Observe => Enqueued,
    ClaimObservations => Vec<Observation>,
    AckObservations => AckReport,
    NackObservations => Vec<Observation>,
    RequeueObservations => Vec<Observation>,
}

impl Handles<Observe> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Enqueue;
    type Reply = Reply<Enqueued>;

    /// Takes the enqueue; it is written with the others taken in a row (see
    /// [`Unwritten`]) and answered once a commit covers it.
    fn handle(&mut self, Observe { observation, .. }: Observe, ctx: &mut Context<Self>) -> Self::Reply {
        let (answer, answered) = oneshot::channel();
        let actor = self.actor();
        self.enqueue(observation, answer, ctx);
        Box::pin(async move { answered.await.unwrap_or(Err(EngineError::ActorCrashed { actor })) })
    }
}

impl SessionActor {
    /// Takes an enqueue: checks it, numbers it and leaves it for
    /// [`write_enqueued`](Self::write_enqueued); the answer goes to `answer`
    /// (at once if refused, or for a key already written, once durable).
    fn enqueue(&mut self, observation: NewObservation, answer: EnqueueAnswer, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let taken = (|| -> Result<Taken, EngineError> {
            self.accepting(&[SessionState::Active, SessionState::Idle], "new observations")?;
            self.check_payload(observation.payload_size(), observation.invalid.as_ref())?;
            self.touch(now)?;
            if let Some(key) = observation.key.as_deref() {
                if let Some(seq) = self.unwritten.seq_of_key(key) {
                    return Ok(Taken::Unwritten(Enqueued { seq, duplicate: true }));
                }
                if let Some(seq) = self.queue.seq_for_key(key) {
                    return Ok(Taken::Written(Enqueued { seq, duplicate: true }));
                }
            }
            let seq = self.queue.stats().next_seq + self.unwritten.len();
            if self.unwritten.observations.is_empty() {
                // Written once the mailbox is empty, with what came in meanwhile.
                ctx.spawn(actix::fut::ready(()).map(|(), act: &mut Self, ctx| act.write_enqueued(ctx)));
            }
            self.unwritten.observations.push(PendingObservation::new(self.session.id, seq, observation, now));
            Ok(Taken::Unwritten(Enqueued { seq, duplicate: false }))
        })();
        match taken {
            // Answered once the first post is durable, which it may not be yet.
            Ok(Taken::Written(enqueued)) => {
                let answered = after_commit(self.engine.store.commit(), enqueued);
                actix_rt::spawn(async move {
                    let _ = answer.send(answered.await);
                });
            }
            Ok(Taken::Unwritten(enqueued)) => self.unwritten.answers.push((enqueued, answer)),
            Err(err) => {
                let _ = answer.send(Err(err));
            }
        }
    }
}

/// Where an enqueue the actor took stands.
enum Taken {
    /// Its observation is in the store (a repeated idempotency key).
    Written(Enqueued),
    /// Its observation waits among the [`Unwritten`] ones.
    Unwritten(Enqueued),
}

impl Handles<ClaimObservations> for SessionActor {
    type Reply = Awaited<Result<Vec<Observation>, EngineError>>;

    /// Claims at once, or parks the claim until observations arrive or the
    /// wait ends; a parked claim whose caller hangs up is dropped unserved.
    fn handle(&mut self, claim: ClaimObservations, ctx: &mut Context<Self>) -> Self::Reply {
        Awaited::new(self.claim(claim, ctx))
    }
}

impl SessionActor {
    fn claim(&mut self, claim: ClaimObservations, ctx: &mut Context<Self>) -> Reply<Vec<Observation>> {
        let now = self.engine.clock.now();
        let checked = bounds::CLAIM_MAX
            .check(u64::try_from(claim.max).unwrap_or(u64::MAX))
            .and(bounds::LEASE.check(claim.lease))
            .and(bounds::WAIT.check(claim.wait));
        if let Err(err) = checked {
            return refused(err);
        }
        if let Err(err) = self
            .accepting(&[SessionState::Active, SessionState::Idle, SessionState::Closing], "claims")
            .and_then(|()| self.touch(now))
        {
            return refused(err);
        }
        match self.claim_now(&claim, now) {
            Ok(Some((claimed, commit))) => after_commit(commit, claimed),
            Ok(None) if claim.wait.is_zero() => after_commit(self.engine.store.commit(), Vec::new()),
            Ok(None) => {
                let (answer, answered) = oneshot::channel();
                let wait = claim.wait;
                let id = self.waiters.push(claim, answer);
                let timer = ctx.spawn(wrap_future::<_, Self>(self.engine.clock.sleep(wait)).map(move |(), act, _| {
                    if let Some(waiter) = act.waiters.remove(id) {
                        let _ = waiter.answer.send(Ok(Vec::new()));
                    }
                }));
                self.waiters.set_timer(id, timer);
                let actor = self.actor();
                let hang_up = HangUpGuard::new(ctx.address().recipient(), Wait::Claim(id));
                Box::pin(async move {
                    let answer = answered.await.unwrap_or(Err(EngineError::ActorCrashed { actor }));
                    hang_up.answered();
                    answer
                })
            }
            Err(err) => refused(err),
        }
    }
}

impl Handles<AckObservations> for SessionActor {
    type Reply = Reply<AckReport>;

    fn handle(&mut self, ack: AckObservations, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let result = (|| {
            self.accepting(&[SessionState::Active, SessionState::Idle, SessionState::Closing], "acks")?;
            let (leased, already_acked) = self.leased(&ack.seqs, ack.consumer.as_deref())?;
            let mut ops = self.queue.evictions(&self.engine.config.queue, leased.len(), now);
            for &seq in &leased {
                let mut record = self.record(seq)?;
                record.ack(now)?;
                ops.push(QueueOp::Put(record));
            }
            let commit =
                if leased.is_empty() { self.engine.store.commit() } else { self.write_queue(ops, Vec::new())? };
            self.touch(now)?;
            Ok((AckReport { acked: leased, already_acked }, commit))
        })();
        match result {
            Ok((report, commit)) => {
                self.after_settling(now, ctx);
                after_commit(commit, report)
            }
            Err(err) => refused(err),
        }
    }
}

impl Handles<NackObservations> for SessionActor {
    type Reply = Reply<Vec<Observation>>;

    fn handle(&mut self, nack: NackObservations, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let result = (|| {
            bounds::NACK_DELAY.check(nack.delay)?;
            self.accepting(&[SessionState::Active, SessionState::Idle, SessionState::Closing], "nacks")?;
            let (leased, settled) = self.leased(&nack.seqs, nack.consumer.as_deref())?;
            if let Some(&seq) = settled.first() {
                let (state, expected) = (ObservationState::Acked, ObservationState::Leased);
                return Err(EngineError::WrongObservationState { seq, state, expected });
            }
            let mut records = Vec::with_capacity(leased.len());
            let mut ops = Vec::with_capacity(leased.len());
            let mut events = Vec::new();
            for seq in leased {
                let mut record = self.record(seq)?;
                let (op, event) = self.give_back(&mut record, now, Some(nack.delay), "nacked")?;
                ops.push(op);
                events.extend(event);
                records.push(record);
            }
            let commit = self.write_queue(ops, events)?;
            self.touch(now)?;
            Ok((records, commit))
        })();
        match result {
            Ok((records, commit)) => {
                self.after_settling(now, ctx);
                after_commit(commit, records)
            }
            Err(err) => refused(err),
        }
    }
}

impl Handles<RequeueObservations> for SessionActor {
    type Reply = Reply<Vec<Observation>>;

    fn handle(&mut self, requeue: RequeueObservations, ctx: &mut Context<Self>) -> Self::Reply {
        let now = self.engine.clock.now();
        let result = (|| {
            self.accepting(&[SessionState::Active, SessionState::Idle, SessionState::Closing], "requeues")?;
            let seqs: Vec<u64> = match requeue.seqs {
                Selection::All => self.queue.in_state(ObservationState::Dead).into_iter().map(|(seq, _)| seq).collect(),
                Selection::Seqs(seqs) if seqs.is_empty() => {
                    return Err(EngineError::InvalidRequest("name the observations to requeue, or all".into()));
                }
                Selection::Seqs(seqs) => seqs.into_iter().collect::<BTreeSet<u64>>().into_iter().collect(),
            };
            for &seq in &seqs {
                match self.queue.standing(seq) {
                    Standing::Live(ObservationState::Dead, _) => {}
                    Standing::Live(state, _) => {
                        return Err(EngineError::WrongObservationState {
                            seq,
                            state,
                            expected: ObservationState::Dead,
                        });
                    }
                    Standing::Settled => {
                        let (state, expected) = (ObservationState::Acked, ObservationState::Dead);
                        return Err(EngineError::WrongObservationState { seq, state, expected });
                    }
                    Standing::Unknown => {
                        return Err(EngineError::ObservationNotFound { session: self.session.id, seq });
                    }
                }
            }
            let mut records = Vec::with_capacity(seqs.len());
            for seq in seqs {
                let mut record = self.record(seq)?;
                record.requeue(now)?;
                records.push(record);
            }
            let commit = if records.is_empty() {
                self.engine.store.commit()
            } else {
                self.write_queue(records.iter().cloned().map(QueueOp::Put).collect(), Vec::new())?
            };
            self.touch(now)?;
            Ok((records, commit))
        })();
        match result {
            Ok((records, commit)) => {
                self.serve_waiters(now, ctx);
                after_commit(commit, records)
            }
            Err(err) => refused(err),
        }
    }
}

/// The queue's exact counts, from the actor (the store's are as of the last
/// batch write).
#[derive(Debug, Message)]
#[rtype(result = "QueueStats")]
pub(crate) struct CurrentQueueStats;

impl Handles<CurrentQueueStats> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = actix::MessageResult<CurrentQueueStats>;

    fn handle(&mut self, _: CurrentQueueStats, _: &mut Context<Self>) -> Self::Reply {
        actix::MessageResult(self.queue.stats())
    }
}
