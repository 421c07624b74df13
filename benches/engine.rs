//! `cargo bench -p baton-benches --bench engine`: the engine's durable write path and restart path.
//!
//! Prints a Markdown table; docs/benchmarks.md keeps the figures of a run.
//!
//! - Durable session opens with 1 and 32 concurrent callers, with group commit
//!   and with one flush per write, in the same run: throughput and the latency
//!   of each acknowledged (flushed) open.
//! - For scale, sled alone on the same disk: one thread writing 400-byte values
//!   with a flush after each write and after every 32 writes. That ratio is the
//!   most group commit can buy with 32 callers, whatever the engine does.
//! - The time from a session actor's panic to its restarted actor answering.
//!
//! Set `BATON_BENCH_OPENS` to change how many opens each case makes (default 4000).

use std::time::{Duration, Instant};

use baton::{ActorRef, Backoff, Baton, CommitMode, OpenSession, RestartIntensity, SupervisionStrategy};
use hdrhistogram::Histogram;

struct Figures {
    opens_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn main() {
    let opens: usize = std::env::var("BATON_BENCH_OPENS").ok().and_then(|n| n.parse().ok()).unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    println!("## Durable session opens ({opens} per case)\n");
    println!("| commit | callers | opens/s | p50 latency | p99 latency |");
    println!("|---|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for mode in [CommitMode::PerWrite, CommitMode::Group] {
        for callers in [1, 32] {
            // One flush per write is slow: give it fewer opens so the run stays short.
            let count = if mode == CommitMode::PerWrite { opens / 4 } else { opens };
            let figures = runtime.block_on(open_sessions(mode, callers, count));
            println!(
                "| {} | {callers} | {:.0} | {} | {} |",
                mode_name(mode),
                figures.opens_per_sec,
                millis(figures.p50),
                millis(figures.p99)
            );
            results.push(((mode, callers), figures));
        }
    }
    let rate = |mode, callers| results.iter().find(|(case, _)| *case == (mode, callers)).unwrap().1.opens_per_sec;
    println!(
        "\nGroup commit with 32 callers: {:.1}x the throughput of one flush per write with 32 callers \
         ({:.1}x with 1 caller).",
        rate(CommitMode::Group, 32) / rate(CommitMode::PerWrite, 32),
        rate(CommitMode::Group, 32) / rate(CommitMode::PerWrite, 1),
    );

    // Injected panics are expected here: keep their messages out of the report.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().downcast_ref::<String>().is_some_and(|message| message.starts_with("injected fault")) {
            default_hook(info);
        }
    }));
    let per_write = raw_sled(1, opens);
    let per_32 = raw_sled(32, opens);
    println!("\n## sled alone on this disk (one thread, 400-byte values, {opens} writes)\n");
    println!("| flush | writes/s |");
    println!("|---|---:|");
    println!("| after each write | {per_write:.0} |");
    println!("| after every 32 writes | {per_32:.0} |");
    println!("\nBatches of 32 give sled {:.1}x the throughput of a flush per write.", per_32 / per_write);

    let restart = runtime.block_on(restart_after_panic(200));
    println!("\n## Panic to restarted actor answering (200 panics)\n");
    println!("| p50 | p99 | max |");
    println!("|---:|---:|---:|");
    println!("| {} | {} | {} |", millis(restart.0), millis(restart.1), millis(restart.2));
}

async fn open_sessions(mode: CommitMode, callers: usize, total: usize) -> Figures {
    let dir = tempfile::TempDir::new().unwrap();
    let baton = Baton::builder().data_dir(dir.path()).commit_mode(mode).spawn().unwrap();
    let per_caller = total / callers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let baton = baton.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_caller);
                for n in 0..per_caller {
                    let began = Instant::now();
                    baton.open_session(OpenSession::named(format!("bench {caller}/{n}"))).await.unwrap();
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        for latency in task.await.unwrap() {
            histogram.record(micros(latency)).unwrap();
        }
    }
    let elapsed = start.elapsed();
    baton.shutdown().await.unwrap();
    Figures {
        opens_per_sec: (per_caller * callers) as f64 / elapsed.as_secs_f64(),
        p50: Duration::from_micros(histogram.value_at_quantile(0.50)),
        p99: Duration::from_micros(histogram.value_at_quantile(0.99)),
    }
}

/// Writes `total` values into a bare sled tree from one thread, flushing
/// after every `batch` writes; returns writes per second.
fn raw_sled(batch: usize, total: usize) -> f64 {
    let dir = tempfile::TempDir::new().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let tree = db.open_tree("bench").unwrap();
    let value = vec![7u8; 400];
    let start = Instant::now();
    for n in 0..total {
        tree.insert(n.to_be_bytes(), value.as_slice()).unwrap();
        if (n + 1) % batch == 0 {
            db.flush().unwrap();
        }
    }
    db.flush().unwrap();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Panics a session actor `rounds` times and measures, each time, from the
/// caller's error to the first answer of the restarted actor.
async fn restart_after_panic(rounds: u32) -> (Duration, Duration, Duration) {
    let dir = tempfile::TempDir::new().unwrap();
    let strategy = SupervisionStrategy {
        intensity: RestartIntensity { max_restarts: u32::MAX, within: Duration::from_secs(1) },
        backoff: Backoff::NONE,
    };
    let baton = Baton::builder().data_dir(dir.path()).session_restart(strategy).spawn().unwrap();
    let session = baton.open_session(OpenSession::named("crashy")).await.unwrap();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for restarts in 1..=rounds {
        baton.faults().panic_in_handler(ActorRef::Session(session.id), 1);
        baton.session(session.id).await.expect_err("the injected panic");
        let crashed = Instant::now();
        // The restart is counted in the record when the new actor starts.
        while baton.session(session.id).await.map_or(true, |current| current.restarts < restarts) {
            tokio::task::yield_now().await;
        }
        histogram.record(micros(crashed.elapsed())).unwrap();
    }
    baton.shutdown().await.unwrap();
    let at = |q| Duration::from_micros(histogram.value_at_quantile(q));
    (at(0.5), at(0.99), Duration::from_micros(histogram.max()))
}

fn mode_name(mode: CommitMode) -> &'static str {
    match mode {
        CommitMode::Group => "group",
        CommitMode::PerWrite => "one flush per write",
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
