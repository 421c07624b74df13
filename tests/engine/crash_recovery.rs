//! Acknowledged sessions survive `kill -9` of the process that opened them.
//!
//! The test re-runs its own binary as the child (the ignored `opener_child`
//! entry point below): the child opens sessions as fast as it can from several
//! tasks at once and prints each id once its open is acknowledged. The test
//! kills it with SIGKILL mid-stream, then checks with a new engine that every
//! printed id is in the store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use baton::{Baton, OpenSession, SessionId, SessionState};

const DATA_DIR_VAR: &str = "BATON_CRASH_TEST_DATA_DIR";
const ACKED: &str = "ACKED ";
const ROUNDS: usize = 20;

#[test]
fn every_acknowledged_session_survives_sigkill_of_the_opener() {
    let dir = tempfile::TempDir::new().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acknowledged: Vec<SessionId> = Vec::new();

    for round in 0..ROUNDS {
        // Kill at a different point of the stream each round.
        let kill_after = 3 + (round * 7) % 40;
        let acked_this_round = run_opener_until_killed(dir.path(), kill_after);
        assert!(
            acked_this_round.len() >= kill_after,
            "round {round}: the opener stopped after {} sessions",
            acked_this_round.len()
        );
        acknowledged.extend(acked_this_round);

        runtime.block_on(async {
            let baton = Baton::builder().data_dir(dir.path()).spawn().expect("the store reopens after SIGKILL");
            for id in &acknowledged {
                let session = baton.session(*id).await.unwrap_or_else(|err| panic!("round {round}: lost {id}: {err}"));
                assert_eq!(session.state, SessionState::Active);
            }
            baton.shutdown().await.unwrap();
        });
    }
    assert!(acknowledged.len() >= ROUNDS * 3);
}

/// Runs the opener on `data_dir`, kills it with SIGKILL once it has
/// acknowledged `kill_after` sessions, and returns every id it printed.
fn run_opener_until_killed(data_dir: &Path, kill_after: usize) -> Vec<SessionId> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "engine::crash_recovery::opener_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DATA_DIR_VAR, data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        let Some(line) = lines.next() else { break };
        if let Some(id) = line.unwrap().strip_prefix(ACKED) {
            acked.push(id.parse().unwrap());
        }
    }
    child.kill().unwrap();
    // Lines already in the pipe were printed, so acknowledged, before the kill.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix(ACKED) {
            acked.push(id.parse().unwrap());
        }
    }
    child.wait().unwrap();
    acked
}

/// Not a test: the child process of the test above. It opens sessions until
/// it is killed and prints each acknowledged id.
#[test]
#[ignore = "the child process of every_acknowledged_session_survives_sigkill_of_the_opener"]
fn opener_child() {
    let data_dir = std::env::var_os(DATA_DIR_VAR).expect("run by the crash recovery test");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let baton = Baton::builder().data_dir(data_dir).spawn().unwrap();
        let openers = (0..4).map(|opener| {
            let baton = baton.clone();
            async move {
                for n in 0.. {
                    let spec = OpenSession::named(format!("opener {opener} #{n}"));
                    let session = baton.open_session(spec).await.unwrap();
                    println!("{ACKED}{}", session.id);
                }
            }
        });
        futures_util::future::join_all(openers).await;
    });
}
