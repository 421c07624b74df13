//! The session requests the supervisor serves: opening and closing sessions,
//! reading them, and the queue requests it routes to their actors (or answers
//! from the store when no actor needs to run).

use actix::fut::wrap_future;
use actix::prelude::*;
use futures_util::future::join_all;

use super::children::Slot;
use super::sessions::SessionChild;
use super::{Reply, Supervisor, ready};
use crate::awaited::Awaited;
use crate::error::EngineError;
use crate::messages::{
    AckObservations, ClaimObservations, CloseSession, FindSession, GetQueueStats, GetSession, ListObservations,
    ListSessions, NackObservations, Observe, Open, QueueTotals, RequeueObservations,
};
use crate::model::{
    AckReport, Enqueued, EventKind, NewEvent, Observation, QueueStats, Session, SessionId, SessionState,
};
use crate::session_actor::{Close, CurrentQueueStats, Get, Resume};

impl Handler<Open> for Supervisor {
    type Result = Reply<Session>;

    fn handle(&mut self, Open(spec): Open, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return ready(Err(EngineError::ShuttingDown));
        }
        if let Err(err) = crate::model::bounds::SESSION_LIFETIME.check_some(spec.max_lifetime) {
            return ready(Err(err));
        }
        if let Some(external_id) = &spec.external_id {
            match self.engine.store.session_by_external_id(external_id) {
                // Open and taking work: the same session (idempotent open).
                Ok(Some(existing)) if matches!(existing.state, SessionState::Active | SessionState::Idle) => {
                    return self.deliver(existing.id, Resume, ctx);
                }
                // Closing or ended (a Claude Code session resumed after it
                // ended): a new session takes the external id over; the old
                // one keeps its record and drains its queue.
                Ok(_) => {}
                Err(err) => return ready(Err(err.into())),
            }
        }
        let now = self.engine.clock.now();
        let session = Session::open(spec, now);
        let opened = EventKind::SessionOpened { name: session.name.clone(), external_id: session.external_id.clone() };
        if let Err(err) = self.engine.store.save_session(&session, vec![NewEvent::session(session.id, now, opened)]) {
            return ready(Err(err.into()));
        }
        self.start_session(session.clone(), ctx);
        let commit = self.engine.store.commit();
        Box::pin(async move {
            commit.await?;
            Ok(session)
        })
    }
}

impl Handler<GetSession> for Supervisor {
    type Result = Reply<Session>;

    fn handle(&mut self, GetSession(id): GetSession, ctx: &mut Context<Self>) -> Self::Result {
        self.deliver(id, Get, ctx)
    }
}

impl Handler<CloseSession> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Session, EngineError>>;

    /// Closing a session (or starting to drain it) stops its agents: its
    /// actor asks for that ([`StopAgentsOf`]), as any close of it does.
    fn handle(&mut self, CloseSession { id, reason, mode }: CloseSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(wrap_future::<_, Self>(self.deliver(id, Close { reason, mode }, ctx)))
    }
}

/// Queue changes go to the session's actor, which owns the queue.
macro_rules! route_to_session {
    ($($message:ty => $output:ty),* $(,)?) => {$(
        impl Handler<$message> for Supervisor {
            type Result = Reply<$output>;

            fn handle(&mut self, message: $message, ctx: &mut Context<Self>) -> Self::Result {
                self.deliver(message.session, message, ctx)
            }
        }
    )*};
}

route_to_session! {
    Observe => Enqueued,
    AckObservations => AckReport,
    NackObservations => Vec<Observation>,
    RequeueObservations => Vec<Observation>,
}

impl Handler<ClaimObservations> for Supervisor {
    type Result = Awaited<Result<Vec<Observation>, EngineError>>;

    /// Dropped once the caller hangs up, and with it the request to the
    /// session's actor: a claim parked there then leases nothing.
    fn handle(&mut self, claim: ClaimObservations, ctx: &mut Context<Self>) -> Self::Result {
        Awaited::new(self.deliver(claim.session, claim, ctx))
    }
}

impl Handler<ListObservations> for Supervisor {
    type Result = Result<Vec<Observation>, EngineError>;

    fn handle(&mut self, list: ListObservations, _: &mut Context<Self>) -> Self::Result {
        self.stored(list.session)?;
        Ok(self.engine.store.observations(list.session, list.state, list.after, list.limit)?)
    }
}

impl Supervisor {
    /// A session's queue stats: from its actor while one runs (the store's are
    /// as of the last batch write), else from the store, without waking it.
    pub(super) fn queue_stats_of(&self, id: SessionId) -> Reply<QueueStats> {
        if let Some(SessionChild { slot: Slot::Running(addr), .. }) = self.sessions.get(&id) {
            let asked = addr.send(CurrentQueueStats);
            let store = self.engine.store.clone();
            return Box::pin(async move {
                match asked.await {
                    Ok(stats) => Ok(stats),
                    // It stopped meanwhile: what it left in the store.
                    Err(_) => Ok(store.queue_stats(id)?.unwrap_or_else(QueueStats::empty)),
                }
            });
        }
        ready(
            self.engine.store.queue_stats(id).map(|stats| stats.unwrap_or_else(QueueStats::empty)).map_err(Into::into),
        )
    }
}

impl Handler<GetQueueStats> for Supervisor {
    type Result = Reply<QueueStats>;

    fn handle(&mut self, GetQueueStats(id): GetQueueStats, _: &mut Context<Self>) -> Self::Result {
        if let Err(err) = self.stored(id) {
            return ready(Err(err));
        }
        self.queue_stats_of(id)
    }
}

impl Handler<QueueTotals> for Supervisor {
    type Result = Reply<QueueStats>;

    fn handle(&mut self, _: QueueTotals, _: &mut Context<Self>) -> Self::Result {
        let sessions = match self.engine.store.sessions() {
            Ok(sessions) => sessions,
            Err(err) => return ready(Err(err.into())),
        };
        let each: Vec<Reply<QueueStats>> = sessions.iter().map(|session| self.queue_stats_of(session.id)).collect();
        Box::pin(async move {
            let mut totals = QueueStats::default();
            for stats in join_all(each).await {
                totals.add(&stats?);
            }
            Ok(totals)
        })
    }
}

impl Handler<FindSession> for Supervisor {
    type Result = Result<Option<Session>, EngineError>;

    fn handle(&mut self, FindSession { external_id }: FindSession, _: &mut Context<Self>) -> Self::Result {
        Ok(self.engine.store.session_by_external_id(&external_id)?)
    }
}

impl Handler<ListSessions> for Supervisor {
    type Result = Result<Vec<Session>, EngineError>;

    fn handle(&mut self, ListSessions { state }: ListSessions, _: &mut Context<Self>) -> Self::Result {
        let mut sessions = self.engine.store.sessions()?;
        sessions.retain(|session| state.is_none_or(|state| session.state == state));
        Ok(sessions)
    }
}
