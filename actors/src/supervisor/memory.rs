//! The agents' memory budget: when all running agents together use more
//! resident memory than `AgentConfig::memory_budget_bytes`, the supervisor
//! stops the lowest-priority ones (the youngest first among equals) until the
//! rest fit. It is checked on watchdog ticks, with one scan of `/proc` for
//! every agent, on the scanner thread (`agents_tick`). An agent already stopping is left out of the count: its
//! memory is on its way out.
//!
//! A shed agent is stopped as on request (SIGTERM, grace, SIGKILL), so its
//! restart policy does not bring it back; its reason says why, in its record
//! and in the `agent_state_changed` event, and its open handoffs are
//! transferred like those of any agent that stopped for good.

use std::collections::HashMap;

use actix::prelude::*;
use tracing::warn;

use super::Supervisor;
use super::children::Slot;
use crate::agent_actor::AgentActor;
use crate::model::{Agent, AgentState};
use crate::process::TreeUsage;
use crate::protocol::StopRun;

/// A running agent whose memory counts against the budget, and its actor.
pub(super) type Weighed = (Agent, Addr<AgentActor>);

impl Supervisor {
    /// The running agents whose memory counts against the budget: those
    /// whose record says `running` with a pid.
    pub(super) fn running_for_budget(&self) -> Vec<Weighed> {
        let mut running = Vec::new();
        for (id, child) in &self.agents.children {
            let Slot::Running(addr) = &child.slot else { continue };
            match self.engine.store.agent(*id) {
                Ok(Some(agent)) if agent.state == AgentState::Running && agent.pid.is_some() => {
                    running.push((agent, addr.clone()));
                }
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read an agent to weigh its memory"),
            }
        }
        running
    }

    /// Stops agents of `running`, lowest priority first, while together they
    /// use more memory than `budget`, as `usage` (by session id) measured them.
    pub(super) fn shed_for_memory(&self, mut running: Vec<Weighed>, budget: u64, usage: &HashMap<u32, TreeUsage>) {
        let rss = |agent: &Agent| agent.pid.and_then(|pid| usage.get(&pid)).map_or(0, |usage| usage.rss_bytes);
        let total: u64 = running.iter().map(|(agent, _)| rss(agent)).sum();
        if total <= budget {
            return;
        }
        // Lowest priority first; among equals, the one that started last.
        running.sort_by(|(a, _), (b, _)| a.spec.priority.cmp(&b.spec.priority).then(b.started_at.cmp(&a.started_at)));
        let mut excess = total - budget;
        for (agent, addr) in running {
            if excess == 0 {
                break;
            }
            let used = rss(&agent);
            let reason = format!(
                "memory pressure: agents used {total} bytes, over the budget of {budget}; \
                 stopped as the lowest priority ({}) using {used} bytes",
                agent.spec.priority
            );
            warn!(agent_id = %agent.id, %reason, "shedding an agent");
            addr.do_send(StopRun { grace: None, reason });
            excess = excess.saturating_sub(used);
        }
    }
}
