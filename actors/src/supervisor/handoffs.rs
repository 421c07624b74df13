//! The supervisor's side of handoffs: routing requests to the session that
//! owns a handoff, reading handoffs and their metrics from the store, picking
//! (or spawning) agents for a session's routing pass, delivering routed
//! handoffs to agents' actors, and telling sessions when an agent's run is over.
//!
//! Picking lives here because the supervisor knows every agent: which run,
//! which wait for a slot, and whether a slot is free to spawn one more from a
//! role's template.

use std::collections::HashSet;

use actix::prelude::*;
use tracing::{debug, warn};

use super::children::Slot;
use super::{Reply, Supervisor, ready};
use crate::awaited::Awaited;
use crate::error::EngineError;
use crate::messages::{Ask, GetHandoff, GetHandoffStats, SetFallback};
use crate::model::bounds;
use crate::model::{AgentId, AgentState, EventKind, Handoff, HandoffStats, Lifecycle, Session, SessionId};
use crate::protocol::{AgentGone, DeliverHandoff, HandoffDelivered, Pick, PickAgents, Want};
use crate::requests::{CreateHandoff, Inbox, InboxItems, ListHandoffs, UpdateHandoff};

impl Supervisor {
    /// An idle agent of `role` in `session` (running first, then one about to
    /// run), or a new one from the role's template while a slot is free.
    fn pick_agent(
        &mut self,
        session: SessionId,
        want: &Want,
        busy: &HashSet<AgentId>,
        ctx: &mut Context<Self>,
    ) -> Pick {
        let free = |id: &AgentId| !busy.contains(id) && !want.exclude.contains(id);
        let mut about_to_run = None;
        let holding = self.agents.children.iter().filter(|(_, child)| {
            child.meta.session == session && child.meta.role.as_deref() == Some(want.role.as_str())
        });
        let mut holding: Vec<AgentId> = holding
            .filter(|(id, child)| free(id) && matches!(child.slot, Slot::Running(_)))
            .map(|(id, _)| *id)
            .collect();
        // Oldest first (ids are UUIDv7), so the pick does not depend on hashing.
        holding.sort_unstable();
        for id in holding {
            match self.engine.store.agent(id) {
                Ok(Some(agent)) if agent.state == AgentState::Running => return Pick::Agent(id),
                Ok(Some(agent)) if matches!(agent.state, AgentState::Starting | AgentState::Backoff) => {
                    about_to_run = about_to_run.or(Some(id));
                }
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read an agent to route to"),
            }
        }
        if let Some(id) = about_to_run {
            return Pick::Agent(id);
        }
        let waiting: Vec<AgentId> =
            self.agents.waiting.iter().filter(|(id, of)| *of == session && free(id)).map(|(id, _)| *id).collect();
        for id in waiting {
            match self.engine.store.agent(id) {
                Ok(Some(agent)) if agent.role.as_deref() == Some(want.role.as_str()) => return Pick::Agent(id),
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read an agent to route to"),
            }
        }
        if !want.spawn {
            return Pick::Wait;
        }
        let Some(template) = self.engine.config.agents.roles.get(&want.role).cloned() else {
            return if self.has_live_agent(session, &want.role) { Pick::Wait } else { Pick::Nobody };
        };
        if !self.has_slot(session) {
            return Pick::Wait;
        }
        let mut agent = template.agent(&want.role, session, self.engine.clock.now());
        agent.spec.cwd = agent.spec.cwd.or_else(|| self.session_cwd(session));
        let id = agent.id;
        let spawned = EventKind::AgentStateChanged {
            agent: id,
            from: AgentState::Queued,
            to: AgentState::Queued,
            reason: Some(format!("spawned from role {}'s template for a handoff", want.role)),
        };
        // Its record is written now; the session's commit, requested later, covers it.
        let launched = self.enqueue(agent, vec![spawned], ctx);
        ctx.spawn(actix::fut::wrap_future(async move {
            if let Err(err) = launched.await {
                warn!(agent_id = %id, cause = %err, "an agent spawned for a handoff did not start");
            }
        }));
        Pick::Agent(id)
    }

    /// Whether `session` has an agent of `role` whose run is not over: one
    /// that may become free for a handoff that waits.
    fn has_live_agent(&self, session: SessionId, role: &str) -> bool {
        let holding = self.agents.children.values().any(|child| {
            child.meta.session == session
                && child.meta.role.as_deref() == Some(role)
                && !matches!(child.slot, Slot::Retiring { .. })
        });
        holding
            || self.agents.waiting.iter().filter(|(_, of)| *of == session).any(|(id, _)| {
                self.engine.store.agent(*id).ok().flatten().is_some_and(|agent| agent.role.as_deref() == Some(role))
            })
    }

    /// Tells `session`'s actor, if it runs, that `agent`'s run is over.
    pub(super) fn agent_gone(&mut self, agent: AgentId, session: SessionId) {
        if let Some(super::SessionChild { slot: super::Slot::Running(addr), .. }) = self.sessions.get(&session) {
            addr.do_send(AgentGone(agent));
        }
    }
}

impl Handler<PickAgents> for Supervisor {
    type Result = Result<Vec<Pick>, EngineError>;

    fn handle(&mut self, PickAgents { session, mut busy, wants }: PickAgents, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Err(EngineError::ShuttingDown);
        }
        let mut picks = Vec::with_capacity(wants.len());
        for want in &wants {
            let pick = self.pick_agent(session, want, &busy, ctx);
            busy.extend(pick.agent());
            picks.push(pick);
        }
        Ok(picks)
    }
}

impl Handler<DeliverHandoff> for Supervisor {
    type Result = ();

    fn handle(&mut self, DeliverHandoff(handoff): DeliverHandoff, _: &mut Context<Self>) {
        let Some(agent) = handoff.assigned else { return };
        match self.agents.children.get(&agent).map(|child| &child.slot) {
            Some(Slot::Running(addr)) => addr.do_send(HandoffDelivered(handoff)),
            _ => {
                debug!(agent_id = %agent, handoff_id = %handoff.id, "handoff waits in the inbox of an agent without an actor")
            }
        }
    }
}

impl Handler<Ask<CreateHandoff>> for Supervisor {
    type Result = Reply<Handoff>;

    fn handle(&mut self, create: Ask<CreateHandoff>, ctx: &mut Context<Self>) -> Self::Result {
        self.deliver(create.0.session, create, ctx)
    }
}

impl Handler<Ask<UpdateHandoff>> for Supervisor {
    type Result = Reply<Handoff>;

    /// An ended handoff is refused here: its session may have no actor.
    fn handle(&mut self, Ask(update): Ask<UpdateHandoff>, ctx: &mut Context<Self>) -> Self::Result {
        let Some(summary) = self.engine.store.handoff_summary(update.id) else {
            return ready(Err(EngineError::HandoffNotFound(update.id)));
        };
        if summary.state.is_terminal() {
            let refused = summary.state.transition(update.action.target()).err().map(|refused| refused.of(update.id));
            return ready(Err(refused.map_or(EngineError::HandoffNotFound(update.id), Into::into)));
        }
        self.deliver(summary.session, Ask(update), ctx)
    }
}

impl Handler<SetFallback> for Supervisor {
    type Result = Reply<Session>;

    fn handle(&mut self, set: SetFallback, ctx: &mut Context<Self>) -> Self::Result {
        self.deliver(set.session, set, ctx)
    }
}

impl Handler<Ask<Inbox>> for Supervisor {
    type Result = Awaited<Result<InboxItems, EngineError>>;

    /// Dropped once the caller hangs up, like a claim (see [`Awaited`]): an
    /// inbox wait then leases nothing.
    fn handle(&mut self, Ask(inbox): Ask<Inbox>, ctx: &mut Context<Self>) -> Self::Result {
        let checked = bounds::WAIT.check(inbox.wait).and_then(|_| match inbox.claim {
            None => Ok(()),
            Some(claim) => bounds::CLAIM_MAX
                .check(u64::try_from(claim.max).unwrap_or(u64::MAX))
                .and(bounds::LEASE.check(claim.lease))
                .map(drop),
        });
        if let Err(err) = checked {
            return Awaited::ready(Err(err));
        }
        match self.stored_agent(inbox.agent) {
            Ok(agent) => Awaited::new(self.deliver(agent.session, Ask(inbox), ctx)),
            Err(err) => Awaited::ready(Err(err)),
        }
    }
}

impl Handler<GetHandoff> for Supervisor {
    type Result = Result<Handoff, EngineError>;

    fn handle(&mut self, GetHandoff(id): GetHandoff, _: &mut Context<Self>) -> Self::Result {
        self.engine.store.handoff(id)?.ok_or(EngineError::HandoffNotFound(id))
    }
}

impl Handler<Ask<ListHandoffs>> for Supervisor {
    type Result = Result<Vec<Handoff>, EngineError>;

    fn handle(&mut self, Ask(list): Ask<ListHandoffs>, _: &mut Context<Self>) -> Self::Result {
        let ListHandoffs { session, state, agent } = list;
        if let Some(session) = session {
            self.stored(session)?;
        }
        let mut handoffs = self.engine.store.handoffs(session)?;
        handoffs.retain(|handoff| {
            state.is_none_or(|state| handoff.state == state)
                && agent.is_none_or(|agent| handoff.from == Some(agent) || handoff.assigned == Some(agent))
        });
        Ok(handoffs)
    }
}

impl Handler<GetHandoffStats> for Supervisor {
    type Result = Result<HandoffStats, EngineError>;

    fn handle(&mut self, GetHandoffStats { session }: GetHandoffStats, _: &mut Context<Self>) -> Self::Result {
        if let Some(session) = session {
            self.stored(session)?;
        }
        Ok(self.engine.store.handoff_stats(session)?)
    }
}
