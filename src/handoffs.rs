//! Handoffs, through the library handle.
//!
//! A handoff passes work from one agent (or from outside) to another agent of
//! the same session, or to whichever agent of a role is free:
//! [`create_handoff`](Baton::create_handoff) routes it, the receiving agent
//! finds it in its [`inbox`](Baton::inbox) and moves it along with
//! [`update_handoff`](Baton::update_handoff) (acknowledge, start, complete or
//! fail), and the sender may cancel it. Every step is durable before it is
//! answered, and timestamped in the handoff's history.

use baton_actors::messages::{Ask, GetHandoff, GetHandoffStats, SetFallback};
use baton_actors::model::{Handoff, HandoffId, HandoffStats, HandoffTarget, Session, SessionId};
use baton_actors::requests::{CreateHandoff, Inbox, InboxItems, ListHandoffs, UpdateHandoff};

use crate::Baton;
use crate::error::Result;

impl Baton {
    /// Creates a handoff and routes it: answers with its record once durable,
    /// assigned to an agent when one was found (or spawned from the role's
    /// template), else initiated and waiting for one.
    pub async fn create_handoff(&self, create: CreateHandoff) -> Result<Handoff> {
        self.ask(Ask(create)).await
    }

    /// The handoff with this id.
    pub async fn handoff(&self, id: HandoffId) -> Result<Handoff> {
        self.ask(GetHandoff(id)).await
    }

    /// The handoffs that `list` selects, oldest first within a session.
    pub async fn handoffs(&self, list: ListHandoffs) -> Result<Vec<Handoff>> {
        self.ask(Ask(list)).await
    }

    /// Takes a step on a handoff (acknowledge, start, complete, fail, cancel);
    /// answers with its record once the step is durable.
    pub async fn update_handoff(&self, update: UpdateHandoff) -> Result<Handoff> {
        self.ask(Ask(update)).await
    }

    /// Handoff metrics of one session, or of every session.
    pub async fn handoff_stats(&self, session: Option<SessionId>) -> Result<HandoffStats> {
        self.ask(GetHandoffStats { session }).await
    }

    /// Sets where the open handoffs of a session's agent that stops for good
    /// go (an agent or a role); `None` sends them back to be routed anew.
    pub async fn set_fallback(&self, session: SessionId, fallback: Option<HandoffTarget>) -> Result<Session> {
        self.ask(SetFallback { session, fallback }).await
    }

    /// What waits for an agent: handoffs routed to it and not yet
    /// acknowledged and, when the read claims ([`Inbox::claim`]),
    /// observations of its session leased to it; with a wait, answers when
    /// something arrives or the wait ends.
    pub async fn inbox(&self, inbox: Inbox) -> Result<InboxItems> {
        self.ask(Ask(inbox)).await
    }
}
