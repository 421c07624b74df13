//! Stopping an agent's run: SIGTERM to its whole process session, SIGKILL
//! after the grace period, then the state the cause calls for: `stopped` for a
//! stop someone asked for, the restart policy for a limit that fired.
//!
//! A stop ends when both the session is empty and, for a process this actor
//! waits for, its exit status is in, so the record says how it ended.

use std::fmt;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::AgentActor;
use crate::error::EngineError;
use crate::model::bounds::shown_bytes;
use crate::model::{Agent, AgentState, ExitStatus};
use crate::process::{AgentCgroup, AgentTree, ProcessIdentity, Signal, StopOutcome, stop_tree};

/// How often a stop looks at `/proc` to see whether the session is empty.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Why a run is being stopped.
#[derive(Debug, Clone)]
pub(super) enum StopCause {
    /// Someone asked (a user, or the close of its session); the reason says who.
    Requested(String),
    /// A watchdog limit fired.
    Limit(LimitPassed),
    /// A new baton found the process running and its policy says to run it
    /// afresh; the reason says so.
    Replace(String),
}

/// A limit that a run passed, which stops it. Its text is the reason in the
/// agent's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LimitPassed {
    /// It ran this long.
    MaxRuntime(Duration),
    /// It wrote nothing for this long.
    StaleAfter(Duration),
    /// Its processes used more memory than the limit.
    MaxRss {
        /// Their RSS, in bytes.
        rss: u64,
        /// The limit, in bytes.
        max: u64,
    },
    /// Its processes used more CPU time than the limit.
    MaxCpuTime {
        /// Their CPU time.
        used: Duration,
        /// The limit.
        max: Duration,
    },
}

impl LimitPassed {
    /// The state of a run it stopped, when the restart policy does not run
    /// it again: timed out for a time limit, killed for a resource limit.
    pub(super) fn ended_state(&self) -> AgentState {
        match self {
            LimitPassed::MaxRuntime(_) | LimitPassed::StaleAfter(_) => AgentState::TimedOut,
            LimitPassed::MaxRss { .. } | LimitPassed::MaxCpuTime { .. } => AgentState::Killed,
        }
    }
}

impl fmt::Display for LimitPassed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitPassed::MaxRuntime(max) => write!(f, "max runtime of {max:?} reached"),
            LimitPassed::StaleAfter(stale) => write!(f, "no output for {stale:?}"),
            LimitPassed::MaxRss { rss, max } => {
                write!(f, "RSS of {} over the limit of {}", shown_bytes(*rss), shown_bytes(*max))
            }
            LimitPassed::MaxCpuTime { used, max } => write!(f, "CPU time of {used:?} over the limit of {max:?}"),
        }
    }
}

/// A stop to carry out: why, how long the process gets after SIGTERM (the
/// engine's default when none), who waits for it, and the commit of the
/// `stopping` record to wait for before the first signal.
pub(super) struct StopOrder {
    pub(super) cause: StopCause,
    pub(super) grace: Option<Duration>,
    pub(super) answer: Option<Answer>,
    pub(super) checkpoint: Option<crate::store::Commit>,
}

/// A stop in progress.
pub(super) struct Stopping {
    cause: StopCause,
    /// Who waits for the stop to end.
    waiters: Vec<oneshot::Sender<Result<Agent, EngineError>>>,
    /// Whether the session has been emptied (or failed to be).
    pub(super) signalled: bool,
    /// Whether the run's end has been seen (always, for an adopted process).
    pub(super) exit_seen: bool,
    /// How the process ended, when it was this actor's child.
    pub(super) exit: Option<ExitStatus>,
    /// What stopping the session came to.
    outcome: Option<Result<StopOutcome, String>>,
}

/// Who waits for a change of the agent's run to be over, and durable.
pub(super) type Answer = oneshot::Sender<Result<Agent, EngineError>>;

impl AgentActor {
    /// Stops the agent's run for `cause`, giving it `grace` (the engine's
    /// default when none) after SIGTERM; `answer` is told once it is over.
    pub(super) fn stop(
        &mut self,
        cause: StopCause,
        grace: Option<Duration>,
        answer: Option<Answer>,
        ctx: &mut Context<Self>,
    ) {
        let reason = match &cause {
            StopCause::Requested(reason) | StopCause::Replace(reason) => reason.clone(),
            StopCause::Limit(limit) => limit.to_string(),
        };
        match self.agent.state {
            AgentState::Running => {
                let Some(watch) = &self.watch else {
                    return reply(answer, Ok(self.agent.clone()));
                };
                let (identity, waited) = (watch.identity, watch.waited);
                let checkpoint = match self.change_state(&[AgentState::Stopping], Some(reason)) {
                    Ok(commit) => commit,
                    Err(err) => return reply(answer, Err(err)),
                };
                let order = StopOrder { cause, grace, answer, checkpoint: Some(checkpoint) };
                self.stop_process(identity, waited, order, ctx);
            }
            AgentState::Stopping => match &mut self.stopping {
                Some(stopping) => {
                    // A stop asked for wins over a limit: the agent stays stopped.
                    if matches!(cause, StopCause::Requested(_)) {
                        stopping.cause = cause;
                    }
                    stopping.waiters.extend(answer);
                }
                None => reply(answer, Ok(self.agent.clone())),
            },
            AgentState::Backoff | AgentState::Queued => {
                // Cancels the pending restart.
                self.run += 1;
                match self.change_state(&[AgentState::Stopped], Some(reason)) {
                    Ok(commit) => self.answer_after(commit, answer.into_iter().collect(), ctx),
                    Err(err) => {
                        reply(answer, Err(err));
                        self.retire();
                    }
                }
            }
            AgentState::Starting
            | AgentState::Exited
            | AgentState::Failed
            | AgentState::TimedOut
            | AgentState::Killed
            | AgentState::Stopped => reply(answer, Ok(self.agent.clone())),
        }
    }

    /// Signals the process session of `identity` (the record already says
    /// `stopping`) once the order's checkpoint, the commit of that record, is
    /// durable, and ends the stop once the session is empty.
    ///
    /// Durable before the first signal: a daemon that dies during a long
    /// grace period comes back to a record that says `stopping`, and finishes
    /// the stop, rather than to one that says `running` and restarting an
    /// agent someone stopped. Agents stopped together share that flush, so a
    /// session's 100 agents get their signals after one or two flushes.
    pub(super) fn stop_process(
        &mut self,
        identity: crate::process::ProcessIdentity,
        waited: bool,
        order: StopOrder,
        ctx: &mut Context<Self>,
    ) {
        let StopOrder { cause, grace, answer, checkpoint } = order;
        info!(agent_id = %self.agent.id, pid = identity.pid, ?cause, "stopping the agent");
        self.stopping = Some(Stopping {
            cause,
            waiters: answer.into_iter().collect(),
            signalled: false,
            exit_seen: !waited,
            exit: None,
            outcome: None,
        });
        let tree = self.tree(identity, waited);
        let grace = grace.unwrap_or(self.engine.config.agents.stop_grace);
        let agent_id = self.agent.id;
        let stopping = async move {
            if let Some(commit) = checkpoint {
                if let Err(err) = commit.await {
                    warn!(%agent_id, cause = %err, "the stop is not durable; stopping anyway");
                }
            }
            stop_tree(&tree, Signal::SIGTERM, grace, STOP_POLL).await
        };
        ctx.spawn(wrap_future::<_, Self>(stopping).map(|result, act, ctx| {
            act.signalled(result.map_err(|err| err.to_string()), ctx);
        }));
    }

    /// Every process of the run whose leader is `identity`: its session, its
    /// cgroup or its id in their environments. A process adopted, not waited
    /// for, has its session counted only while the session is still its own:
    /// its pid may have gone to a stranger.
    pub(super) fn tree(&self, identity: ProcessIdentity, waited: bool) -> AgentTree {
        AgentTree {
            sid: (waited || identity.sid_is_ours()).then_some(identity.pid),
            agent: self.agent.id.to_string(),
            cgroup: self.agent.cgroup.clone().map(AgentCgroup::at),
        }
    }

    /// The session has been emptied (or could not be): the stop ends once the
    /// run's end is in too.
    fn signalled(&mut self, outcome: Result<StopOutcome, String>, ctx: &mut Context<Self>) {
        let Some(stopping) = &mut self.stopping else { return };
        stopping.signalled = true;
        stopping.outcome = Some(outcome);
        if stopping.exit_seen {
            self.finish_stop(ctx);
        }
    }

    /// Records how the stop ended and answers whoever waits for it.
    pub(super) fn finish_stop(&mut self, ctx: &mut Context<Self>) {
        let Some(stopping) = self.stopping.take() else { return };
        if let Some(watch) = self.watch.take().filter(|watch| !watch.waited) {
            super::spawned::reap_adopted(watch.identity);
        }
        self.run += 1;
        let killed = matches!(stopping.outcome, Some(Ok(StopOutcome::Killed)));
        self.agent.last_exit = stopping.exit;
        let change = match (stopping.outcome, stopping.cause) {
            (Some(Err(err)), _) => {
                warn!(agent_id = %self.agent.id, cause = %err, "cannot stop the agent");
                self.change_state(&[AgentState::Failed], Some(format!("could not stop it: {err}")))
            }
            (_, StopCause::Requested(reason)) => {
                let reason = if killed { format!("{reason}; killed after the grace period") } else { reason };
                self.change_state(&[AgentState::Stopped], Some(reason))
            }
            (_, StopCause::Limit(limit)) => {
                // Nobody waits on a limit's stop: a stop asked for meanwhile
                // turned it into a requested one.
                return self.after_run(stopping.exit, Some(limit), ctx);
            }
            (_, StopCause::Replace(reason)) => {
                // The old process is gone: a fresh run starts at once, in this
                // actor (nobody waits on a replacement).
                match self.change_state(&[AgentState::Backoff], Some(reason)) {
                    Ok(_) => {
                        let run = self.run;
                        self.schedule_restart(run, Duration::ZERO, ctx);
                    }
                    Err(err) => {
                        warn!(agent_id = %self.agent.id, cause = %err, "cannot record the replacement");
                        self.retire();
                    }
                }
                return;
            }
        };
        match change {
            Ok(commit) => self.answer_after(commit, stopping.waiters, ctx),
            Err(err) => {
                for waiter in stopping.waiters {
                    let _ = waiter.send(Err(err.clone()));
                }
                self.retire();
            }
        }
    }

    /// Answers `waiters` with the record once `commit` is durable, then
    /// retires the actor: the run is over. (Retiring first would drop the
    /// answers with the actor.)
    fn answer_after(&mut self, commit: crate::store::Commit, waiters: Vec<Answer>, ctx: &mut Context<Self>) {
        ctx.spawn(wrap_future::<_, Self>(commit).map(move |result, act, _| {
            for waiter in waiters {
                let answer = result.clone().map(|()| act.agent.clone()).map_err(EngineError::from);
                let _ = waiter.send(answer);
            }
            act.retire();
        }));
    }
}

/// Tells `answer`, if anyone waits, the `result`.
pub(super) fn reply(answer: Option<Answer>, result: Result<Agent, EngineError>) {
    if let Some(answer) = answer {
        let _ = answer.send(result);
    }
}
