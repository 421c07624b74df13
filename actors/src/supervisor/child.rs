//! How a child actor and its supervisor talk about the child's life.
//!
//! A child may stop three ways: it crashes (a panic in a handler kills its task,
//! and actix will not restart it), it retires (idle or ended, at the
//! supervisor's word), or the engine shuts down. Every child carries a
//! [`DeathNotice`] whose `Drop` tells the supervisor which it was, so even a
//! panic that unwinds through the actor is reported. The notice says
//! [`Exit::Crashed`] unless the child said otherwise before stopping.

use actix::{Message, Recipient};

use crate::model::ActorRef;

/// Why a child actor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It stopped without saying why: a panic unwound through it.
    Crashed,
    /// It stopped at the supervisor's word, because its session went idle or ended.
    Retired,
    /// The engine is shutting down.
    Shutdown,
}

/// Sent by a child's [`DeathNotice`] when the child is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ChildExited {
    pub(crate) actor: ActorRef,
    /// Which incarnation of the child: a notice from an older one is ignored.
    pub(crate) generation: u64,
    pub(crate) exit: Exit,
}

/// A child asks to be stopped: its session went idle or was closed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Retire {
    pub(crate) actor: ActorRef,
    pub(crate) generation: u64,
}

/// The supervisor tells a child to stop, after every message sent to it before.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Stop {
    pub(crate) exit: Exit,
}

/// Reports its child's death to the supervisor when dropped.
pub(crate) struct DeathNotice {
    supervisor: Recipient<ChildExited>,
    actor: ActorRef,
    generation: u64,
    exit: Exit,
}

impl DeathNotice {
    /// A notice that reports a crash unless [`set_exit`](Self::set_exit) says otherwise.
    pub(crate) fn new(supervisor: Recipient<ChildExited>, actor: ActorRef, generation: u64) -> Self {
        Self { supervisor, actor, generation, exit: Exit::Crashed }
    }

    /// Records why the child is about to stop.
    pub(crate) fn set_exit(&mut self, exit: Exit) {
        self.exit = exit;
    }
}

impl Drop for DeathNotice {
    fn drop(&mut self) {
        // Runs during a panic's unwind too; `do_send` only queues a message.
        self.supervisor.do_send(ChildExited { actor: self.actor, generation: self.generation, exit: self.exit });
    }
}
