//! What a watchdog tick checks of a running agent: that an adopted process
//! still lives, that its logs stay under their size, and its limits (max
//! runtime, stale output, max RSS, max CPU time). The first limit found passed
//! stops the run, with the limit as the reason.

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tracing::warn;

use super::AgentActor;
use super::stop::{LimitPassed, StopCause};
use crate::clock::to_chrono;
use crate::model::AgentState;
use crate::process::{LogCursor, TreeUsage, rotate_if_over};

impl AgentActor {
    pub(super) fn check(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        if self.agent.state != AgentState::Running || self.stopping.is_some() {
            return;
        }
        let Some(watch) = &self.watch else { return };
        if !watch.waited && !watch.identity.is_alive() {
            let run = self.run;
            return self.exited(run, None, ctx);
        }
        self.rotate_logs();
        if let Some(limit) = self.time_limit_passed(now) {
            return self.stop(StopCause::Limit(limit), None, None, ctx);
        }
        self.check_usage(ctx);
    }

    /// Measures the run's usage, if it has a memory or CPU limit, and stops it
    /// when it passed one. The scan of `/proc` runs on the scanner thread, so
    /// every agent checked on one tick shares it, and the engine's thread
    /// goes on meanwhile.
    fn check_usage(&self, ctx: &mut Context<Self>) {
        let limits = self.agent.spec.limits;
        let Some(watch) = &self.watch else { return };
        if limits.max_rss_bytes.is_none() && limits.max_cpu_time.is_none() {
            return;
        }
        let run = self.run;
        let tree = self.tree(watch.identity, watch.waited);
        let measured = async move { TreeUsage::measure_tree_async(&tree).await };
        ctx.spawn(wrap_future::<_, Self>(measured).map(move |usage, act, ctx| {
            if act.run != run || act.agent.state != AgentState::Running || act.stopping.is_some() {
                return;
            }
            match usage {
                Ok(usage) => {
                    if let Some(limit) = act.usage_limit_passed(&usage) {
                        act.stop(StopCause::Limit(limit), None, None, ctx);
                    }
                }
                Err(err) => warn!(agent_id = %act.agent.id, cause = %err, "cannot measure the agent's usage"),
            }
        }));
    }

    /// Rotates a log file past its size; its cursor starts again at the top.
    fn rotate_logs(&mut self) {
        let config = &self.engine.config.agents;
        let (max, keep) = (config.log_max_bytes, config.log_keep);
        let Some(watch) = &mut self.watch else { return };
        for cursor in &mut watch.cursors {
            // What was written since the last look is activity, even if it is rotated away.
            if cursor.read_new().is_ok_and(|chunk| !chunk.is_empty()) {
                watch.last_output = watch.last_output.max(self.engine.clock.now());
            }
            match rotate_if_over(cursor.path(), max, keep) {
                Ok(true) => *cursor = LogCursor::at_start(cursor.path()),
                Ok(false) => {}
                Err(err) => warn!(path = %cursor.path().display(), cause = %err, "cannot rotate an agent's log"),
            }
        }
    }

    /// The first time limit (max runtime, stale output) the current run has passed.
    fn time_limit_passed(&self, now: DateTime<Utc>) -> Option<LimitPassed> {
        let limits = self.agent.spec.limits;
        let watch = self.watch.as_ref()?;
        if let (Some(max), Some(started)) = (limits.max_runtime, self.agent.started_at) {
            if now - started >= to_chrono(max) {
                return Some(LimitPassed::MaxRuntime(max));
            }
        }
        if let Some(stale) = limits.stale_after {
            if now - watch.last_output >= to_chrono(stale) {
                return Some(LimitPassed::StaleAfter(stale));
            }
        }
        None
    }

    /// The first usage limit (max RSS, max CPU time) that `usage` passes.
    fn usage_limit_passed(&self, usage: &TreeUsage) -> Option<LimitPassed> {
        let limits = self.agent.spec.limits;
        if let Some(max) = limits.max_rss_bytes.filter(|&max| usage.rss_bytes > max) {
            return Some(LimitPassed::MaxRss { rss: usage.rss_bytes, max });
        }
        if let Some(max) = limits.max_cpu_time.filter(|&max| usage.cpu_time > max) {
            return Some(LimitPassed::MaxCpuTime { used: usage.cpu_time, max });
        }
        None
    }
}
