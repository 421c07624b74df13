//! `cargo bench -p baton-benches --bench queue`: durable enqueue into the observation queue,
//! beside the peer's SQLite queue, in the same run (issue 5).
//!
//! Prints Markdown tables; docs/benchmarks.md keeps the figures of a run.
//!
//! - In-process: [`Baton::observe`] on a fresh data dir, with 1, 8 and 64
//!   producers (tokio tasks) enqueueing ~640-byte tool-use observations, each
//!   with its own idempotency key, into one session; then the same spread
//!   over 8 sessions (one session is one actor, so this shows whether that
//!   actor is the limit). An enqueue is counted when it is answered, that is,
//!   durable. The flush counter says how many enqueues each flush covered,
//!   the CPU column what the whole process (every thread) spent on each, and
//!   the written column how many bytes it passed to `write` calls for each
//!   (`/proc/self/io`; almost all of them the store's, its rewrites
//!   included); the same two columns for SQLite.
//! - The peer's approach on the same disk, with the same payloads: SQLite in
//!   WAL mode with `synchronous=FULL`, one INSERT per transaction, with 1, 8
//!   and 64 producer threads, each with its own connection. For reference,
//!   the same with `synchronous=NORMAL`, which does not sync the WAL at each
//!   commit: that is closer to what a sled flush does on Linux
//!   (`sync_file_range`, which neither syncs metadata nor flushes the disk's
//!   write cache), so the two rows bracket a fair comparison.
//! - The ratios, and whether the goals are met: with 64 in-process producers,
//!   at least 10x SQLite's throughput (its best case in the run, and the
//!   figure the peer quotes) and a p99 of at most 5 ms.
//! - For scale, what this disk charges for a real sync (`fdatasync` after a
//!   600-byte append), beside the mean sled flush of the baton cases; and
//!   sled alone doing what an enqueue asks of it (look up the key, write the
//!   key and the record in one batch) from one thread, with a flush after
//!   every enqueue and after every 64: the store's own ceiling. Beside it,
//!   the record alone as one plain insert, to show what the batch costs.
//!
//! Every case builds its producers' observations before the clock starts.
//! Building one encodes its payload into JSON text (a [`NewObservation`]
//! holds it so, as the daemon does a request's), so these cases are not
//! timed encoding payloads: baton stores the text, and SQLite binds it. One
//! more case shows what a program pays that holds its payloads as
//! `serde_json::Value`s: one session, each producer building (encoding)
//! every observation from its values as it enqueues it, inside the clock.
//!
//! The cases run interleaved (baton, baton over 8 sessions, SQLite for each
//! producer count) so a noisy neighbour weighs on all of them alike.
//!
//! The bench is a program embedding baton, and like any such program it
//! picks its allocator: mimalloc, for baton and SQLite alike (the library
//! picks none, and the `baton` binary keeps glibc's malloc, whose start-up
//! is cheaper for every CLI call). docs/benchmarks.md has figures for both.
//!
//! Set `BATON_BENCH_ENQUEUES` to change how many enqueues each case makes
//! (default 20000, split evenly among its producers; the `synchronous=FULL`
//! cases make a tenth of that, as each of their commits waits for the disk),
//! and `BATON_BENCH_PRODUCERS` to run only some producer counts (`64`, or
//! `8,64`).

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/tool_use.rs"]
mod tool_use;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use baton::{Baton, NewObservation, Observation, OpenSession, SessionId};
use cpu::Stopwatch;
use hdrhistogram::Histogram;
use rusqlite::Connection;

use tool_use::{ToolUse, tool_use};

/// This program's allocator: glibc's malloc gives back and faults in again
/// the memory of every bundle the engine writes (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Producer counts of every case.
const PRODUCERS: [usize; 3] = [1, 8, 64];
/// Sessions of the spread variant.
const SPREAD_SESSIONS: usize = 8;
/// With 64 in-process producers, baton must reach this multiple of SQLite's throughput...
const GOAL_RATIO: f64 = 10.0;
/// ...with a p99 enqueue latency no higher than this.
const GOAL_P99: Duration = Duration::from_millis(5);
/// The figure the peer quotes for its SQLite queue on this kind of machine.
const PEER_QUOTED_PER_SEC: f64 = 6000.0;

/// What one case measured.
struct Figures {
    /// Acknowledged enqueues (or committed inserts) per second, over the whole case.
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time of the whole process per enqueue: less sensitive to a busy
    /// neighbour than throughput, and it says what the machine's cores can give.
    cpu_per_op: Option<Duration>,
    /// Enqueues per store flush, and the mean flush (baton only): how well
    /// group commit batches, and what a flush costs.
    flushes: Option<(f64, Duration)>,
    /// Bytes the whole process passed to `write` calls per enqueue (or
    /// insert): what the store writes for each, rewrites included.
    written_per_op: Option<f64>,
}

/// The figures of one producer count.
struct Row {
    producers: usize,
    one_session: Figures,
    /// One session, each payload encoded from values as it is enqueued.
    encoding: Figures,
    spread: Option<Figures>,
    /// The peer's configuration.
    sqlite: Figures,
    /// The reference without a sync per commit.
    sqlite_normal: Figures,
}

/// How the producers of an in-process case come by their observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payloads {
    /// Built before the clock starts: payloads already JSON text.
    Encoded,
    /// Built as each is enqueued, inside the clock, encoding its payload
    /// from the `serde_json::Value`s made before it started.
    FromValues,
}

/// An observation a producer is to enqueue, as [`Payloads`] has it.
enum Prepared {
    /// Ready to send.
    Encoded(NewObservation),
    /// Its parts, to encode when it is sent.
    Values(ToolUse),
}

impl Prepared {
    fn new(payloads: Payloads, producer: usize, n: usize) -> Self {
        let parts = ToolUse::new(producer, n);
        match payloads {
            Payloads::Encoded => Prepared::Encoded(parts.into_observation()),
            Payloads::FromValues => Prepared::Values(parts),
        }
    }

    fn into_observation(self) -> NewObservation {
        match self {
            Prepared::Encoded(observation) => observation,
            Prepared::Values(parts) => parts.into_observation(),
        }
    }
}

/// Picks one case's figures out of a row.
type Pick = fn(&Row) -> &Figures;

/// What the sled-alone case writes per enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SledWrite {
    /// What the engine does: look up the idempotency key, then write the key
    /// and the record in one `apply_batch`.
    AsAnEnqueue,
    /// The record alone, as one plain `insert`.
    PlainInsert,
}

impl SledWrite {
    fn describe(self) -> &'static str {
        match self {
            SledWrite::AsAnEnqueue => "key lookup, then key and record in one batch (as an enqueue)",
            SledWrite::PlainInsert => "the record alone, one plain insert",
        }
    }
}

/// SQLite's `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synchronous {
    /// The WAL is synced at every commit: a committed insert survives a power loss.
    Full,
    /// The WAL is synced only at checkpoints: a committed insert survives a
    /// crash of the process, not of the machine.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "PRAGMA synchronous = FULL;",
            Synchronous::Normal => "PRAGMA synchronous = NORMAL;",
        }
    }
}

fn main() {
    let total: usize = std::env::var("BATON_BENCH_ENQUEUES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sizes: Vec<usize> =
        (0..64).flat_map(|producer| (0..16).map(move |n| tool_use(producer, n).payload_size())).collect();
    let (smallest, largest) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    println!(
        "Each case: {total} enqueues split among its producers; payloads of {} bytes of JSON on average \
         ({smallest} to {largest}); allocator: mimalloc.\n",
        sizes.iter().sum::<usize>() / sizes.len()
    );
    let (sync_p50, sync_p99) = sync_data_cost(200);
    let sled_alone: Vec<_> = [SledWrite::AsAnEnqueue, SledWrite::PlainInsert]
        .into_iter()
        .flat_map(|write| [1, 64].map(|flush_every| (write, flush_every)))
        .map(|(write, flush_every)| (write, flush_every, enqueue_into_sled_alone(write, flush_every, total)))
        .collect();

    let mut rows = Vec::new();
    for producers in producer_counts() {
        let count = total / producers;
        let one_session = runtime.block_on(enqueue_in_process(1, producers, count, Payloads::Encoded));
        let encoding = runtime.block_on(enqueue_in_process(1, producers, count, Payloads::FromValues));
        // One producer over 8 sessions would use only one of them.
        let spread = (producers >= SPREAD_SESSIONS)
            .then(|| runtime.block_on(enqueue_in_process(SPREAD_SESSIONS, producers, count, Payloads::Encoded)));
        let sqlite = insert_into_sqlite(Synchronous::Full, producers, count / 10);
        let sqlite_normal = insert_into_sqlite(Synchronous::Normal, producers, count);
        rows.push(Row { producers, one_session, encoding, spread, sqlite, sqlite_normal });
    }

    println!("## In-process enqueues, one session\n");
    print_baton_table(rows.iter().map(|row| (row.producers, &row.one_session)));
    println!("\n## In-process enqueues, one session, each payload encoded from values as it is enqueued\n");
    print_baton_table(rows.iter().map(|row| (row.producers, &row.encoding)));
    println!("\n## In-process enqueues, producers spread over {SPREAD_SESSIONS} sessions\n");
    print_baton_table(rows.iter().filter_map(|row| Some((row.producers, row.spread.as_ref()?))));

    println!("\n## SQLite (WAL, one INSERT per transaction, a connection per thread)\n");
    println!(
        "| synchronous | producers | inserts/s | p50 latency | p99 latency | CPU per insert | written per insert |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let cases: [(&str, Pick); 2] = [("FULL (the peer's)", |row| &row.sqlite), ("NORMAL", |row| &row.sqlite_normal)];
    for (name, sqlite) in cases {
        for row in &rows {
            let figures = sqlite(row);
            let (rate, p50, p99) = (figures.per_sec, millis(figures.p50), millis(figures.p99));
            let (cpu, written) = (cpu(figures), written(figures));
            println!("| {name} | {} | {rate:.0} | {p50} | {p99} | {cpu} | {written} |", row.producers);
        }
    }

    println!("\n## baton / SQLite throughput, same producer count\n");
    println!("| producers | one session / FULL | {SPREAD_SESSIONS} sessions / FULL | one session / NORMAL |");
    println!("|---:|---:|---:|---:|");
    for row in &rows {
        let spread = row.spread.as_ref().map_or("-".into(), |spread| times(spread.per_sec / row.sqlite.per_sec));
        println!(
            "| {} | {} | {spread} | {} |",
            row.producers,
            times(row.one_session.per_sec / row.sqlite.per_sec),
            times(row.one_session.per_sec / row.sqlite_normal.per_sec)
        );
    }

    println!("\n## This disk\n");
    let sled_flush = rows.iter().filter_map(|row| row.one_session.flushes).map(|(_, mean)| mean).max().unwrap();
    println!(
        "- fdatasync after a 600-byte append (200 rounds): p50 {}, p99 {}.\n\
         - A sled flush, as the engine ran it in the one-session cases: at most {} on average.",
        millis(sync_p50),
        millis(sync_p99),
        millis(sled_flush),
    );

    println!("\n## sled alone, as an enqueue uses it (one thread, {total} enqueues)\n");
    println!("| write | flush | enqueues/s | CPU per enqueue | written per enqueue |");
    println!("|---|---|---:|---:|---:|");
    for (write, flush_every, figures) in &sled_alone {
        let flush = if *flush_every == 1 { "after each enqueue".into() } else { format!("after every {flush_every}") };
        let (cpu, written) = (cpu(figures), written(figures));
        println!("| {} | {flush} | {:.0} | {cpu} | {written} |", write.describe(), figures.per_sec);
    }

    print_goals(&rows);
}

/// Enqueues `count` observations from each of `producers` tasks into
/// `sessions` sessions of a fresh engine (producer `p` uses session `p % sessions`).
async fn enqueue_in_process(sessions: usize, producers: usize, count: usize, payloads: Payloads) -> Figures {
    let dir = tempfile::TempDir::new().unwrap();
    // Flushes, and the time they took in microseconds.
    let flushes = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let baton = Baton::builder()
        .data_dir(dir.path())
        .on_flush({
            let flushes = Arc::clone(&flushes);
            move |took| {
                flushes.0.fetch_add(1, Ordering::Relaxed);
                flushes.1.fetch_add(micros(took), Ordering::Relaxed);
            }
        })
        .spawn()
        .unwrap();
    let mut ids = Vec::with_capacity(sessions);
    for n in 0..sessions {
        ids.push(baton.open_session(OpenSession::named(format!("bench {n}"))).await.unwrap().id);
    }
    let before = (flushes.0.load(Ordering::Relaxed), flushes.1.load(Ordering::Relaxed));
    // Built before the clock starts, as for SQLite, or left as values.
    let observations: Vec<Vec<Prepared>> =
        (0..producers).map(|producer| (0..count).map(|n| Prepared::new(payloads, producer, n)).collect()).collect();
    let stopwatch = Stopwatch::start();
    let tasks: Vec<_> = observations
        .into_iter()
        .enumerate()
        .map(|(producer, observations)| {
            let (baton, session) = (baton.clone(), ids[producer % sessions]);
            tokio::spawn(async move { produce(&baton, session, observations).await })
        })
        .collect();
    let mut histogram = new_histogram();
    for task in tasks {
        histogram.add(task.await.unwrap()).unwrap();
    }
    let (elapsed, cpu) = stopwatch.stop();
    let written = stopwatch.written();
    let flushed = flushes.0.load(Ordering::Relaxed) - before.0;
    let flushing = Duration::from_micros(flushes.1.load(Ordering::Relaxed) - before.1);

    let mut pending = 0;
    for id in ids {
        pending += baton.queue_stats(id).await.unwrap().pending;
    }
    assert_eq!(pending, histogram.len(), "every acknowledged enqueue is in a queue");
    baton.shutdown().await.unwrap();
    figures(&histogram, elapsed, cpu, Some((flushed, flushing)), written)
}

/// The producer counts to run: all of [`PRODUCERS`], or those `BATON_BENCH_PRODUCERS` names.
fn producer_counts() -> Vec<usize> {
    match std::env::var("BATON_BENCH_PRODUCERS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("BATON_BENCH_PRODUCERS: numbers, comma-separated"))
            .collect(),
        Err(_) => PRODUCERS.to_vec(),
    }
}

/// One producer: enqueues its observations one after another, recording
/// the latency of each.
async fn produce(baton: &Baton, session: SessionId, observations: Vec<Prepared>) -> Histogram<u64> {
    let mut histogram = new_histogram();
    for observation in observations {
        let began = Instant::now();
        let enqueued = baton.observe(session, observation.into_observation()).await.unwrap();
        histogram.record(micros(began.elapsed())).unwrap();
        assert!(!enqueued.duplicate, "every key is new");
    }
    histogram
}

/// What an enqueue asks of the store (or only its record, as `write` says),
/// done on sled directly from one thread; flush after every `flush_every` enqueues.
fn enqueue_into_sled_alone(write: SledWrite, flush_every: usize, total: usize) -> Figures {
    let dir = tempfile::TempDir::new().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let tree = db.open_tree("observations").unwrap();
    let session = SessionId::new();
    let key_of = |tag: u8, suffix: &[u8]| [session.to_bytes().as_slice(), &[tag], suffix].concat();
    let now = chrono::Utc::now();
    let records: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..total)
        .map(|n| {
            let observation = tool_use(0, n);
            let seq = u64::try_from(n).unwrap() + 1;
            let key = observation.key.clone().unwrap();
            let payload = serde_json::from_str(observation.payload().get()).unwrap();
            let record = Observation::new(session, seq, observation.kind, payload, Some(key.clone()), now);
            (key_of(b'k', key.as_bytes()), key_of(b'l', &seq.to_be_bytes()), serde_json::to_vec(&record).unwrap())
        })
        .collect();
    let mut histogram = new_histogram();
    let stopwatch = Stopwatch::start();
    for (n, (key, seq_key, record)) in records.into_iter().enumerate() {
        let began = Instant::now();
        match write {
            SledWrite::AsAnEnqueue => {
                assert!(tree.get(&key).unwrap().is_none(), "every key is new");
                let mut batch = sled::Batch::default();
                batch.insert(key, &seq_key[seq_key.len() - 8..]);
                batch.insert(seq_key, record);
                tree.apply_batch(batch).unwrap();
            }
            SledWrite::PlainInsert => {
                tree.insert(seq_key, record).unwrap();
            }
        }
        if (n + 1) % flush_every == 0 {
            db.flush().unwrap();
        }
        histogram.record(micros(began.elapsed())).unwrap();
    }
    db.flush().unwrap();
    let (elapsed, cpu) = stopwatch.stop();
    figures(&histogram, elapsed, cpu, None, stopwatch.written())
}

/// The peer's queue: `count` single-row transactions from each of `producers`
/// threads into one SQLite database in WAL mode.
fn insert_into_sqlite(synchronous: Synchronous, producers: usize, count: usize) -> Figures {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("queue.db");
    let setup = sqlite_connection(&path, synchronous);
    setup
        .execute_batch(
            "CREATE TABLE observations (
                seq INTEGER PRIMARY KEY,
                session TEXT NOT NULL,
                kind TEXT NOT NULL,
                key TEXT,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                created_at INTEGER NOT NULL,
                UNIQUE (session, key)
            );",
        )
        .unwrap();

    // Every thread opens its connection first; the clock starts when all are ready.
    let ready = Arc::new(Barrier::new(producers + 1));
    let threads: Vec<_> = (0..producers)
        .map(|producer| {
            let (path, ready) = (path.clone(), Arc::clone(&ready));
            std::thread::spawn(move || {
                let connection = sqlite_connection(&path, synchronous);
                let observations: Vec<NewObservation> = (0..count).map(|n| tool_use(producer, n)).collect();
                ready.wait();
                sqlite_produce(&connection, observations)
            })
        })
        .collect();
    ready.wait();
    let stopwatch = Stopwatch::start();
    let mut histogram = new_histogram();
    for thread in threads {
        histogram.add(thread.join().unwrap()).unwrap();
    }
    let (elapsed, cpu) = stopwatch.stop();
    let written = stopwatch.written();

    let rows: i64 = setup.query_row("SELECT count(*) FROM observations", [], |row| row.get(0)).unwrap();
    assert_eq!(u64::try_from(rows).unwrap(), histogram.len(), "every committed insert is in the table");
    figures(&histogram, elapsed, cpu, None, written)
}

/// A connection as the peer configures one: WAL, `synchronous=FULL` (unless
/// told otherwise), and a busy timeout so that concurrent writers wait for
/// the lock instead of failing.
fn sqlite_connection(path: &Path, synchronous: Synchronous) -> Connection {
    let connection = Connection::open(path).unwrap();
    connection.busy_timeout(Duration::from_secs(30)).unwrap();
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
    connection.execute_batch(synchronous.pragma()).unwrap();
    connection
}

/// One SQLite producer thread: each insert is its own transaction (autocommit).
fn sqlite_produce(connection: &Connection, observations: Vec<NewObservation>) -> Histogram<u64> {
    let mut insert = connection
        .prepare(
            "INSERT INTO observations (session, kind, key, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (session, key) DO NOTHING",
        )
        .unwrap();
    let mut histogram = new_histogram();
    for observation in observations {
        let began = Instant::now();
        let now = chrono::Utc::now().timestamp_millis();
        let (kind, key, payload) = (observation.kind.as_str(), observation.key.as_deref(), observation.payload().get());
        let inserted = insert.execute(("bench", kind, key, payload, now)).unwrap();
        histogram.record(micros(began.elapsed())).unwrap();
        assert_eq!(inserted, 1, "every key is new");
    }
    histogram
}

fn print_baton_table<'a>(rows: impl Iterator<Item = (usize, &'a Figures)>) {
    println!(
        "| producers | enqueues/s | p50 latency | p99 latency | CPU per enqueue | written per enqueue | enqueues per flush | mean flush |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (producers, figures) in rows {
        let (per_flush, mean_flush) = figures.flushes.unwrap_or_default();
        println!(
            "| {producers} | {:.0} | {} | {} | {} | {} | {per_flush:.1} | {} |",
            figures.per_sec,
            millis(figures.p50),
            millis(figures.p99),
            cpu(figures),
            written(figures),
            millis(mean_flush),
        );
    }
}

/// The goals of issue 5, judged on the one-session case with 64 producers.
///
/// The throughput goal is judged three ways, each printed plainly: against
/// SQLite as the peer configures it in this run (its best case), against the
/// figure the peer quotes, and against SQLite with `synchronous=NORMAL` in
/// this run, whose durability is the closer match to a sled flush.
fn print_goals(rows: &[Row]) {
    let Some(at_64) = rows.iter().find(|row| row.producers == 64) else {
        println!("\nNo case with 64 producers ran: the goals are not judged.");
        return;
    };
    let baton = &at_64.one_session;
    let best = |sqlite: Pick| {
        let row = rows.iter().max_by(|a, b| sqlite(a).per_sec.total_cmp(&sqlite(b).per_sec)).unwrap();
        (sqlite(row).per_sec, row.producers)
    };
    let throughput = |against: &str, per_sec: f64| {
        let ratio = baton.per_sec / per_sec;
        println!("- {} {against}: **{}**", times(ratio), verdict(ratio >= GOAL_RATIO));
    };
    println!("\n## Goals (64 in-process producers, one session)\n");
    println!(
        "Throughput: {:.0} enqueues/s. Goal: at least {GOAL_RATIO:.0}x SQLite's figure. That is:\n",
        baton.per_sec
    );
    let (full, full_producers) = best(|row| &row.sqlite);
    throughput(
        &format!("SQLite synchronous=FULL in this run ({full:.0}/s, its best case: {})", producers(full_producers)),
        full,
    );
    throughput(&format!("the figure the peer quotes for it ({PEER_QUOTED_PER_SEC:.0}/s)"), PEER_QUOTED_PER_SEC);
    let (normal, normal_producers) = best(|row| &row.sqlite_normal);
    throughput(
        &format!(
            "SQLite synchronous=NORMAL in this run ({normal:.0}/s, its best case: {})",
            producers(normal_producers)
        ),
        normal,
    );
    println!(
        "\np99 enqueue latency: {}. Goal: at most {}. **{}**",
        millis(baton.p99),
        millis(GOAL_P99),
        verdict(baton.p99 <= GOAL_P99),
    );
    if let Some(spread) = &at_64.spread {
        println!(
            "\nFor comparison, 64 producers over {SPREAD_SESSIONS} sessions: {:.0} enqueues/s, p99 {}.",
            spread.per_sec,
            millis(spread.p99),
        );
    }
    println!(
        "\nFor comparison, each payload encoded from values as it is enqueued: {:.0} enqueues/s ({} SQLite \
         synchronous=FULL in this run), p99 {}.",
        at_64.encoding.per_sec,
        times(at_64.encoding.per_sec / full),
        millis(at_64.encoding.p99),
    );
}

/// The figures of `histogram`'s enqueues over `elapsed`, which took `cpu`;
/// `flushes` are the store's flushes meanwhile, and the time they took together.
fn figures(
    histogram: &Histogram<u64>,
    elapsed: Duration,
    cpu: Option<Duration>,
    flushes: Option<(u64, Duration)>,
    written: Option<u64>,
) -> Figures {
    let count = histogram.len();
    Figures {
        per_sec: count as f64 / elapsed.as_secs_f64(),
        cpu_per_op: cpu.map(|cpu| cpu.div_f64(count.max(1) as f64)),
        p50: Duration::from_micros(histogram.value_at_quantile(0.50)),
        p99: Duration::from_micros(histogram.value_at_quantile(0.99)),
        flushes: flushes.map(|(flushes, took)| {
            let flushes = flushes.max(1);
            (count as f64 / flushes as f64, took / u32::try_from(flushes).unwrap_or(u32::MAX))
        }),
        written_per_op: written.map(|bytes| bytes as f64 / count.max(1) as f64),
    }
}

/// What a real sync costs on this disk: appends 600 bytes to a file and
/// `fdatasync`s it, `rounds` times; returns the p50 and p99.
fn sync_data_cost(rounds: usize) -> (Duration, Duration) {
    use std::io::Write as _;
    let dir = tempfile::TempDir::new().unwrap();
    let mut file = std::fs::File::create(dir.path().join("probe")).unwrap();
    let mut histogram = new_histogram();
    for _ in 0..rounds {
        file.write_all(&[7u8; 600]).unwrap();
        let began = Instant::now();
        file.sync_data().unwrap();
        histogram.record(micros(began.elapsed())).unwrap();
    }
    (Duration::from_micros(histogram.value_at_quantile(0.50)), Duration::from_micros(histogram.value_at_quantile(0.99)))
}

fn written(figures: &Figures) -> String {
    figures.written_per_op.map_or("-".into(), |bytes| format!("{bytes:.0} B"))
}

fn cpu(figures: &Figures) -> String {
    figures.cpu_per_op.map_or("-".into(), |cpu| format!("{:.0} µs", cpu.as_secs_f64() * 1e6))
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).unwrap()
}

fn producers(count: usize) -> String {
    if count == 1 { "1 producer".into() } else { format!("{count} producers") }
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "NOT MET" }
}

fn times(ratio: f64) -> String {
    format!("{ratio:.1}x")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
