//! `baton config check` and the daemon refuse the same config files: an
//! unknown key in any table, a value out of its range.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::Stdio;

use super::harness::{Daemon, Home};
use crate::support::eventually_blocking;

/// Writes `text` as a config file in the test's home.
fn config_file(home: &Home, text: &str) -> PathBuf {
    let path = home.dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `baton config check FILE`: its exit code, stdout and stderr.
fn check(home: &Home, file: &std::path::Path) -> (Option<i32>, String, String) {
    let output = home.command(&["config", "check"]).arg(file).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[test]
fn typos_in_any_table_are_refused_with_the_key_and_its_line() {
    let home = Home::new();
    for (text, wanted) in [
        ("[engine]\nwatchdog_intervall = 1000\n", "line 2: unknown key `engine.watchdog_intervall`"),
        ("[engine.agents]\nstop_grace = 100\nmax_runing = 4\n", "line 3: unknown key `engine.agents.max_runing`"),
        ("[engine.queue]\nkept_ackd = 5\n", "line 2: unknown key `engine.queue.kept_ackd`"),
    ] {
        let file = config_file(&home, text);
        let (code, stdout, stderr) = check(&home, &file);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert_eq!(stdout, "");
        assert_eq!(stderr.trim(), format!("baton: invalid config file {}: {wanted}", file.display()));
    }
}

#[test]
fn zeros_and_values_out_of_range_are_refused_with_what_they_must_be() {
    let home = Home::new();
    for (text, wanted) in [
        (
            "[engine]\nwatchdog_interval = 0\n",
            "line 2: engine.watchdog_interval = 0: must be from 10 to 3600000 (milliseconds)",
        ),
        ("body_limit = 0\n", "line 1: body_limit = 0: must be at least 1024 (bytes)"),
        ("[engine.agents]\nmax_running = 0\n", "line 2: engine.agents.max_running = 0: must be at least 1"),
        ("[engine.queue]\nmax_attempts = 0\n", "line 2: engine.queue.max_attempts = 0: must be at least 1"),
    ] {
        let file = config_file(&home, text);
        let (code, _, stderr) = check(&home, &file);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.trim().ends_with(wanted), "{text}: {stderr}");
    }
}

#[test]
fn the_operations_guide_example_checks_ok_and_a_missing_file_does_not() {
    let home = Home::new();
    let guide = include_str!("../../docs/operations.md");
    let start = guide.find("```toml\n").unwrap() + "```toml\n".len();
    let file = config_file(&home, &guide[start..][..guide[start..].find("```").unwrap()]);
    let (code, stdout, stderr) = check(&home, &file);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("ok {}\n", file.display()));

    let missing = home.dir.path().join("missing.toml");
    let (code, _, stderr) = check(&home, &missing);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the config file"), "{stderr}");
}

#[test]
fn without_a_file_the_daemons_own_is_checked() {
    let home = Home::new();
    // The default place, under the home's XDG_CONFIG_HOME: none yet.
    let output = home.run(&["config", "check"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("does not exist; the defaults are in force"));

    let default = home.dir.path().join("config/baton/config.toml");
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    std::fs::write(&default, "[engine]\nidle_afterr = 5\n").unwrap();
    let output = home.run(&["config", "check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown key `engine.idle_afterr`"));
}

#[test]
fn the_daemon_refuses_to_start_on_a_config_file_with_a_typo() {
    let home = Home::new();
    let file = config_file(&home, "[engine]\nwatchdog_intervall = 1000\n");
    let child =
        home.command(&["serve", "--config"]).arg(&file).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut daemon = Daemon { child, socket: home.socket() };
    let status = eventually_blocking("baton serve to refuse", || daemon.child.try_wait().unwrap());
    let mut stderr = String::new();
    daemon.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2: unknown key `engine.watchdog_intervall`"), "{stderr}");
    assert!(!home.socket().exists());
}
