use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::thread;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;

/// A hook event numbered `n`, so tests can check what arrived in which order.
fn event(n: usize) -> Value {
    json!({"session_id": "s", "hook_event_name": "PostToolUse", "tool_use_id": format!("toolu_{n}")})
}

/// The number of a delivered event.
fn number(entry: &SpoolEntry) -> usize {
    entry.event["tool_use_id"].as_str().unwrap().trim_start_matches("toolu_").parse().unwrap()
}

/// Drains everything, returning the numbers delivered in order.
fn drain_all(spool: &Spool) -> (Vec<usize>, DrainReport) {
    let mut seen = Vec::new();
    let report = spool
        .drain(|entry| {
            seen.push(number(entry));
            Ok::<_, String>(())
        })
        .unwrap();
    (seen, report)
}

fn spool_in(dir: &TempDir) -> Spool {
    Spool::new(dir.path().join("data"))
}

#[test]
fn entries_are_delivered_oldest_first_and_then_gone() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    assert!(spool.is_empty().unwrap());
    let appended: Vec<SpoolEntry> = (0..5).map(|n| spool.append(&event(n)).unwrap()).collect();
    assert!(!spool.is_empty().unwrap());

    let mut seen = Vec::new();
    let report = spool
        .drain(|entry| {
            seen.push(entry.clone());
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(seen, appended);
    assert_eq!(report, DrainReport { delivered: 5, skipped: 0, outcome: DrainOutcome::Emptied });
    assert!(spool.is_empty().unwrap());
    assert!(!spool.path().exists(), "an emptied spool is removed");
    assert_eq!(drain_all(&spool).0, Vec::<usize>::new());
}

#[test]
fn the_spool_is_private_and_created_with_its_data_dir() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    spool.append(&event(1)).unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(spool.path()), 0o600);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    let line = fs::read_to_string(spool.path()).unwrap();
    let stored: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(stored["event"], event(1));
    assert!(stored["id"].is_string() && stored["spooled_at"].is_string(), "{stored}");
}

#[test]
fn entries_carry_unique_time_ordered_ids_and_keys() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    let entries: Vec<SpoolEntry> = (0..100).map(|n| spool.append(&event(n)).unwrap()).collect();
    let ids: HashSet<Uuid> = entries.iter().map(|entry| entry.id).collect();
    assert_eq!(ids.len(), 100);
    assert!(entries.iter().all(|entry| entry.id.get_version_num() == 7));
    assert!(entries.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert_eq!(entries[0].idempotency_key(), format!("spool:{}", entries[0].id));
}

#[test]
fn a_failed_delivery_keeps_it_and_the_rest_in_order_for_the_next_drain() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    for n in 0..6 {
        spool.append(&event(n)).unwrap();
    }
    let mut seen = Vec::new();
    let err = spool
        .drain(|entry| {
            if number(entry) == 2 {
                return Err("daemon went away".to_owned());
            }
            seen.push(number(entry));
            Ok(())
        })
        .unwrap_err();
    assert_eq!(seen, [0, 1]);
    match &err {
        SpoolError::Delivery { error, report } => {
            assert_eq!(error, "daemon went away");
            assert_eq!(report.delivered, 2);
        }
        other => panic!("expected a delivery error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "cannot deliver a spooled hook event (2 delivered before it; it and the rest are kept): daemon went away"
    );

    spool.append(&event(6)).unwrap();
    let (seen, report) = drain_all(&spool);
    assert_eq!(seen, [2, 3, 4, 5, 6]);
    assert_eq!(report.delivered, 5);
}

#[test]
fn a_long_spool_is_delivered_across_batches() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    let count = BATCH * 2 + 3;
    for n in 0..count {
        spool.append(&event(n)).unwrap();
    }
    let mut delivered = 0;
    let err = spool
        .drain(|_| {
            if delivered == BATCH + 1 {
                return Err("budget spent");
            }
            delivered += 1;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, SpoolError::Delivery { ref report, .. } if report.delivered == BATCH + 1), "{err:?}");
    let (seen, _) = drain_all(&spool);
    assert_eq!(seen, (BATCH + 1..count).collect::<Vec<_>>());
}

#[test]
fn a_drain_that_dies_before_removing_delivers_the_same_ids_again() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    let appended: Vec<Uuid> = (0..3).map(|n| spool.append(&event(n)).unwrap().id).collect();
    let mut first_try = Vec::new();
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = spool.drain(|entry| {
            first_try.push(entry.id);
            if first_try.len() == 3 {
                panic!("killed between delivering and removing");
            }
            Ok::<_, String>(())
        });
    }));
    assert!(died.is_err());
    assert_eq!(first_try, appended);

    let mut second_try = Vec::new();
    spool
        .drain(|entry| {
            second_try.push(entry.id);
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(second_try, appended, "redelivered with the same ids, so a receiver can drop the repeats");
}

#[test]
fn a_torn_last_line_is_skipped_and_does_not_swallow_the_next_entry() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    spool.append(&event(0)).unwrap();
    // A hook that died mid-append.
    fs::OpenOptions::new().append(true).open(spool.path()).unwrap().write_all(br#"{"id":"0190a1b2-"#).unwrap();
    spool.append(&event(1)).unwrap();
    spool.append(&event(2)).unwrap();

    let (seen, report) = drain_all(&spool);
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(report, DrainReport { delivered: 3, skipped: 1, outcome: DrainOutcome::Emptied });
    assert!(!spool.path().exists());
}

#[test]
fn a_torn_line_at_the_very_end_is_skipped_and_removed() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    spool.append(&event(0)).unwrap();
    fs::OpenOptions::new().append(true).open(spool.path()).unwrap().write_all(b"{\"id\":").unwrap();
    let (seen, report) = drain_all(&spool);
    assert_eq!((seen, report.skipped), (vec![0], 1));
    assert!(spool.is_empty().unwrap());
}

#[test]
fn a_whole_entry_missing_only_its_newline_is_delivered() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    let entry = SpoolEntry::new(event(0));
    fs::create_dir_all(dir.path().join("data")).unwrap();
    fs::write(spool.path(), serde_json::to_vec(&entry).unwrap()).unwrap();
    spool.append(&event(1)).unwrap();
    assert_eq!(
        drain_all(&spool),
        (vec![0, 1], DrainReport { delivered: 2, skipped: 0, outcome: DrainOutcome::Emptied })
    );
}

#[test]
fn draining_a_missing_or_empty_spool_does_nothing_and_creates_nothing() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    let (seen, report) = drain_all(&spool);
    assert!(seen.is_empty());
    assert_eq!(report, DrainReport { delivered: 0, skipped: 0, outcome: DrainOutcome::Emptied });
    assert!(!dir.path().join("data").exists());

    fs::create_dir_all(dir.path().join("data")).unwrap();
    fs::write(spool.path(), b"").unwrap();
    assert_eq!(drain_all(&spool).1.delivered, 0);
}

#[test]
fn concurrent_appends_lose_nothing_and_keep_each_writers_order() {
    let dir = TempDir::new().unwrap();
    let spool = Arc::new(spool_in(&dir));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let spool = Arc::clone(&spool);
            thread::spawn(move || {
                for n in 0..50 {
                    spool.append(&event(writer * 1000 + n)).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let (seen, report) = drain_all(&spool);
    assert_eq!((seen.len(), report.skipped), (200, 0));
    for writer in 0..4 {
        let own: Vec<usize> = seen.iter().copied().filter(|n| n / 1000 == writer).collect();
        assert_eq!(own, (0..50).map(|n| writer * 1000 + n).collect::<Vec<_>>());
    }
}

#[test]
fn appends_during_a_drain_are_delivered_once_by_it() {
    let dir = TempDir::new().unwrap();
    let spool = Arc::new(spool_in(&dir));
    spool.append(&event(0)).unwrap();
    let appender = {
        let spool = Arc::clone(&spool);
        move |n| spool.append(&event(n)).unwrap()
    };
    let mut seen = Vec::new();
    spool
        .drain(|entry| {
            let n = number(entry);
            seen.push(n);
            if n < 150 {
                // Another hook spools while this drain delivers.
                let appender = appender.clone();
                thread::spawn(move || appender(n + 1)).join().unwrap();
            }
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(seen, (0..=150).collect::<Vec<_>>());
    assert!(spool.is_empty().unwrap());
}

#[test]
fn a_second_drainer_leaves_the_spool_to_the_first() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    spool.append(&event(0)).unwrap();
    spool.append(&event(1)).unwrap();
    let mut nested = None;
    let (seen, _) = {
        let mut seen = Vec::new();
        let report = spool
            .drain(|entry| {
                if nested.is_none() {
                    nested = Some(drain_all(&Spool::new(dir.path().join("data"))));
                }
                seen.push(number(entry));
                Ok::<_, String>(())
            })
            .unwrap();
        (seen, report)
    };
    assert_eq!(seen, [0, 1]);
    let (nested_seen, nested_report) = nested.unwrap();
    assert!(nested_seen.is_empty());
    assert_eq!(nested_report.outcome, DrainOutcome::AnotherDrainer);
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_drain_awaits_each_delivery_in_order() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    for n in 0..3 {
        spool.append(&event(n)).unwrap();
    }
    let seen = std::cell::RefCell::new(Vec::new());
    let report = spool
        .drain_async(|entry| {
            let n = number(entry);
            let seen = &seen;
            async move {
                tokio::task::yield_now().await;
                seen.borrow_mut().push(n);
                if n == 2 { Err("refused") } else { Ok(()) }
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(report, SpoolError::Delivery { ref report, .. } if report.delivered == 2));
    assert_eq!(*seen.borrow(), [0, 1, 2]);
    assert_eq!(drain_all(&spool).0, [2]);
}

#[test]
fn debug_shows_the_event_only_by_size() {
    let entry = SpoolEntry::new(json!({"prompt": "my token is sk-secret"}));
    let shown = format!("{entry:?}");
    assert!(!shown.contains("sk-secret"), "{shown}");
    assert!(shown.contains("bytes>"), "{shown}");
}

#[test]
fn an_event_that_would_not_read_back_is_refused_and_not_spooled() {
    let dir = TempDir::new().unwrap();
    let spool = spool_in(&dir);
    // As deep as serde_json reads at all: the entry around it is one level too many.
    let deep = (1..127).fold(json!([]), |inner, _| json!([inner]));
    assert!(serde_json::from_str::<Value>(&deep.to_string()).is_ok());
    let err = spool.append(&deep).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().starts_with("the event would not read back from the spool: recursion limit"), "{err}");
    assert!(!spool.path().exists(), "nothing was written");
    spool.append(&event(1)).unwrap();
    assert_eq!(drain_all(&spool).0, [1]);
}
