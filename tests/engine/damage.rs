//! A damaged store is refused, never served short: whatever happened to its
//! files, an engine either opens it with every acknowledged record or does
//! not open it at all (issue: "a damaged store opens silently with data
//! missing").

use std::path::Path;

use baton::{
    Baton, CreateHandoff, EngineError, Error, HandoffTarget, ListHandoffs, NewObservation, OpenSession, SessionId,
    StoreError, set_store_aside,
};

use crate::support::TestEngine;

const OBSERVATIONS: usize = 300;
const HANDOFFS: usize = 20;

/// A data dir holding a session with 300 observations and 20 handoffs, all
/// acknowledged, left by an engine that shut down cleanly.
async fn filled() -> (tempfile::TempDir, SessionId) {
    let engine = TestEngine::start();
    let session = engine.baton.open_session(OpenSession::named("full")).await.unwrap();
    for n in 0..OBSERVATIONS {
        let observation =
            NewObservation::tool_use("Read", serde_json::json!({"n": n}), serde_json::json!("x".repeat(200)));
        engine.baton.observe(session.id, observation).await.unwrap();
    }
    for n in 0..HANDOFFS {
        let handoff = CreateHandoff::new(session.id, HandoffTarget::Role("reviewer".into()), format!("task {n}"));
        engine.baton.create_handoff(handoff).await.unwrap();
    }
    engine.baton.shutdown().await.unwrap();
    (engine.dir, session.id)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What an engine on `dir` serves: `Ok` with the observation and handoff
/// counts, or the error it refused with.
async fn served(dir: &Path, session: SessionId) -> Result<(usize, usize), Error> {
    let baton = Baton::builder().data_dir(dir).spawn()?;
    let observations = baton.observations(session, None, 0, 10_000).await.map(|all| all.len());
    let handoffs =
        baton.handoffs(ListHandoffs { session: Some(session), ..ListHandoffs::default() }).await.map(|all| all.len());
    baton.shutdown().await.unwrap();
    Ok((observations?, handoffs?))
}

/// Damages a copy of `pristine` with `damage`, then opens it: it must be
/// refused, or serve everything.
async fn refused_or_whole(pristine: &Path, session: SessionId, what: &str, damage: impl FnOnce(&Path)) -> bool {
    let copy = tempfile::TempDir::new().unwrap();
    copy_dir(pristine, copy.path());
    damage(&copy.path().join("store"));
    match served(copy.path(), session).await {
        Ok(counts) => {
            assert_eq!(counts, (OBSERVATIONS, HANDOFFS), "{what}: served short");
            false
        }
        // Refused when it opens, or where a read reaches the damage.
        Err(Error::Store(cause) | Error::Engine(EngineError::Store(cause))) => {
            assert!(
                matches!(
                    cause,
                    StoreError::Damaged { .. }
                        | StoreError::Open { .. }
                        | StoreError::Corrupt { .. }
                        | StoreError::Unreadable(_)
                ),
                "{what}: refused, but not as damaged: {cause}"
            );
            true
        }
        Err(err) => panic!("{what}: refused, but not as damaged: {err}"),
    }
}

fn flip_byte_at(fraction: f64) -> impl FnOnce(&Path) {
    move |store: &Path| {
        let log = store.join("db");
        let mut bytes = std::fs::read(&log).unwrap();
        let at = (bytes.len() as f64 * fraction) as usize;
        bytes[at] ^= 0x5a;
        std::fs::write(&log, bytes).unwrap();
    }
}

#[tokio::test]
async fn a_flipped_byte_anywhere_is_refused_or_loses_nothing() {
    let (pristine, session) = filled().await;
    assert_eq!(served(pristine.path(), session).await.unwrap(), (OBSERVATIONS, HANDOFFS), "the pristine store");
    let mut refused = 0;
    for fraction in [0.05, 0.25, 0.5, 0.75, 0.95] {
        refused += usize::from(
            refused_or_whole(
                pristine.path(),
                session,
                &format!("a byte flipped at {fraction}"),
                flip_byte_at(fraction),
            )
            .await,
        );
    }
    assert!(refused > 0, "no flipped byte was noticed: the test damages nothing that matters");
}

#[tokio::test]
async fn a_cut_deleted_emptied_or_overwritten_log_is_refused() {
    let (pristine, session) = filled().await;
    let cut = |store: &Path| {
        let log = std::fs::OpenOptions::new().write(true).open(store.join("db")).unwrap();
        let len = log.metadata().unwrap().len();
        log.set_len(len / 2).unwrap();
    };
    let deleted = |store: &Path| std::fs::remove_file(store.join("db")).unwrap();
    let emptied = |store: &Path| std::fs::write(store.join("db"), b"").unwrap();
    let garbage_header = |store: &Path| {
        let log = store.join("db");
        let mut bytes = std::fs::read(&log).unwrap();
        bytes[..512].fill(0xa5);
        std::fs::write(&log, bytes).unwrap();
    };
    let store_removed = |store: &Path| std::fs::remove_dir_all(store).unwrap();
    assert!(refused_or_whole(pristine.path(), session, "the log cut in half", cut).await, "a log cut in half");
    assert!(refused_or_whole(pristine.path(), session, "the log deleted", deleted).await, "a deleted log");
    assert!(refused_or_whole(pristine.path(), session, "the log emptied", emptied).await, "an emptied log");
    assert!(
        refused_or_whole(pristine.path(), session, "a garbage header", garbage_header).await,
        "a log with a garbage header"
    );
    assert!(
        refused_or_whole(pristine.path(), session, "the store removed", store_removed).await,
        "a store directory removed whole"
    );
}

#[tokio::test]
async fn a_refused_store_says_what_is_missing_and_is_left_as_it_is() {
    let (dir, session) = filled().await;
    let log = dir.path().join("store").join("db");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len / 2).unwrap();

    let err = Baton::builder().data_dir(dir.path()).spawn().unwrap_err();
    let message = err.to_string();
    assert!(message.contains("has lost writes it acknowledged"), "{message}");
    assert!(message.contains("of") && message.contains("commit"), "says what is missing: {message}");
    assert!(message.contains("Restore it from a backup"), "says what to do: {message}");
    // Refused again: the first refusal did not make it look whole.
    assert!(matches!(
        Baton::builder().data_dir(dir.path()).spawn().unwrap_err(),
        Error::Store(StoreError::Damaged { .. })
    ));

    // Set aside, it is kept whole; the data dir starts over empty.
    let aside = set_store_aside(dir.path()).unwrap();
    assert!(aside.join("db").exists(), "the damaged log is kept");
    assert!(aside.with_file_name(format!("{}.commit", aside.file_name().unwrap().to_string_lossy())).exists());
    let baton = Baton::builder().data_dir(dir.path()).spawn().unwrap();
    assert!(baton.sessions().await.unwrap().is_empty());
    assert!(baton.session(session).await.is_err());
    baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_backup_taken_while_running_opens_with_everything_acknowledged_before_it() {
    let (dir, session) = filled().await;
    let engine = Baton::builder().data_dir(dir.path()).spawn().unwrap();
    let backup = tempfile::TempDir::new().unwrap();
    let dest = backup.path().join("backup");
    // Writes go on while it is taken; it holds at least what was acknowledged before.
    let writer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            for n in 0..50 {
                let observation = NewObservation::tool_use("Edit", serde_json::json!({"n": n}), serde_json::json!("y"));
                engine.observe(session, observation).await.unwrap();
            }
        })
    };
    let record = engine.backup(&dest).await.unwrap();
    writer.await.unwrap();
    assert!(record.commit > 0);
    assert!(engine.backup(&dest).await.is_err(), "a backup never overwrites one");
    engine.shutdown().await.unwrap();

    let restored = Baton::builder().data_dir(&dest).spawn().unwrap();
    let observations = restored.observations(session, None, 0, 10_000).await.unwrap().len();
    assert!((OBSERVATIONS..=OBSERVATIONS + 50).contains(&observations), "{observations} observations");
    assert_eq!(
        restored.handoffs(ListHandoffs { session: Some(session), ..ListHandoffs::default() }).await.unwrap().len(),
        HANDOFFS
    );
    let check = restored.check_store().await.unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    restored.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_check_reads_every_record_and_agrees_with_the_commit_record() {
    let (dir, _) = filled().await;
    let baton = Baton::builder().data_dir(dir.path()).spawn().unwrap();
    let check = baton.check_store().await.unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!((check.sessions, check.handoffs, check.undecodable), (1, HANDOFFS as u64, 0));
    assert!(check.events > 0 && check.records > check.events);
    baton.shutdown().await.unwrap();

    // A record that no longer decodes is named.
    {
        let db = sled::open(dir.path().join("store")).unwrap();
        let events = db.open_tree("events").unwrap();
        let (key, _) = events.first().unwrap().unwrap();
        events.insert(key, b"{not json".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let baton = Baton::builder().data_dir(dir.path()).spawn().unwrap();
    let check = baton.check_store().await.unwrap();
    assert_eq!(check.undecodable, 1);
    assert!(check.problems[0].starts_with("events: corrupt events record"), "{:?}", check.problems);
    baton.shutdown().await.unwrap();
}
