//! A CLI that finds no daemon starts one; racing CLIs start exactly one.

use std::time::Instant;

use super::harness::{Home, describe, request};
use crate::support::DEADLINE;

/// The pids of `baton serve` processes whose command line names `data_dir`.
fn daemons_for(data_dir: &std::path::Path) -> Vec<i32> {
    let wanted = data_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> =
                cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            args.iter().any(|arg| arg == "serve") && args.contains(&wanted)
        })
        .collect()
}

/// Stops the daemons of a test, so none outlives it.
struct Reaper(std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in daemons_for(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

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
