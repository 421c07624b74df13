//! Every schema a baton release wrote stays readable: a fixture store of
//! each (`fixtures/store-schema-N`, written by `examples/write_store_fixture.rs`
//! with the build of that schema) is upgraded by this build and read back.

use std::path::Path;

use baton_actors::model::{HandoffTarget, ObservationState, SessionState};
use baton_actors::store::SCHEMA_VERSION;
use baton_actors::{SledStore, Store, StoreOptions};
use tempfile::TempDir;

/// Copies the fixture `name` into a temporary directory: opening a store may write to it.
fn copy_fixture(name: &str) -> TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = TempDir::new().unwrap();
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), dir.path());
    dir
}

#[test]
fn a_store_of_schema_1_opens_and_reads_back_everything_it_holds() {
    let dir = copy_fixture("store-schema-1");
    let store = SledStore::open(&dir.path().join("store"), StoreOptions::default()).unwrap();

    let sessions = store.sessions().unwrap();
    let names: Vec<_> = sessions.iter().map(|s| (s.name.as_deref().unwrap(), s.state)).collect();
    assert_eq!(names, [("fixture", SessionState::Active), ("fixture-closed", SessionState::Closed)]);
    let session = store.session_by_external_id("fixture-external").unwrap().expect("found by its external id");
    assert_eq!(session.id, sessions[0].id);

    // 1 leased, 2 gone from its bundle, 3 and 4 still only in it, 5 acked and kept.
    let queue = store.queue(session.id).unwrap();
    let live: Vec<_> = queue.live.iter().map(|o| (o.seq, o.state, o.payload["n"].as_u64())).collect();
    assert_eq!(
        live,
        [
            (1, ObservationState::Leased, Some(1)),
            (3, ObservationState::Pending, Some(3)),
            (4, ObservationState::Pending, Some(4)),
        ]
    );
    assert_eq!(queue.live[0].key.as_deref(), Some("key-1"));
    assert_eq!(queue.live[0].lease.as_ref().map(|lease| lease.consumer.as_str()), Some("fixture-consumer"));
    assert_eq!(queue.kept, [(5, None)]);
    let remembered: Vec<_> = queue.remembered.iter().map(|(seq, key, _)| (*seq, key.as_str())).collect();
    assert_eq!(remembered, [(2, "remembered-key")]);
    assert_eq!(queue.stats.map(|stats| (stats.next_seq, stats.acked)), Some((6, 1)));
    assert!(store.observation(session.id, 2).unwrap().is_none());
    assert_eq!(store.observation(session.id, 5).unwrap().map(|o| o.state), Some(ObservationState::Acked));
    let listed: Vec<u64> = store.observations(session.id, None, 0, 10).unwrap().iter().map(|o| o.seq).collect();
    assert_eq!(listed, [1, 3, 4, 5]);

    let agents = store.agents().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (agents[0].session, agents[0].spec.argv.as_slice()),
        (session.id, ["sleep", "60"].map(String::from).as_slice())
    );
    let handoffs = store.handoffs(Some(session.id)).unwrap();
    assert_eq!(handoffs.len(), 1);
    assert_eq!(
        (handoffs[0].task.as_str(), &handoffs[0].to),
        ("review the change", &HandoffTarget::Role("reviewer".into()))
    );
    assert_eq!(store.events_after(0, 10).unwrap().len(), 1, "the session's opening");

    let check = store.check().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    drop(store);

    // Marked with this build's schema, so an older build refuses it.
    let meta = sled::open(dir.path().join("store")).unwrap().open_tree("meta").unwrap();
    assert_eq!(meta.get("schema_version").unwrap().unwrap().as_ref(), SCHEMA_VERSION.to_be_bytes());
}
