//! A CLI that finds no daemon starts one; racing CLIs start exactly one.

use std::time::Instant;

use super::harness::{Home, Reaper, daemons_for, describe, request};
use crate::support::DEADLINE;

#[test]
fn racing_clis_start_exactly_one_daemon() {
    let home = Home::new();
    let _reaper = Reaper(home.data_dir());
    let racers: Vec<_> = (0..4)
        .map(|_| {
            home.command(&["session", "list", "--json"])
                .env_remove("BATON_NO_AUTOSTART")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for racer in racers {
        let output = racer.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), "[]");
    }
    // The losers of the race exit at once; wait until only the winner is left.
    let start = Instant::now();
    loop {
        let daemons = daemons_for(&home.data_dir());
        if daemons.len() == 1 {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{} daemons run: {daemons:?}", daemons.len());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(request(&home.socket(), "GET", "/v1/health", None).unwrap().0, 200);
    // The first CLI made the data dir (for the daemon's log): private, as the daemon would.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(home.data_dir()).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o700);
    let status: serde_json::Value = serde_json::from_str(&home.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["pid"].as_i64(), Some(i64::from(daemons_for(&home.data_dir())[0])));
}
