//! Writes a small store in this build's schema, for `tests/store_upgrade.rs`:
//! every later build must open it and read back what it holds. Run it once
//! for each new schema version, and check its output in:
//!
//! ```sh
//! cargo run -p baton-actors --example write_store_fixture -- actors/tests/fixtures/store-schema-1
//! ```
//!
//! The content is fixed (names, payloads, times) so the test can name it; the
//! ids are the ones made at the time.

use std::path::PathBuf;

use anyhow::{Context, bail};
use baton_actors::model::{
    Agent, EventKind, Handoff, HandoffTarget, NewEvent, NewObservation, ObservationKind, OpenSession,
    PendingObservation, QueueStats, Session, SessionState,
};
use baton_actors::store::{QueueOp, QueueWrite, SCHEMA_VERSION};
use baton_actors::{SledStore, Store, StoreOptions};
use chrono::{DateTime, Utc};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os().nth(1).context("usage: write_store_fixture DIR")?.into();
    if dir.exists() {
        bail!("{} exists: a fixture is written once, by the build whose schema it records", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    let store = SledStore::open(&dir.join("store"), StoreOptions::default())?;
    let at: DateTime<Utc> = "2026-12-06T12:00:00Z".parse()?;

    let session = Session::open(OpenSession::named("fixture").with_external_id("fixture-external"), at);
    let opened = EventKind::SessionOpened { name: session.name.clone(), external_id: session.external_id.clone() };
    store.save_session(&session, vec![NewEvent::session(session.id, at, opened)])?;
    let mut closed = Session::open(OpenSession::named("fixture-closed"), at);
    closed.transition(SessionState::Closing, at, None)?;
    closed.transition(SessionState::Closed, at, Some("done".into()))?;
    store.save_session(&closed, Vec::new())?;

    // 1 to 4 enqueued together (one bundle), 5 on its own, 1 with a key.
    let posted = |seq: u64| {
        let posted = NewObservation::new(ObservationKind::ToolUse, serde_json::json!({"n": seq}));
        PendingObservation::new(session.id, seq, if seq == 1 { posted.with_key("key-1") } else { posted }, at)
    };
    store.enqueue(&(1..=4).map(posted).collect::<Vec<_>>())?.await?;
    store.enqueue(&[posted(5)])?.await?;
    // 1 leased, 2 discarded (gone from its bundle), 5 acked and kept, and a
    // key remembered past its observation.
    let mut leased = posted(1).to_observation();
    leased.lease_to("fixture-consumer", at + chrono::Duration::hours(1), at)?;
    let mut acked = posted(5).to_observation();
    acked.lease_to("fixture-consumer", at + chrono::Duration::hours(1), at)?;
    acked.ack(at)?;
    let mut stats = QueueStats::empty();
    (stats.next_seq, stats.pending, stats.leased, stats.acked) = (6, 2, 1, 1);
    let ops = vec![
        QueueOp::Put(leased),
        QueueOp::Remove { seq: 2, key: None },
        QueueOp::Put(acked),
        QueueOp::Remember { key: "remembered-key".into(), seq: 2, at },
    ];
    store.write_queue(session.id, &QueueWrite { stats, ops }, Vec::new())?;

    store.save_agent(&Agent::queued(session.id, vec!["sleep".into(), "60".into()], at), Vec::new())?;
    let handoff = Handoff::new(session.id, None, HandoffTarget::Role("reviewer".into()), "review the change", at);
    store.save_handoffs(&[handoff], Vec::new())?;
    store.commit().await?;
    drop(store);
    println!("wrote a schema-{SCHEMA_VERSION} store to {}", dir.display());
    Ok(())
}
