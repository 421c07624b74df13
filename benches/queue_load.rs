//! Load generator for `scripts/bench-queue.sh`: durable enqueues over HTTP
//! on the daemon's Unix socket, with 1, 8 and 64 concurrent clients.
//!
//! Each client is a task that posts `POST /v1/sessions/{id}/observations`
//! one after another through [`baton::client::Client`], the CLI's own client
//! (a fresh connection per request, as every `baton observe` makes). Each
//! case opens a fresh session; its clients post the same ~500-byte tool-use
//! observations as `benches/queue.rs`, each with its own idempotency key.
//!
//! ```sh
//! cargo run --release -p baton-benches --bin queue_load -- --socket "$BATON_SOCKET" --clients 1,8,64 --enqueues 10000
//! ```
//!
//! With `--daemon-pid`, it also reports the daemon's CPU time per enqueue
//! (all its threads, from `/proc`), which a busy neighbour disturbs less
//! than throughput.

#[path = "support/tool_use.rs"]
mod tool_use;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use baton::api::{ObserveRequest, OpenSessionRequest};
use baton::client::Client;
use baton::{Enqueued, Session, SessionId};
use clap::Parser;
use hdrhistogram::Histogram;

use tool_use::tool_use;

/// Options of the load generator.
#[derive(Debug, Parser)]
struct Args {
    /// The daemon's socket.
    #[arg(long, env = "BATON_SOCKET")]
    socket: PathBuf,
    /// The numbers of concurrent clients, one case each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    clients: Vec<usize>,
    /// Enqueues per case, split evenly among its clients.
    #[arg(long, default_value_t = 10_000)]
    enqueues: usize,
    /// The daemon's process id, to report its CPU time per enqueue.
    #[arg(long, value_name = "PID")]
    daemon_pid: Option<u32>,
}

/// What one case measured.
struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// The daemon's CPU time per enqueue, when its pid was given.
    daemon_cpu: Option<Duration>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let client = Client::new(&args.socket);
    println!("| clients | enqueues | enqueues/s | p50 latency | p99 latency | daemon CPU per enqueue |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for clients in args.clients {
        let count = args.enqueues / clients;
        let figures = runtime.block_on(enqueue_over_http(&client, clients, count, args.daemon_pid))?;
        let cpu = figures.daemon_cpu.map_or("-".into(), |cpu| format!("{:.0} µs", cpu.as_secs_f64() * 1e6));
        println!(
            "| {clients} | {} | {:.0} | {} | {} | {cpu} |",
            clients * count,
            figures.per_sec,
            millis(figures.p50),
            millis(figures.p99)
        );
    }
    Ok(())
}

/// Opens a session and has `clients` tasks post `count` observations each
/// into it; measures the CPU time of process `daemon`, when given.
async fn enqueue_over_http(
    client: &Client,
    clients: usize,
    count: usize,
    daemon: Option<u32>,
) -> anyhow::Result<Figures> {
    let request = OpenSessionRequest { name: Some(format!("queue load, {clients} clients")), ..Default::default() };
    let session: Session = client.post("/v1/sessions", &request).await.context("cannot open a session")?;
    let cpu_before = daemon.map(process_cpu).transpose()?;
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|producer| {
            let client = client.clone();
            tokio::spawn(async move { produce(&client, session.id, producer, count).await })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new(3)?;
    for task in tasks {
        histogram.add(task.await??)?;
    }
    let elapsed = start.elapsed();
    let daemon_cpu = match (daemon, cpu_before) {
        (Some(pid), Some(before)) => Some(process_cpu(pid)?.saturating_sub(before).div_f64(histogram.len() as f64)),
        _ => None,
    };
    Ok(Figures {
        per_sec: histogram.len() as f64 / elapsed.as_secs_f64(),
        p50: Duration::from_micros(histogram.value_at_quantile(0.50)),
        p99: Duration::from_micros(histogram.value_at_quantile(0.99)),
        daemon_cpu,
    })
}

/// One client: posts its observations one after another, recording the
/// latency of each answered (durable) enqueue.
async fn produce(client: &Client, session: SessionId, producer: usize, count: usize) -> anyhow::Result<Histogram<u64>> {
    let path = format!("/v1/sessions/{session}/observations");
    let mut histogram = Histogram::<u64>::new(3)?;
    for n in 0..count {
        let observation = tool_use(producer, n);
        let (kind, payload, key) = observation.into_parts();
        let request = ObserveRequest { kind, key, payload };
        let began = Instant::now();
        let enqueued: Enqueued = client.post(&path, &request).await?;
        histogram.record(u64::try_from(began.elapsed().as_micros())?)?;
        anyhow::ensure!(!enqueued.duplicate, "key {producer}/{n} was already queued");
    }
    Ok(histogram)
}

/// User plus system time of process `pid` (all its threads) so far, from
/// `/proc/PID/stat`, in clock ticks of 10 ms (Linux's `USER_HZ` is 100).
fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The fields after the command name, which may hold spaces, start at field 3.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let tick = |field: usize| -> anyhow::Result<u64> {
        let text = fields.get(field - 3).with_context(|| format!("{path} has no field {field}"))?;
        Ok(text.parse()?)
    };
    Ok(Duration::from_millis((tick(14)? + tick(15)?) * 10))
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
