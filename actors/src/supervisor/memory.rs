//! The agents' memory budget: when all running agents together use more
//! resident memory than `AgentConfig::memory_budget_bytes`, the supervisor
//! stops the lowest-priority ones (the youngest first among equals) until the
//! rest fit. It is checked on watchdog ticks, with one scan of `/proc` for
//! every agent. An agent already stopping is left out of the count: its
//! memory is on its way out.
//!
//! A shed agent is stopped as on request (SIGTERM, grace, SIGKILL), so its
//! restart policy does not bring it back; its reason says why, in its record
//! and in the `agent_state_changed` event, and its open handoffs are
//! transferred like those of any agent that stopped for good.

use actix::prelude::*;
use tracing::warn;

use super::Supervisor;
use super::agents::AgentSlot;
use crate::agent_actor::StopRun;
use crate::model::{Agent, AgentState};
use crate::process::SessionUsage;

impl Supervisor {
    /// Stops agents, lowest priority first, while the running ones use more
    /// memory than the budget.
    pub(super) fn shed_for_memory(&mut self) {
        let Some(budget) = self.engine.config.agents.memory_budget_bytes else { return };
        let mut running: Vec<(Agent, Addr<crate::agent_actor::AgentActor>)> = Vec::new();
        for (id, child) in &self.agents.children {
            let AgentSlot::Running(addr) = &child.slot else { continue };
            match self.engine.store.agent(*id) {
                Ok(Some(agent)) if agent.state == AgentState::Running && agent.pid.is_some() => {
                    running.push((agent, addr.clone()));
                }
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read an agent to weigh its memory"),
            }
        }
        if running.is_empty() {
            return;
        }
        let sids: Vec<u32> = running.iter().filter_map(|(agent, _)| agent.pid).collect();
        let usage = match SessionUsage::measure_all(&sids) {
            Ok(usage) => usage,
            Err(err) => return warn!(cause = %err, "cannot measure the agents' memory"),
        };
        let rss = |agent: &Agent| agent.pid.and_then(|pid| usage.get(&pid)).map_or(0, |usage| usage.rss_bytes);
        let total: u64 = running.iter().map(|(agent, _)| rss(agent)).sum();
        if total <= budget {
            return;
        }
        // Lowest priority first; among equals, the one that started last.
        running.sort_by(|(a, _), (b, _)| a.priority.cmp(&b.priority).then(b.started_at.cmp(&a.started_at)));
        let mut excess = total - budget;
        for (agent, addr) in running {
            if excess == 0 {
                break;
            }
            let used = rss(&agent);
            let reason = format!(
                "memory pressure: agents used {total} bytes, over the budget of {budget}; \
                 stopped as the lowest priority ({}) using {used} bytes",
                agent.priority
            );
            warn!(agent_id = %agent.id, %reason, "shedding an agent");
            addr.do_send(StopRun { grace: None, reason });
            excess = excess.saturating_sub(used);
        }
    }
}
