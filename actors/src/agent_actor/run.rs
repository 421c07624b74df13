//! A run of an agent: starting its process, knowing it again after a restart
//! of the actor or the engine, noticing its end, and the restart policy.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::spawned::{forget, reap_adopted, spawn_off_thread};
use super::stop::{Answer, LimitPassed, StopCause, StopOrder, reply};
use super::{AgentActor, Watch, logs_dir};
use crate::clock::to_chrono;
use crate::error::EngineError;
use crate::model::{AdoptPolicy, AgentState, EventKind, ExitStatus};
use crate::process::{
    AgentTree, AllowList, BatonContext, Environment, LogCursor, ProcessIdentity, ProcessSpec, Spawned, Tracking,
};
use crate::store::Commit;

impl AgentActor {
    /// Starts a run of a queued or backing-off agent: spawns its process off
    /// the engine's thread, and checkpoints it `running` with its pid and
    /// start time, or `failed` with why it could not start. The actor takes
    /// no other message meanwhile, so nothing sees it half-started.
    /// `answer`, when given, is told the record once the checkpoint is
    /// durable.
    pub(super) fn start_run(&mut self, answer: Option<Answer>, ctx: &mut Context<Self>) {
        // Refused before anything is spawned.
        let mut next = self.agent.clone();
        if let Err(err) = Self::step(&mut next, AgentState::Starting, self.engine.clock.now(), None, &mut Vec::new()) {
            return reply(answer, Err(err));
        }
        let spec = self.spec();
        let spawning = async move {
            match spec {
                Ok(spec) => spawn_off_thread(spec).await,
                Err(reason) => Err(reason),
            }
        };
        ctx.wait(wrap_future::<_, Self>(spawning).map(move |spawned, act, ctx| {
            let change = act.run_started(spawned, ctx);
            let agent = act.agent.clone();
            match answer {
                Some(answer) => {
                    // Not in the actor's context: an agent that failed to
                    // start retires once the commit is in, and the answer must
                    // not go with it.
                    actix::spawn(async move {
                        let durable = match change {
                            Ok(commit) => commit.await.map_err(EngineError::from),
                            Err(err) => Err(err),
                        };
                        let _ = answer.send(durable.map(|()| agent));
                    });
                }
                None => {
                    if let Err(err) = change {
                        warn!(agent_id = %agent.id, cause = %err, "agent start not recorded");
                    }
                }
            }
        }));
    }

    /// Checkpoints the run that `spawned` started, or its failure to start.
    fn run_started(
        &mut self,
        spawned: Result<Spawned, String>,
        ctx: &mut Context<Self>,
    ) -> Result<Commit, EngineError> {
        let now = self.engine.clock.now();
        let mut next = self.agent.clone();
        let mut events = Vec::new();
        Self::step(&mut next, AgentState::Starting, now, None, &mut events)?;
        let spawned = match spawned {
            Ok(spawned) => spawned,
            Err(reason) => {
                warn!(agent_id = %next.id, %reason, "agent could not start");
                Self::step(&mut next, AgentState::Failed, now, Some(reason), &mut events)?;
                let commit = self.save(next, events)?;
                self.retire_after(Ok(self.engine.store.commit()), ctx);
                return Ok(commit);
            }
        };
        let identity = spawned.identity;
        next.pid = Some(identity.pid);
        next.pid_start_time = Some(identity.start_time);
        next.cgroup = spawned.cgroup.as_ref().map(|cgroup| cgroup.dir().to_path_buf());
        Self::step(&mut next, AgentState::Running, now, None, &mut events)?;
        events.push(EventKind::AgentSpawned { agent: next.id, pid: identity.pid, restarts: next.restarts });
        let change = self.save(next, events);
        if change.is_err() {
            // The record cannot say which process is the agent's: it must not run unknown.
            warn!(agent_id = %self.agent.id, pid = identity.pid, "cannot record the agent's process; killing it");
            let tree =
                AgentTree { sid: Some(identity.pid), agent: self.agent.id.to_string(), cgroup: spawned.cgroup.clone() };
            let _ = crate::process::signal_tree(&tree, crate::process::Signal::SIGKILL);
        }
        self.watch(identity, true, now);
        self.open_feed(spawned.stdin, ctx);
        let run = self.run;
        let mut child = spawned.child;
        ctx.spawn(wrap_future::<_, Self>(async move { child.wait().await }).map(move |status, act, ctx| {
            forget(identity.pid);
            let exit = match status {
                Ok(status) => Some(ExitStatus::from(status)),
                Err(err) => {
                    warn!(pid = identity.pid, cause = %err, "cannot wait for an agent's process");
                    None
                }
            };
            act.exited(run, exit, ctx);
        }));
        change
    }

    /// What to run: the record's command, its environment built afresh.
    fn spec(&self) -> Result<ProcessSpec, String> {
        let dir = logs_dir(&self.engine);
        std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let mut allow = AllowList::standard();
        for name in &self.agent.spec.inherit_env {
            allow = allow.allow(name);
        }
        let config = &self.engine.config.agents;
        let socket = config.socket.clone().unwrap_or_default();
        let mut context = BatonContext::new(socket, self.agent.session, self.agent.id);
        context.data_dir.clone_from(&config.daemon.data_dir);
        context.config_file.clone_from(&config.daemon.config_file);
        let env = match &config.env_source {
            Some(source) => Environment::for_agent(source.clone(), &allow, &self.agent.spec.env, &context),
            None => Environment::for_agent(std::env::vars_os(), &allow, &self.agent.spec.env, &context),
        };
        let mut spec = ProcessSpec::new(self.agent.spec.argv.clone(), &self.logs()).with_env(env);
        spec.cwd = self.agent.spec.cwd.clone();
        if self.agent.spec.stdin_pipe {
            spec.stdin = crate::process::Stdin::Pipe;
        }
        if let Tracking::Cgroup(root) = self.engine.tracking.as_ref() {
            let cgroup = root.agent_cgroup(&self.agent.id.to_string(), self.agent.spec.limits.max_rss_bytes);
            spec.cgroup = Some(cgroup.map_err(|err| format!("cannot make the agent's cgroup: {err}"))?);
        }
        Ok(spec)
    }

    /// Watches `identity` as the current run's process.
    fn watch(&mut self, identity: ProcessIdentity, waited: bool, now: DateTime<Utc>) {
        self.run += 1;
        if !waited {
            // Nobody here waits for it: if it is a child of this process (its
            // actor crashed), its dropped `Child` reaps it in the background,
            // and if the runtime is gone (an engine restarted in place),
            // `resume` or orphan reaping does.
            forget(identity.pid);
        }
        let logs = self.logs();
        let at_end = |path: &std::path::Path| LogCursor::at_end(path).unwrap_or_else(|_| LogCursor::at_start(path));
        let cursors = [at_end(&logs.stdout), at_end(&logs.stderr)];
        self.watch = Some(Watch { identity, waited, cursors, last_output: now });
    }

    /// Picks up where the record says, in a new actor (after a crash of the
    /// last one, or a restart of the engine): a live process is adopted and
    /// watched, never spawned again; a dead one gets its restart policy.
    pub(super) fn resume(&mut self, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let identity = match (self.agent.pid, self.agent.pid_start_time) {
            (Some(pid), Some(start_time)) => Some(ProcessIdentity { pid, start_time }),
            _ => None,
        };
        let alive = identity.filter(ProcessIdentity::is_alive);
        if let Some(dead) = identity.filter(|dead| alive.is_none() && ProcessIdentity::of(dead.pid).ok() == Some(*dead))
        {
            // A zombie: a child of this process whose waiter went with its
            // runtime (an engine restarted in place). Take its remains.
            forget(dead.pid);
            reap_adopted(dead);
        }
        match (self.agent.state, alive) {
            (AgentState::Running, Some(identity)) if self.agent.spec.on_adopt == AdoptPolicy::Restart => {
                info!(agent_id = %self.agent.id, pid = identity.pid, "replacing the agent's running process");
                self.watch(identity, false, now);
                let reason = "found running after baton restarted; its policy runs it afresh".to_owned();
                match self.change_state(&[AgentState::Stopping], Some(reason.clone())) {
                    Ok(commit) => {
                        let cause = StopCause::Replace(reason);
                        let order = StopOrder { cause, grace: None, answer: None, checkpoint: Some(commit) };
                        self.stop_process(identity, false, order, ctx);
                    }
                    Err(err) => warn!(agent_id = %self.agent.id, cause = %err, "cannot replace the agent's process"),
                }
            }
            (AgentState::Running, Some(identity)) => {
                info!(agent_id = %self.agent.id, pid = identity.pid, "adopting the agent's running process");
                self.watch(identity, false, now);
            }
            (AgentState::Stopping, Some(identity)) => {
                // The stop was under way when the last actor or engine went: finish it.
                self.watch(identity, false, now);
                let reason = self.agent.reason.clone().unwrap_or_else(|| "stopped on request".into());
                let order =
                    StopOrder { cause: StopCause::Requested(reason), grace: None, answer: None, checkpoint: None };
                self.stop_process(identity, false, order, ctx);
            }
            (AgentState::Running, None) => self.after_run(None, None, ctx),
            (AgentState::Stopping, None) => {
                let reason = self.agent.reason.clone();
                let change = self.change_state(&[AgentState::Stopped], reason);
                self.retire_after(change, ctx);
            }
            (AgentState::Starting, _) => {
                // Never checkpointed alone; a record left so cannot name its process.
                let reason = Some("baton stopped while it was starting".to_owned());
                let change = self.change_state(&[AgentState::Failed], reason);
                self.retire_after(change, ctx);
            }
            (AgentState::Backoff, _) => {
                let run = self.run;
                self.schedule_restart(run, Duration::ZERO, ctx);
            }
            (AgentState::Queued, _) => {}
            (_, _) => self.retire(),
        }
    }

    /// The process of run `run` ended with `exit` (unknown for an adopted one).
    pub(super) fn exited(&mut self, run: u64, exit: Option<ExitStatus>, ctx: &mut Context<Self>) {
        if run != self.run {
            return;
        }
        let Some(watch) = self.watch.take() else { return };
        self.close_feed();
        if !watch.waited {
            reap_adopted(watch.identity);
        }
        let pid = watch.identity.pid;
        self.agent.last_exit = exit;
        if let Some(stopping) = &mut self.stopping {
            stopping.exit_seen = true;
            stopping.exit = exit;
            if stopping.signalled {
                self.finish_stop(ctx);
            }
            return;
        }
        info!(agent_id = %self.agent.id, pid, ?exit, "agent's process ended");
        self.after_run(exit, None, ctx);
    }

    /// Applies the restart policy to a run that ended with `exit`, or that was
    /// stopped because `limit` fired (which counts as a failure).
    pub(super) fn after_run(&mut self, exit: Option<ExitStatus>, limit: Option<LimitPassed>, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let pid = self.agent.pid.unwrap_or_default();
        let exited = EventKind::AgentExited { agent: self.agent.id, pid, exit };
        let wanted = self.agent.spec.restart.should_restart(exit.as_ref(), limit.is_some());
        let how = match (&limit, exit) {
            (Some(limit), _) => limit.to_string(),
            (None, Some(exit)) => exit.to_string(),
            (None, None) => "ended while baton was away; exit status unknown".to_owned(),
        };
        let mut next = self.agent.clone();
        next.last_exit = exit;
        let mut events = vec![exited];
        let outcome = if !wanted {
            let to = limit.as_ref().map_or(AgentState::Exited, LimitPassed::ended_state);
            Self::step(&mut next, to, now, Some(how), &mut events).map(|()| None)
        } else {
            match self.next_restart(now) {
                Ok(delay) => {
                    let reason = format!("{how}; restarting in {delay:?}");
                    Self::step(&mut next, AgentState::Backoff, now, Some(reason), &mut events).map(|()| Some(delay))
                }
                Err(gave_up) => {
                    let reason = format!("{gave_up}; last run: {how}");
                    Self::step(&mut next, AgentState::Failed, now, Some(reason), &mut events).map(|()| None)
                }
            }
        };
        let (change, delay) = match outcome {
            Ok(delay) => (self.save(next, events), delay),
            Err(err) => (Err(err), None),
        };
        match delay {
            Some(delay) if change.is_ok() => {
                let run = self.run;
                self.schedule_restart(run, delay, ctx);
            }
            _ => self.retire_after(change, ctx),
        }
    }

    /// How long to wait before the next restart, or why there is none: the
    /// restarts within the window are used up.
    fn next_restart(&mut self, now: DateTime<Utc>) -> Result<Duration, String> {
        let schedule = self.agent.spec.schedule;
        let stable = self.agent.started_at.is_some_and(|started| now - started >= to_chrono(schedule.stable_after));
        if stable {
            self.restarts.clear();
        }
        let window_start = now - to_chrono(schedule.intensity.within);
        while self.restarts.front().is_some_and(|&at| at <= window_start) {
            self.restarts.pop_front();
        }
        let done = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        let max = schedule.intensity.max_restarts;
        if done >= max {
            return Err(format!("gave up after {done} restarts within {:?}", schedule.intensity.within));
        }
        self.restarts.push_back(now);
        let delay = schedule.backoff.delay(done);
        Ok(delay + delay.mul_f64(schedule.jitter.clamp(0.0, 1.0) * random_fraction()))
    }

    /// Starts run `run`'s successor after `delay` on the engine's clock, unless
    /// something (a stop) came first.
    pub(super) fn schedule_restart(&mut self, run: u64, delay: Duration, ctx: &mut Context<Self>) {
        ctx.spawn(wrap_future::<_, Self>(self.engine.clock.sleep(delay)).map(move |(), act, ctx| {
            if act.run != run || act.agent.state != AgentState::Backoff {
                return;
            }
            act.agent.restarts += 1;
            act.start_run(None, ctx);
        }));
    }
}

/// A random number in [0, 1), for jitter: std's hasher keys are random.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish() >> 11;
    // 53 bits fit an f64 exactly.
    bits as f64 / (1u64 << 53) as f64
}
