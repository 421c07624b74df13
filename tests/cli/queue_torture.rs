//! The queue's promise under fire: producers and consumers run against the
//! real daemon while it is killed with SIGKILL at random moments, 30 times.
//! Every enqueue the daemon acknowledged must end up acked by a consumer (zero
//! lost), no idempotency key may be stored twice, and an observation may be
//! handed out again only while no ack of it had been acknowledged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::harness::{Home, request};
use crate::support::DEADLINE;

const KILLS: usize = 30;
/// Enough producers that enqueues often reach the session together and are
/// written as bundles.
const PRODUCERS: usize = 8;
const CONSUMERS: usize = 2;

/// What the clients saw, as the daemon acknowledged it.
#[derive(Default)]
struct Ledger {
    /// Idempotency key -> the sequence number the daemon acknowledged for it.
    enqueued: HashMap<String, u64>,
    /// Keys that were acknowledged with two different sequence numbers.
    conflicting_keys: Vec<String>,
    /// How many times each observation was handed out.
    deliveries: HashMap<u64, u32>,
    /// Observations whose ack the daemon acknowledged.
    acked: HashSet<u64>,
    /// Observations handed out after their ack had been acknowledged.
    delivered_after_ack: Vec<u64>,
}

/// A small xorshift generator: the kill moments, reproducible from the seed.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

/// The answer to a POST, when the daemon answered 200.
fn post(socket: &Path, path: &str, body: &Value) -> Option<Value> {
    let (status, body) = request(socket, "POST", path, Some(&serde_json::to_vec(body).unwrap()))?;
    (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

fn produce(socket: PathBuf, session: String, producer: usize, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let path = format!("/v1/sessions/{session}/observations");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let key = format!("p{producer}-{n}");
        let body = json!({"kind": "tool_use", "key": key, "payload": {"producer": producer, "n": n}});
        // A post the daemon did not answer may or may not be stored: retry it
        // with the same key until it is acknowledged.
        let seq = loop {
            if let Some(answer) = post(&socket, &path, &body) {
                break answer["seq"].as_u64().unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut ledger = ledger.lock().unwrap();
        if let Some(first) = ledger.enqueued.insert(key.clone(), seq) {
            assert_ne!(first, 0);
            ledger.conflicting_keys.push(key);
        }
        n += 1;
    }
}

fn consume(socket: PathBuf, session: String, consumer: usize, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let name = format!("c{consumer}");
    let claim = json!({"consumer": name, "max": 8, "lease_ms": 1000, "wait_ms": 200});
    while !stop.load(Ordering::SeqCst) {
        let Some(claimed) = post(&socket, &format!("/v1/sessions/{session}/queue/claim"), &claim) else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let seqs: Vec<u64> = claimed.as_array().unwrap().iter().map(|o| o["seq"].as_u64().unwrap()).collect();
        if seqs.is_empty() {
            continue;
        }
        {
            let mut ledger = ledger.lock().unwrap();
            for &seq in &seqs {
                *ledger.deliveries.entry(seq).or_default() += 1;
                if ledger.acked.contains(&seq) {
                    ledger.delivered_after_ack.push(seq);
                }
            }
        }
        // An ack the daemon did not answer may or may not have been stored:
        // repeat it until the daemon says (acked, acked before, or refused
        // because the lease lapsed and the observations went back).
        let ack = serde_json::to_vec(&json!({"seqs": seqs, "consumer": name})).unwrap();
        let path = format!("/v1/sessions/{session}/queue/ack");
        let answer = loop {
            match request(&socket, "POST", &path, Some(&ack)) {
                Some((status, body)) if status != 503 => break (status, body),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        if let (200, body) = answer {
            let report: Value = serde_json::from_str(&body).unwrap();
            let mut ledger = ledger.lock().unwrap();
            for seq in ["acked", "already_acked"].iter().flat_map(|field| report[*field].as_array().unwrap()) {
                ledger.acked.insert(seq.as_u64().unwrap());
            }
        }
    }
}

#[test]
fn no_acknowledged_observation_is_lost_across_30_sigkills() {
    let home = Home::new();
    let mut daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "torture"]).trim().to_owned();
    let socket = home.socket();
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill moments seed: {seed}");
    let mut moments = Moments(seed);

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop_producers, stop_consumers) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (socket, session, stop, ledger) =
                (socket.clone(), session.clone(), Arc::clone(&stop_producers), Arc::clone(&ledger));
            std::thread::spawn(move || produce(socket, session, p, stop, ledger))
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (socket, session, stop, ledger) =
                (socket.clone(), session.clone(), Arc::clone(&stop_consumers), Arc::clone(&ledger));
            std::thread::spawn(move || consume(socket, session, c, stop, ledger))
        })
        .collect();

    for _ in 0..KILLS {
        // Let traffic run for a random while, then kill the daemon mid-flight.
        std::thread::sleep(Duration::from_millis(moments.next_ms(20, 250)));
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap();
        daemon = home.serve();
    }
    stop_producers.store(true, Ordering::SeqCst);
    for producer in producers {
        producer.join().unwrap();
    }

    // Consumers drain what is left; unacked claims come back as their leases lapse.
    let start = Instant::now();
    loop {
        let (status, body) = request(&socket, "GET", &format!("/v1/sessions/{session}/queue"), None).unwrap();
        assert_eq!(status, 200, "{body}");
        let stats: Value = serde_json::from_str(&body).unwrap();
        if stats["pending"] == 0 && stats["leased"] == 0 {
            break;
        }
        assert!(start.elapsed() < DEADLINE * 3, "the queue did not drain: {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_consumers.store(true, Ordering::SeqCst);
    for consumer in consumers {
        consumer.join().unwrap();
    }

    let ledger = ledger.lock().unwrap();
    assert!(ledger.conflicting_keys.is_empty(), "keys with two sequence numbers: {:?}", ledger.conflicting_keys);
    let seqs: HashSet<u64> = ledger.enqueued.values().copied().collect();
    assert_eq!(seqs.len(), ledger.enqueued.len(), "two keys share a sequence number");
    let lost: Vec<u64> = seqs.iter().copied().filter(|seq| !ledger.acked.contains(seq)).collect();
    assert!(lost.is_empty(), "acknowledged enqueues never acked by a consumer: {lost:?}");
    assert!(
        ledger.delivered_after_ack.is_empty(),
        "handed out after an acknowledged ack: {:?}",
        ledger.delivered_after_ack
    );

    let (_, body) = request(&socket, "GET", &format!("/v1/sessions/{session}/queue"), None).unwrap();
    let stats: Value = serde_json::from_str(&body).unwrap();
    let stored = stats["next_seq"].as_u64().unwrap() - 1;
    assert_eq!(stored, seqs.len() as u64, "the queue stored observations no producer was told of");
    assert_eq!(stats["acked"].as_u64(), Some(stored));
    let redelivered = ledger.deliveries.values().filter(|&&count| count > 1).count();
    eprintln!("{} enqueues acknowledged, {redelivered} handed out more than once (unacked claims)", seqs.len());
    assert!(seqs.len() > KILLS, "too little traffic to mean anything: {}", seqs.len());
}
