//! The supervisor's children, sessions' actors and agents' alike: one
//! registry, and one way to take in a child's retirement, exit and crash.
//!
//! A child that crashes is restarted from its record after the backoff its
//! [`SupervisionStrategy`] says, or given up on once it crashed too often
//! within the window. What differs between the two kinds (how a record is
//! read and a new actor started, what giving up writes, what follows an
//! exit) is a [`ChildKind`]; everything else is written once, here.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tracing::{error, warn};

use super::Supervisor;
use crate::clock::to_chrono;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::model::ActorRef;
use crate::protocol::{Exit, Stop};
use crate::store::Commit;
use crate::supervision::{CrashDecision, CrashHistory, SupervisionStrategy};

/// What the supervisor knows of one child.
pub(super) struct Child<A: Actor, Meta> {
    /// This incarnation, so a notice from an older one is ignored.
    pub(super) generation: u64,
    pub(super) slot: Slot<A>,
    /// Recent crashes, for the restart intensity limit.
    history: CrashHistory,
    /// What the supervisor keeps beside it (an agent's session and role).
    pub(super) meta: Meta,
}

/// Where a child's actor stands.
pub(super) enum Slot<A: Actor> {
    /// The actor runs and takes requests.
    Running(Addr<A>),
    /// The actor was told to stop; requests wait here until it has, then are
    /// delivered afresh (to a new actor, or answered from the record).
    Retiring { held: Vec<HeldRequest> },
    /// The actor crashed and restarts at `at`.
    Restarting { at: DateTime<Utc> },
}

/// A request held for delivery once a retiring actor is gone.
pub(super) type HeldRequest = Box<dyn FnOnce(&mut Supervisor, &mut Context<Supervisor>)>;

/// One kind of child: what differs between a session's actor and an agent's.
pub(super) trait ChildKind: 'static {
    /// The id a child of this kind is known by.
    type Id: Copy + Eq + Hash + 'static;
    /// Its actor.
    type Actor: Actor<Context = Context<Self::Actor>> + Handler<Stop>;
    /// What the supervisor keeps beside it.
    type Meta;

    /// The children of this kind.
    fn children(supervisor: &mut Supervisor) -> &mut HashMap<Self::Id, Child<Self::Actor, Self::Meta>>;

    /// How a child of this kind is named in events and logs.
    fn actor_ref(id: Self::Id) -> ActorRef;

    /// When a crashed child of this kind restarts, and when the supervisor gives up.
    fn strategy(engine: &Engine) -> &SupervisionStrategy;

    /// Starts a new actor for a crashed child from its record, after the
    /// `after` backoff of its `attempt`th restart; an error if the record
    /// cannot be read, which counts as another crash.
    fn rebuild(
        supervisor: &mut Supervisor,
        id: Self::Id,
        attempt: u32,
        after: Duration,
        ctx: &mut Context<Supervisor>,
    ) -> Result<(), EngineError>;

    /// Gives up on a child that crashed more often than its strategy
    /// allows: its record says so, with `reason`.
    fn give_up(
        supervisor: &mut Supervisor,
        id: Self::Id,
        meta: Self::Meta,
        reason: String,
        ctx: &mut Context<Supervisor>,
    );

    /// A child's actor is gone, retired or in a shutdown: what follows.
    fn gone(
        supervisor: &mut Supervisor,
        id: Self::Id,
        child: Child<Self::Actor, Self::Meta>,
        exit: Exit,
        ctx: &mut Context<Supervisor>,
    );
}

impl Supervisor {
    /// Takes in a new actor for child `id`: running, as incarnation
    /// `generation` (from [`next_generation`](Self::next_generation)), with
    /// the crash history of the ones before it.
    pub(super) fn register<K: ChildKind>(&mut self, id: K::Id, generation: u64, addr: Addr<K::Actor>, meta: K::Meta) {
        let slot = Slot::Running(addr);
        match K::children(self).get_mut(&id) {
            Some(child) => {
                child.generation = generation;
                child.slot = slot;
                child.meta = meta;
            }
            None => {
                K::children(self).insert(id, Child { generation, slot, history: CrashHistory::default(), meta });
            }
        }
    }

    /// A number for a new incarnation of a child.
    pub(super) fn next_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// A child asks to retire (idle, or its run is over): it is told to stop
    /// after the messages already sent to it; later requests wait in `held`.
    pub(super) fn retire<K: ChildKind>(&mut self, id: K::Id, generation: u64) {
        let Some(child) = K::children(self).get_mut(&id).filter(|child| child.generation == generation) else {
            return;
        };
        if let Slot::Running(addr) = &child.slot {
            addr.do_send(Stop { exit: Exit::Retired });
            child.slot = Slot::Retiring { held: Vec::new() };
        }
    }

    /// A child's actor is gone: `exit` says how.
    pub(super) fn exited<K: ChildKind>(&mut self, id: K::Id, generation: u64, exit: Exit, ctx: &mut Context<Self>) {
        if K::children(self).get(&id).is_none_or(|child| child.generation != generation) {
            return;
        }
        match exit {
            Exit::Crashed if !self.shutting_down => self.crashed::<K>(id, ctx),
            exit => {
                if let Some(child) = K::children(self).remove(&id) {
                    K::gone(self, id, child, exit, ctx);
                }
            }
        }
    }

    /// A child crashed: it restarts after a backoff, or, past its
    /// strategy's limit, is given up on. Requests held for it are delivered
    /// afresh either way.
    fn crashed<K: ChildKind>(&mut self, id: K::Id, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let strategy = *K::strategy(&self.engine);
        let actor = K::actor_ref(id);
        let Some(child) = K::children(self).get_mut(&id) else { return };
        let held = match std::mem::replace(&mut child.slot, Slot::Restarting { at: now }) {
            Slot::Retiring { held } => held,
            Slot::Running(_) | Slot::Restarting { .. } => Vec::new(),
        };
        match child.history.record_crash(now, &strategy) {
            CrashDecision::Restart { attempt, after } => {
                warn!(%actor, attempt, backoff = ?after, "actor crashed; restarting it from its record");
                child.slot = Slot::Restarting { at: now + to_chrono(after) };
                let generation = child.generation;
                ctx.spawn(wrap_future::<_, Self>(self.engine.clock.sleep(after)).map(move |(), act, ctx| {
                    let waiting = K::children(act).get(&id).is_some_and(|child| {
                        child.generation == generation && matches!(child.slot, Slot::Restarting { .. })
                    });
                    if !waiting {
                        return;
                    }
                    if let Err(err) = K::rebuild(act, id, attempt, after, ctx) {
                        error!(%actor, cause = %err, "cannot read the record of a crashed actor");
                        act.crashed::<K>(id, ctx);
                    }
                }));
            }
            CrashDecision::GiveUp { reason } => {
                error!(%actor, %reason, "gave up restarting the actor");
                if let Some(child) = K::children(self).remove(&id) {
                    K::give_up(self, id, child.meta, reason, ctx);
                }
            }
        }
        for request in held {
            request(self, ctx);
        }
    }
}

/// How long until a restarting child is back, as of `now`.
pub(super) fn retry_after(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

/// Waits in the background for `commit`, which no caller waits for (a
/// supervisor's own change about `actor`); a failure is logged.
pub(super) fn commit_in_background(commit: Commit, actor: ActorRef, ctx: &mut Context<Supervisor>) {
    ctx.spawn(wrap_future(async move {
        if let Err(err) = commit.await {
            warn!(%actor, cause = %err, "supervisor change not committed");
        }
    }));
}
