//! `cargo bench -p baton-benches --bench handoffs`: handoff round trips in-process (issue 6).
//!
//! Prints Markdown tables; docs/benchmarks.md keeps the figures of a run.
//!
//! A round trip is one handoff's whole lifecycle through the library handle:
//! create it (for an agent by id, or for a role, whose routing picks an idle
//! agent of that role), then acknowledge, start and complete it as the agent
//! it was routed to. Each of the four steps is checkpointed to the store and
//! flushed to disk before it is answered, so a client's round trip waits for
//! four flushes one after another (group commit lets concurrent clients share
//! them; the flush columns say how far it did). With one client, the flushes
//! are also counted step by step: those that ran while the step was waiting
//! (a flush requested by one step and run after its answer counts for the next).
//!
//! The agents are real processes (`sleep 3600`) of one session, spawned
//! before the clock starts; the bench takes their steps for them. Each case
//! runs on a fresh data dir with its own agents, stops every one of them at
//! its end, and checks that no `sleep` child of this process survives.
//!
//! - Round trip, one client: round trips one after another, to an agent by
//!   id (one agent in the session), to role `worker` with one agent of it, and
//!   to role `worker` with 100 agents of it: latency of the whole and of each
//!   step, and what routing over 100 agents adds.
//! - Throughput: 100 agents of role `worker` in one session (the per-session
//!   cap raised to allow them), and 1, 10 and 100 clients (tokio tasks), each
//!   doing round trips addressed to the role one after another. With at most
//!   one open handoff a client, there is always an idle agent to route to.
//! - Agents at their inboxes: the same 100 agents, each driven by a task that
//!   waits on its inbox ([`Baton::inbox`] with a wait), and acknowledges,
//!   starts and completes what it finds; 1, 10 and 100 clients create
//!   handoffs for the role and wait until their agent reports them completed.
//!   That is the whole path an agent under baton takes, delivery included.
//!
//! Set `BATON_BENCH_HANDOFFS` to change how many round trips each case makes
//! (default 2000, split evenly among its clients).

#[path = "support/cpu.rs"]
mod cpu;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use baton::{
    AgentConfig, AgentId, AgentState, Baton, CreateHandoff, Handoff, HandoffAction, HandoffState, HandoffTarget, Inbox,
    OpenSession, SessionId, SpawnAgent, UpdateHandoff,
};
use cpu::{Stopwatch, thread_cpu};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::mpsc;

/// The role of every agent, and the one handoffs are addressed to.
const ROLE: &str = "worker";
/// Agents in the session of the throughput cases.
const FLEET: usize = 100;
/// Concurrent clients of the throughput cases.
const CLIENTS: [usize; 3] = [1, 10, 100];
/// The name of the thread every actor of the engine runs on.
const ENGINE_THREAD: &str = "baton-engine";
/// Round trips made before each case's clock starts.
const WARM_UP: usize = 20;

/// Latencies of round trips, whole and step by step, in microseconds.
struct Latencies {
    round_trip: Histogram<u64>,
    /// Create, acknowledge, start, complete; empty where the client does not take the steps.
    steps: [Histogram<u64>; 4],
    /// The store flushes that ran during each step, summed over the round
    /// trips (only meaningful with one client: with more, their steps overlap).
    step_flushes: [u64; 4],
}

impl Latencies {
    fn new() -> Self {
        Self { round_trip: new_histogram(), steps: std::array::from_fn(|_| new_histogram()), step_flushes: [0; 4] }
    }

    fn add(&mut self, other: &Latencies) {
        self.round_trip.add(&other.round_trip).unwrap();
        for (mine, theirs) in self.steps.iter_mut().zip(&other.steps) {
            mine.add(theirs).unwrap();
        }
        for (mine, theirs) in self.step_flushes.iter_mut().zip(other.step_flushes) {
            *mine += theirs;
        }
    }
}

/// What one case measured.
struct Figures {
    per_sec: f64,
    latencies: Latencies,
    /// How many distinct agents the handoffs went to.
    agents_used: usize,
    /// The whole process's CPU time per round trip.
    cpu_per_op: Option<Duration>,
    /// The engine thread's CPU time per round trip: every actor runs on that
    /// one thread, so one second of it over this is the most round trips a
    /// second the engine can take, however many cores there are.
    engine_cpu_per_op: Option<Duration>,
    /// Store flushes per round trip, and the mean flush.
    per_round_trip_flushes: f64,
    mean_flush: Duration,
}

/// Whom a case's handoffs are addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Address {
    /// The session's first agent, by id.
    FirstAgent,
    /// Role [`ROLE`]: routing picks an idle agent of it.
    Role,
}

fn main() {
    let total: usize = std::env::var("BATON_BENCH_HANDOFFS").ok().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let before = sleep_children();
    assert!(before.is_empty(), "sleep processes of this bench before it starts: {before:?}");

    println!("## Round trip, one client ({total} round trips per case, one after another)\n");
    println!(
        "| addressed to | agents in the session | round trips/s | p50 | p99 | create p50 | acknowledge p50 | \
         start p50 | complete p50 | flushes per round trip (create + acknowledge + start + complete) | mean flush | \
         CPU per round trip | engine thread CPU per round trip |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (address, agents) in [(Address::FirstAgent, 1), (Address::Role, 1), (Address::Role, FLEET)] {
        let figures = runtime.block_on(round_trips(agents, address, 1, total));
        let count = figures.latencies.round_trip.len();
        let steps = &figures.latencies.steps;
        let address = match address {
            Address::FirstAgent => "an agent, by id".to_owned(),
            Address::Role => format!("role `{ROLE}`"),
        };
        println!(
            "| {address} | {agents} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} ({}) | {} | {} |",
            figures.per_sec,
            millis_at(&figures.latencies.round_trip, 0.50),
            millis_at(&figures.latencies.round_trip, 0.99),
            millis_at(&steps[0], 0.50),
            millis_at(&steps[1], 0.50),
            millis_at(&steps[2], 0.50),
            millis_at(&steps[3], 0.50),
            figures.per_round_trip_flushes,
            figures.latencies.step_flushes.map(|flushes| format!("{:.2}", flushes as f64 / count as f64)).join(" + "),
            millis(figures.mean_flush),
            cpu(&figures),
        );
    }

    println!(
        "\n## Throughput: {FLEET} agents of role `{ROLE}` in one session, clients doing round trips to the role \
         ({total} per case)\n"
    );
    println!(
        "| clients | handoffs/s | p50 round trip | p99 round trip | create p50 / p99 | acknowledge, start, complete \
         p50 / p99 | agents used | flushes per handoff | mean flush | CPU per handoff | engine thread CPU per handoff |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for clients in CLIENTS {
        let figures = runtime.block_on(round_trips(FLEET, Address::Role, clients, total / clients));
        let mut updates = new_histogram();
        for step in &figures.latencies.steps[1..] {
            updates.add(step).unwrap();
        }
        let create = &figures.latencies.steps[0];
        println!(
            "| {clients} | {:.0} | {} | {} | {} / {} | {} / {} | {} | {:.2} | {} | {} |",
            figures.per_sec,
            millis_at(&figures.latencies.round_trip, 0.50),
            millis_at(&figures.latencies.round_trip, 0.99),
            millis_at(create, 0.50),
            millis_at(create, 0.99),
            millis_at(&updates, 0.50),
            millis_at(&updates, 0.99),
            figures.agents_used,
            figures.per_round_trip_flushes,
            millis(figures.mean_flush),
            cpu(&figures),
        );
    }

    println!(
        "\n## Agents at their inboxes: {FLEET} agents of role `{ROLE}`, each waiting on its inbox; clients create \
         handoffs for the role and wait for their completion ({total} per case)\n"
    );
    println!(
        "| clients | handoffs/s | p50 round trip | p99 round trip | agents used | flushes per handoff | \
         CPU per handoff | engine thread CPU per handoff |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for clients in CLIENTS {
        let figures = runtime.block_on(through_inboxes(FLEET, clients, total / clients));
        println!(
            "| {clients} | {:.0} | {} | {} | {} | {:.2} | {} |",
            figures.per_sec,
            millis_at(&figures.latencies.round_trip, 0.50),
            millis_at(&figures.latencies.round_trip, 0.99),
            figures.agents_used,
            figures.per_round_trip_flushes,
            cpu(&figures),
        );
    }
    println!("\nEvery agent was stopped at the end of its case: no `sleep` child of this bench survived one.");
}

/// A fresh engine with one session of `agents` running agents of role [`ROLE`].
struct Fleet {
    baton: Baton,
    session: SessionId,
    agents: Vec<AgentId>,
    flushes: Flushes,
    /// Kills the agents' processes if the bench fails before it stops them.
    guard: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Fleet {
    async fn start(agents: usize) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let flushes = Flushes::default();
        let mut config = AgentConfig::default();
        config.max_running = config.max_running.max(agents);
        config.max_running_per_session = config.max_running_per_session.max(agents);
        config.stop_grace = Duration::from_secs(5);
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        config.env_source = Some(BTreeMap::from([("PATH".to_owned(), path)]));
        let baton = Baton::builder()
            .data_dir(dir.path())
            .agents(config)
            .on_flush({
                let flushes = flushes.clone();
                move |took| {
                    flushes.0.0.fetch_add(1, Ordering::Relaxed);
                    flushes.0.1.fetch_add(micros(took), Ordering::Relaxed);
                }
            })
            .spawn()
            .unwrap();
        let session = baton.open_session(OpenSession::named("handoff bench")).await.unwrap().id;
        let mut fleet = Self { baton, session, agents: Vec::new(), flushes, guard: KillOnDrop::default(), _dir: dir };
        for _ in 0..agents {
            let agent = fleet.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"]).role(ROLE)).await.unwrap();
            fleet.guard.0.extend(agent.pid);
            assert_eq!(agent.state, AgentState::Running, "{agent:?}");
            fleet.agents.push(agent.id);
        }
        fleet
    }

    /// Flushes so far, and the time they took together.
    fn flushed(&self) -> (u64, Duration) {
        (self.flushes.count(), Duration::from_micros(self.flushes.0.1.load(Ordering::Relaxed)))
    }

    fn target(&self, address: Address) -> HandoffTarget {
        match address {
            Address::FirstAgent => HandoffTarget::Agent(self.agents[0]),
            Address::Role => HandoffTarget::Role(ROLE.into()),
        }
    }

    /// Stops every agent, shuts the engine down, and checks that none of the
    /// agents' processes is left.
    async fn finish(mut self) {
        let stops: Vec<_> = self
            .agents
            .iter()
            .map(|&agent| {
                let baton = self.baton.clone();
                tokio::spawn(async move { baton.stop_agent(agent, Some(Duration::from_secs(5))).await.unwrap() })
            })
            .collect();
        for stop in stops {
            let stopped = stop.await.unwrap();
            assert!(stopped.state.is_ended(), "{stopped:?}");
        }
        self.baton.shutdown().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = sleep_children();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "agents' processes left after they were stopped: {left:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.guard.0.clear();
    }
}

/// The store's flushes so far, and the time they took together in microseconds.
#[derive(Clone, Default)]
struct Flushes(Arc<(AtomicU64, AtomicU64)>);

impl Flushes {
    fn count(&self) -> u64 {
        self.0.0.load(Ordering::Relaxed)
    }
}

/// Process group ids to kill (SIGKILL) when dropped: the agents' processes,
/// should the bench fail before it stops them. Each agent leads its own group.
#[derive(Default)]
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// `clients` tasks each make `count` round trips to `address`, one after
/// another, in a session of `agents` agents.
async fn round_trips(agents: usize, address: Address, clients: usize, count: usize) -> Figures {
    let fleet = Fleet::start(agents).await;
    let target = fleet.target(address);
    for n in 0..WARM_UP {
        round_trip(&fleet.baton, fleet.session, target.clone(), format!("warm-up {n}"), &fleet.flushes).await;
    }
    let flushed_before = fleet.flushed();
    let (stopwatch, engine_before) = (Stopwatch::start(), thread_cpu(ENGINE_THREAD));
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (baton, session, target, flushes) =
                (fleet.baton.clone(), fleet.session, target.clone(), fleet.flushes.clone());
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                let mut used = HashSet::new();
                for n in 0..count {
                    let began = Instant::now();
                    let task = format!("task {client}/{n}");
                    let trip = round_trip(&baton, session, target.clone(), task, &flushes).await;
                    latencies.round_trip.record(micros(began.elapsed())).unwrap();
                    for (histogram, took) in latencies.steps.iter_mut().zip(trip.took) {
                        histogram.record(micros(took)).unwrap();
                    }
                    for (sum, flushes) in latencies.step_flushes.iter_mut().zip(trip.flushes) {
                        *sum += flushes;
                    }
                    let agent = trip.agent;
                    used.insert(agent);
                }
                (latencies, used)
            })
        })
        .collect();
    let mut latencies = Latencies::new();
    let mut used = HashSet::new();
    for task in tasks {
        let (theirs, their_agents) = task.await.unwrap();
        latencies.add(&theirs);
        used.extend(their_agents);
    }
    let (elapsed, cpu) = stopwatch.stop();
    let engine_cpu = thread_cpu(ENGINE_THREAD).zip(engine_before).map(|(now, then)| now.saturating_sub(then));
    let figures = figures(&fleet, latencies, used.len(), flushed_before, elapsed, (cpu, engine_cpu)).await;
    fleet.finish().await;
    figures
}

/// What one round trip did.
struct RoundTrip {
    /// The agent the handoff was routed to.
    agent: AgentId,
    /// The time each step took: create, acknowledge, start, complete.
    took: [Duration; 4],
    /// The store flushes that ran during each step.
    flushes: [u64; 4],
}

/// Creates a handoff of `task` for `to` and takes it through acknowledge,
/// start and complete as the agent it was routed to.
async fn round_trip(
    baton: &Baton,
    session: SessionId,
    to: HandoffTarget,
    task: String,
    flushes: &Flushes,
) -> RoundTrip {
    let mut counted = flushes.count();
    let mut flushed = || {
        let before = std::mem::replace(&mut counted, flushes.count());
        counted - before
    };
    let began = Instant::now();
    let created = baton.create_handoff(CreateHandoff::new(session, to, task)).await.unwrap();
    let create = (began.elapsed(), flushed());
    let agent = created.assigned.expect("an idle agent to route to");
    let ack = (step(baton, &created, HandoffAction::Acknowledge, agent).await, flushed());
    let start = (step(baton, &created, HandoffAction::Start, agent).await, flushed());
    let complete = (step(baton, &created, HandoffAction::Complete, agent).await, flushed());
    let steps = [create, ack, start, complete];
    RoundTrip { agent, took: steps.map(|(took, _)| took), flushes: steps.map(|(_, flushes)| flushes) }
}

/// Takes one step on `handoff` as `agent`; returns the time it took.
async fn step(baton: &Baton, handoff: &Handoff, action: HandoffAction, agent: AgentId) -> Duration {
    let mut update = UpdateHandoff::new(handoff.id, action).by(agent);
    if action == HandoffAction::Complete {
        update = update.result(json!({"ok": true}));
    }
    let began = Instant::now();
    let after = baton.update_handoff(update).await.unwrap();
    let took = began.elapsed();
    assert_eq!(after.state, action.target(), "{action:?} on {}", handoff.id);
    took
}

/// `clients` tasks each create `count` handoffs for the role, one after
/// another, each waiting until the agent it went to has completed it; each
/// agent is a task that waits on its inbox and takes the steps.
async fn through_inboxes(agents: usize, clients: usize, count: usize) -> Figures {
    let fleet = Fleet::start(agents).await;
    // The agents tell the client whose handoff they completed (by the
    // payload's `client`) which one it was.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..clients + 1).map(|_| mpsc::unbounded_channel()).unzip();
    let senders = Arc::new(senders);
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = fleet
        .agents
        .iter()
        .map(|&agent| {
            let (baton, senders, done) = (fleet.baton.clone(), Arc::clone(&senders), Arc::clone(&done));
            tokio::spawn(async move { work(&baton, agent, &senders, &done).await })
        })
        .collect();
    let mut receivers = receivers.into_iter();
    let mut warm_up = receivers.next().unwrap();
    for n in 0..WARM_UP {
        create_and_wait(&fleet.baton, fleet.session, 0, n, &mut warm_up).await;
    }
    let flushed_before = fleet.flushed();
    let worked_before = done.load(Ordering::Relaxed);
    let (stopwatch, engine_before) = (Stopwatch::start(), thread_cpu(ENGINE_THREAD));
    let tasks: Vec<_> = receivers
        .enumerate()
        .map(|(client, mut completed)| {
            let (baton, session) = (fleet.baton.clone(), fleet.session);
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                let mut used = HashSet::new();
                for n in 0..count {
                    let began = Instant::now();
                    used.insert(create_and_wait(&baton, session, client + 1, n, &mut completed).await);
                    latencies.round_trip.record(micros(began.elapsed())).unwrap();
                }
                (latencies, used)
            })
        })
        .collect();
    let mut latencies = Latencies::new();
    let mut used = HashSet::new();
    for task in tasks {
        let (theirs, their_agents) = task.await.unwrap();
        latencies.add(&theirs);
        used.extend(their_agents);
    }
    let (elapsed, cpu) = stopwatch.stop();
    let engine_cpu = thread_cpu(ENGINE_THREAD).zip(engine_before).map(|(now, then)| now.saturating_sub(then));
    assert_eq!(
        done.load(Ordering::Relaxed) - worked_before,
        latencies.round_trip.len(),
        "every handoff completed once"
    );
    for worker in workers {
        // Each waits on its inbox: dropping the wait ends it.
        worker.abort();
        assert!(worker.await.unwrap_err().is_cancelled(), "an agent's task failed");
    }
    let figures = figures(&fleet, latencies, used.len(), flushed_before, elapsed, (cpu, engine_cpu)).await;
    fleet.finish().await;
    figures
}

/// Creates the `n`th handoff of `client` for the role and waits until an
/// agent reports it completed; returns that agent.
async fn create_and_wait(
    baton: &Baton,
    session: SessionId,
    client: usize,
    n: usize,
    completed: &mut mpsc::UnboundedReceiver<(Handoff, AgentId)>,
) -> AgentId {
    let create = CreateHandoff::new(session, HandoffTarget::Role(ROLE.into()), format!("task {client}/{n}"))
        .payload(json!({"client": client}));
    let created = baton.create_handoff(create).await.unwrap();
    let (handoff, agent) = completed.recv().await.expect("the agents run");
    assert_eq!(handoff.id, created.id, "a client has one handoff open at a time");
    assert_eq!(handoff.state, HandoffState::Completed);
    agent
}

/// An agent's loop: waits on its inbox, and acknowledges, starts and
/// completes each handoff it finds there, then tells the client that made it.
async fn work(baton: &Baton, agent: AgentId, clients: &[mpsc::UnboundedSender<(Handoff, AgentId)>], done: &AtomicU64) {
    loop {
        let inbox = Inbox::new(agent).wait(Duration::from_secs(60));
        for handoff in baton.inbox(inbox).await.unwrap().handoffs {
            step(baton, &handoff, HandoffAction::Acknowledge, agent).await;
            step(baton, &handoff, HandoffAction::Start, agent).await;
            let mut complete = UpdateHandoff::new(handoff.id, HandoffAction::Complete).by(agent);
            complete = complete.result(json!({"ok": true}));
            let completed = baton.update_handoff(complete).await.unwrap();
            done.fetch_add(1, Ordering::Relaxed);
            let client = handoff.payload.as_ref().and_then(|payload| payload["client"].as_u64()).unwrap();
            clients[usize::try_from(client).unwrap()].send((completed, agent)).unwrap();
        }
    }
}

/// The figures of a case, after checking the session's metrics agree that
/// every handoff of it completed.
async fn figures(
    fleet: &Fleet,
    latencies: Latencies,
    agents_used: usize,
    (flushes_before, flushing_before): (u64, Duration),
    elapsed: Duration,
    (cpu, engine_cpu): (Option<Duration>, Option<Duration>),
) -> Figures {
    let (flushes, flushing) = fleet.flushed();
    let (flushes, flushing) = (flushes - flushes_before, flushing - flushing_before);
    let count = latencies.round_trip.len();
    let stats = fleet.baton.handoff_stats(Some(fleet.session)).await.unwrap();
    let warmed_up = u64::try_from(WARM_UP).unwrap();
    assert_eq!(stats.by_state[&HandoffState::Completed], count + warmed_up, "{stats:?}");
    assert_eq!(stats.total, count + warmed_up, "{stats:?}");
    Figures {
        per_sec: count as f64 / elapsed.as_secs_f64(),
        latencies,
        agents_used,
        cpu_per_op: cpu.map(|cpu| cpu.div_f64(count.max(1) as f64)),
        engine_cpu_per_op: engine_cpu.map(|cpu| cpu.div_f64(count.max(1) as f64)),
        per_round_trip_flushes: flushes as f64 / count.max(1) as f64,
        mean_flush: flushing / u32::try_from(flushes.max(1)).unwrap_or(u32::MAX),
    }
}

/// The `sleep` processes whose parent is this process: the agents, as the
/// engine spawns them directly.
fn sleep_children() -> Vec<u32> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
            // The fields after the command name: the state, then the parent's pid.
            let parent: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (name == "sleep" && parent == me).then_some(pid)
        })
        .collect()
}

/// The CPU time per round trip, of the process and of the engine thread.
fn cpu(figures: &Figures) -> String {
    let micros = |cpu: Option<Duration>| cpu.map_or("-".into(), |cpu| format!("{:.0} µs", cpu.as_secs_f64() * 1e6));
    format!("{} | {}", micros(figures.cpu_per_op), micros(figures.engine_cpu_per_op))
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).unwrap()
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn millis_at(histogram: &Histogram<u64>, quantile: f64) -> String {
    millis(Duration::from_micros(histogram.value_at_quantile(quantile)))
}
