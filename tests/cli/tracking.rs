//! `baton stop`, `baton session close`, and a stop after the daemon was
//! killed with `kill -9` and started again each leave no process of the
//! agent's tree alive, a grandchild that called `setsid` included (issue 18,
//! item 1), whichever way the daemon tracks agents (`BATON_AGENT_TRACKING`):
//! a cgroup v2 per agent (where this machine lets the test make one; else the
//! test says so and returns) or `BATON_AGENT_ID` in their environments.
//! `baton status` and `baton doctor` say which way is in force.

use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;

use super::harness::{Daemon, Home, request};
use crate::support::{DEADLINE, eventually_blocking, processes_of_agent};

/// An agent whose grandchild calls `setsid`.
const SETSID_TREE: &str = "setsid sleep 299 & sleep 300";

/// Kills whatever is left of the agents a failed test started (their ids are
/// unique, so nothing else is touched).
struct Leftovers(Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for id in &self.0 {
            for (pid, _) in processes_of_agent(id) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// `baton serve` tracking agents `mode`'s way, once it answers; None (said
/// so) when it cannot start that way here.
fn serve(home: &Home, mode: &str) -> Option<Daemon> {
    let child = home
        .command(&["serve"])
        .env("BATON_AGENT_TRACKING", mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, socket: home.socket() };
    let start = Instant::now();
    while request(&daemon.socket, "GET", "/v1/health", None).map(|(status, _)| status) != Some(200) {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert_eq!(mode, "cgroup", "the daemon exited ({status}) tracking agents by {mode}");
            println!("cannot test agents in cgroups here: the daemon exited ({status})");
            return None;
        }
        assert!(start.elapsed() < DEADLINE, "the daemon did not answer");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Some(daemon)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// Spawns [`SETSID_TREE`] in a new session; returns the session and agent
/// ids once both sleeps run.
fn setsid_tree(home: &Home, leftovers: &mut Leftovers) -> (String, String) {
    let session = home.ok(&["session", "open", "--name", "tracking"]).trim().to_owned();
    let view = json_of(&home.ok(&["spawn", "--session", &session, "--json", "--", "sh", "-c", SETSID_TREE]));
    let id = view["agent"]["id"].as_str().unwrap().to_owned();
    leftovers.0.push(id.clone());
    eventually_blocking("both sleeps to run", || {
        let found = processes_of_agent(&id);
        let sleeping = |cmdline: &str| found.iter().any(|(_, line)| line == cmdline);
        (sleeping("sleep 299") && sleeping("sleep 300")).then_some(())
    });
    (session, id)
}

fn nothing_left_of(id: &str) {
    eventually_blocking("every process of the agent to be gone", || processes_of_agent(id).is_empty().then_some(()));
}

/// What `baton status` says of the tracking in force.
fn tracking_in_status(home: &Home) -> String {
    json_of(&home.ok(&["status", "--json"]))["agent_tracking"].as_str().unwrap().to_owned()
}

fn says_its_tracking(home: &Home, mode: &str) {
    let said = tracking_in_status(home);
    let expected = if mode == "cgroup" { "cgroup v2 at " } else { "subreaper + BATON_AGENT_ID" };
    assert!(said.starts_with(expected), "{said}");
    let status = home.ok(&["status"]);
    assert!(status.lines().any(|line| line.starts_with("tracking:") && line.contains(expected)), "{status}");
    let doctor = home.ok(&["doctor"]);
    assert!(doctor.lines().any(|line| line.contains("agent tracking") && line.contains(expected)), "{doctor}");
}

fn stop_takes_a_grandchild_that_called_setsid(mode: &str) {
    let home = Home::new();
    let Some(daemon) = serve(&home, mode) else { return };
    says_its_tracking(&home, mode);
    let mut leftovers = Leftovers(Vec::new());
    let (_, id) = setsid_tree(&home, &mut leftovers);
    // `ps` counts the one that left the session too.
    let views = json_of(&home.ok(&["ps", "--json"]));
    let view = views.as_array().unwrap().iter().find(|view| view["agent"]["id"] == id.as_str()).unwrap();
    assert_eq!(view["usage"]["processes"].as_u64(), Some(processes_of_agent(&id).len() as u64), "{view}");
    let stopped = json_of(&home.ok(&["stop", &id, "--json"]));
    assert_eq!(stopped["agent"]["state"].as_str().or(stopped["state"].as_str()), Some("stopped"), "{stopped}");
    nothing_left_of(&id);
    let (code, _) = daemon.terminate();
    assert_eq!(code, Some(0));
}

#[test]
fn in_a_cgroup_baton_stop_takes_a_grandchild_that_called_setsid() {
    stop_takes_a_grandchild_that_called_setsid("cgroup");
}

#[test]
fn by_environment_baton_stop_takes_a_grandchild_that_called_setsid() {
    stop_takes_a_grandchild_that_called_setsid("environ");
}

fn session_close_takes_a_grandchild_that_called_setsid(mode: &str) {
    let home = Home::new();
    let Some(daemon) = serve(&home, mode) else { return };
    let mut leftovers = Leftovers(Vec::new());
    let (session, id) = setsid_tree(&home, &mut leftovers);
    home.ok(&["session", "close", &session]);
    nothing_left_of(&id);
    daemon.terminate();
}

#[test]
fn in_a_cgroup_session_close_takes_a_grandchild_that_called_setsid() {
    session_close_takes_a_grandchild_that_called_setsid("cgroup");
}

#[test]
fn by_environment_session_close_takes_a_grandchild_that_called_setsid() {
    session_close_takes_a_grandchild_that_called_setsid("environ");
}

fn after_kill_9_and_a_restart_a_stop_takes_a_grandchild_that_called_setsid(mode: &str) {
    let home = Home::new();
    let Some(mut daemon) = serve(&home, mode) else { return };
    let mut leftovers = Leftovers(Vec::new());
    let (_, id) = setsid_tree(&home, &mut leftovers);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    assert_eq!(processes_of_agent(&id).len(), 3, "the tree outlived the daemon: {:?}", processes_of_agent(&id));

    let daemon = serve(&home, mode).expect("the daemon starts again");
    home.ok(&["stop", &id]);
    nothing_left_of(&id);
    daemon.terminate();
}

#[test]
fn in_a_cgroup_after_kill_9_and_a_restart_a_stop_takes_a_grandchild_that_called_setsid() {
    after_kill_9_and_a_restart_a_stop_takes_a_grandchild_that_called_setsid("cgroup");
}

#[test]
fn by_environment_after_kill_9_and_a_restart_a_stop_takes_a_grandchild_that_called_setsid() {
    after_kill_9_and_a_restart_a_stop_takes_a_grandchild_that_called_setsid("environ");
}
