//! `baton spawn`, `ps`, `stop`, `restart` and `logs` end to end: the real
//! daemon running real processes. Every test stops what it spawned, and checks
//! that no process of its own is left.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use super::harness::{Home, Leftovers, describe, error_code, request};

/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(15);

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn open_session(home: &Home) -> String {
    home.ok(&["session", "open", "--name", "agents"]).trim().to_owned()
}

/// Polls `condition` until it holds, or panics with `what` after [`PATIENCE`].
fn eventually<T>(what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The agent's view from `ps --json`.
fn view_of(home: &Home, id: &str) -> Value {
    let views = json_of(&home.ok(&["ps", "--json"]));
    views.as_array().unwrap().iter().find(|view| view["agent"]["id"] == id).cloned().expect("the agent is listed")
}

/// The pids of live processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|arg| arg.bytes().chain([0])).collect();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')));
        if cmdline == wanted && !zombie {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn spawn_ps_stop_and_restart_a_real_process() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let command = ["sleep", "3611"];
    let id = home.ok(&["spawn", "--session", &session, "--role", "worker", "--", command[0], command[1]]);
    let id = id.trim().to_owned();
    let view = view_of(&home, &id);
    let pid = u32::try_from(view["agent"]["pid"].as_u64().expect("a running agent has a pid")).unwrap();
    let mut leftovers = Leftovers(vec![pid]);
    assert_eq!(view["agent"]["state"], "running");
    assert_eq!(view["agent"]["role"], "worker");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "pid {pid} is alive");
    assert!(view["usage"]["rss_bytes"].as_u64().unwrap() > 0, "{view}");
    assert!(view["uptime_ms"].is_u64(), "{view}");

    let table = home.ok(&["ps", "--session", &session]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("LAST EXIT") && lines[0].contains("COMMAND"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    for expected in [id.as_str(), "running", &pid.to_string(), "sleep 3611"] {
        assert!(lines[1].contains(expected), "{expected} in {table}");
    }

    let stopped = home.ok(&["stop", &id, "--grace", "2s"]);
    assert!(stopped.starts_with(&format!("{id} stopped")), "{stopped}");
    assert_eq!(view_of(&home, &id)["agent"]["state"], "stopped");
    assert!(home.ok(&["ps"]).contains("stopped"));
    eventually("the process to be gone", || processes_running(&command).is_empty().then_some(()));

    // A stopped agent runs again, with a new process.
    let restarted = json_of(&home.ok(&["restart", &id, "--json"]));
    assert_eq!(restarted["agent"]["id"], id.as_str());
    let new_pid = eventually("the agent to run again", || {
        let view = view_of(&home, &id);
        (view["agent"]["state"] == "running").then(|| view["agent"]["pid"].as_u64()).flatten()
    });
    leftovers.0.push(u32::try_from(new_pid).unwrap());
    assert_eq!(processes_running(&command), vec![u32::try_from(new_pid).unwrap()]);
    // Restarting a running agent is a conflict.
    home.fails(&["restart", &id], 5);

    let stopped = json_of(&home.ok(&["stop", &id, "--json"]));
    assert_eq!(stopped["agent"]["state"], "stopped");
    eventually("no sleep to be left", || processes_running(&command).is_empty().then_some(()));
    // Stopping it again is no error: it is returned as it is.
    assert!(home.ok(&["stop", &id]).contains("stopped"));
    let status = json_of(&home.ok(&["status", "--json"]));
    assert_eq!(status["agents"]["stopped"], 1, "{status}");
    let (code, metrics) = request(&home.socket(), "GET", "/metrics", None).unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains(r#"baton_agents{state="stopped"} 1"#), "{metrics}");
    leftovers.0.clear();
}

#[test]
fn exit_code_and_output_are_shown() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let id = home.ok(&["spawn", "--session", &session, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"]);
    let id = id.trim().to_owned();
    let view = eventually("the agent to exit", || {
        let view = view_of(&home, &id);
        (view["agent"]["state"] == "exited").then_some(view)
    });
    assert_eq!(view["agent"]["last_exit"], json!({"code": 3, "signal": null}));
    assert_eq!(view["stdout_tail"], json!(["hi"]));
    assert_eq!(view["stderr_tail"], json!(["oops"]));
    assert!(view["usage"].is_null() && view["uptime_ms"].is_null(), "{view}");
    let table = home.ok(&["ps"]);
    assert!(table.contains("exited") && table.contains("exit code 3"), "{table}");

    assert_eq!(home.ok(&["logs", &id]), "hi\n");
    assert_eq!(home.ok(&["logs", &id, "--stderr"]), "oops\n");
    assert_eq!(json_of(&home.ok(&["logs", &id, "--json"])), json!(["hi"]));
    let (code, text) =
        request(&home.socket(), "GET", &format!("/v1/agents/{id}/logs?stream=stderr&lines=5"), None).unwrap();
    assert_eq!((code, text.as_str()), (200, "oops\n"));
}

#[test]
fn logs_follow_prints_new_output_until_stopped() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let script = "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second; exec sleep 3612";
    let dir = home.dir.path().to_str().unwrap().to_owned();
    let id = home.ok(&["spawn", "--session", &session, "--cwd", &dir, "--", "sh", "-c", script]).trim().to_owned();
    let pid = view_of(&home, &id)["agent"]["pid"].as_u64().unwrap();
    let _leftovers = Leftovers(vec![u32::try_from(pid).unwrap()]);
    eventually("the first line", || (home.ok(&["logs", &id]) == "first\n").then_some(()));

    let mut follower = home.command(&["logs", &id, "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    assert_eq!(lines.recv_timeout(PATIENCE).unwrap(), "first");
    std::fs::write(home.dir.path().join("go"), "").unwrap();
    assert_eq!(lines.recv_timeout(PATIENCE).unwrap(), "second");
    // It follows until interrupted.
    assert!(follower.try_wait().unwrap().is_none(), "--follow keeps running");
    nix::sys::signal::kill(Pid::from_raw(i32::try_from(follower.id()).unwrap()), Signal::SIGINT).unwrap();
    let status = follower.wait().unwrap();
    assert!(status.success(), "ctrl-c ends --follow cleanly: {status:?}");
    reader.join().unwrap();

    home.ok(&["stop", &id]);
    eventually("no sleep to be left", || processes_running(&["sleep", "3612"]).is_empty().then_some(()));
}

#[test]
fn bad_input_spawns_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let unknown_session = "01890000-0000-7000-8000-000000000000";
    let unknown_agent = "01890000-0000-7000-8000-000000000001";

    // Usage errors, caught before the daemon is asked.
    home.fails(&["spawn", "--session", &session], 2);
    home.fails(&["spawn", "--session", &session, "--max-runtime", "soon", "--", "sleep", "3613"], 2);
    home.fails(&["spawn", "--session", &session, "--restart", "sometimes", "--", "sleep", "3613"], 2);
    home.fails(&["spawn", "--session", &session, "--max-rss", "lots", "--", "sleep", "3613"], 2);
    home.fails(&["stop", "not-an-id"], 2);
    // Unknown ids.
    let stderr = home.fails(&["spawn", "--session", unknown_session, "--", "sleep", "3613"], 4);
    assert!(stderr.starts_with("baton: ") && stderr.lines().count() == 1, "{stderr}");
    for verb in [&["stop", unknown_agent][..], &["restart", unknown_agent], &["logs", unknown_agent]] {
        home.fails(verb, 4);
    }
    home.fails(&["logs", unknown_agent, "--follow"], 4);

    // Over raw HTTP, what the CLI never sends.
    let socket = home.socket();
    let spawn = |body: Value| {
        let (code, answer) = request(&socket, "POST", "/v1/agents", Some(body.to_string().as_bytes())).unwrap();
        (code, error_code(&answer))
    };
    let bad_request = (400, "bad_request".to_owned());
    assert_eq!(spawn(json!({"session": session, "argv": []})), bad_request);
    assert_eq!(spawn(json!({"session": session, "argv": [""]})), bad_request);
    assert_eq!(spawn(json!({"session": session, "argv": ["sleep", "3613"], "restart": "sometimes"})), bad_request);
    assert_eq!(spawn(json!({"session": session, "argv": ["sleep", "3613"], "max_runtime_ms": 0})), bad_request);
    assert_eq!(spawn(json!({"session": session, "argv": ["sleep", "3613"], "max_rss_bytes": "1G"})), bad_request);
    assert_eq!(spawn(json!({"session": session, "argv": ["sleep", "3613"], "argc": 2})), bad_request);
    assert_eq!(spawn(json!({"session": unknown_session, "argv": ["sleep", "3613"]})), (404, "not_found".to_owned()));
    let (code, answer) =
        request(&socket, "GET", &format!("/v1/agents/{unknown_agent}/logs?stream=stdin"), None).unwrap();
    assert_eq!((code, error_code(&answer)), bad_request);
    let (code, answer) = request(&socket, "GET", &format!("/v1/agents/{unknown_agent}/logs"), None).unwrap();
    assert_eq!((code, error_code(&answer)), (404, "not_found".to_owned()));
    let (code, _) = request(&socket, "GET", "/v1/agents?session=nope", None).unwrap();
    assert_eq!(code, 400);

    assert_eq!(json_of(&home.ok(&["ps", "--json"])), json!([]));
    assert!(processes_running(&["sleep", "3613"]).is_empty());
}

#[test]
fn spawn_options_reach_the_record_and_the_process() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let view = json_of(&home.ok(&[
        "spawn",
        "--session",
        &session,
        "--json",
        "--restart",
        "on-failure",
        "--max-restarts",
        "1",
        "--max-runtime",
        "1h",
        "--stale-after",
        "10m",
        "--max-rss",
        "1000000000",
        "--env",
        "GREETING=hello there",
        "--",
        "sh",
        "-c",
        "echo \"$GREETING\"; exit 1",
    ]));
    let agent = &view["agent"];
    assert_eq!(agent["restart"], "on-failure");
    assert_eq!(agent["schedule"]["intensity"]["max_restarts"], 1);
    assert_eq!(agent["limits"]["max_runtime"], 3_600_000);
    assert_eq!(agent["limits"]["stale_after"], 600_000);
    assert_eq!(agent["limits"]["max_rss_bytes"], 1_000_000_000_u64);
    let id = agent["id"].as_str().unwrap().to_owned();
    // It fails, is run once more, fails again, and baton gives up on it.
    let view = eventually("the agent to be given up on", || {
        let view = view_of(&home, &id);
        (view["agent"]["state"] == "failed").then_some(view)
    });
    assert_eq!(view["agent"]["restarts"], 1, "{view}");
    assert_eq!(view["agent"]["last_exit"]["code"], 1, "{view}");
    assert_eq!(home.ok(&["logs", &id]), "hello there\nhello there\n");
    let table = home.ok(&["ps", "--session", &session]);
    assert!(table.contains("failed") && table.contains("exit code 1"), "{table}");
}

#[test]
fn max_rss_takes_sizes_with_units_as_ps_prints_them() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    for (size, bytes) in [("512M", 512_u64 << 20), ("1.5GiB", 3 << 29), ("4096", 4096)] {
        let view = json_of(&home.ok(&["spawn", "--session", &session, "--json", "--max-rss", size, "--", "true"]));
        assert_eq!(view["agent"]["limits"]["max_rss_bytes"], bytes, "--max-rss {size}");
    }
    let stderr = home.fails(&["spawn", "--session", &session, "--max-rss", "lots", "--", "true"], 2);
    assert!(stderr.contains("a size such as 512M or 2GiB"), "{stderr}");
}

/// Spawns `sleep SECONDS` with `options` and returns its id and pid.
fn spawn_sleep(home: &Home, session: &str, options: &[&str], seconds: &str) -> (String, u32) {
    let mut args = vec!["spawn", "--session", session, "--json"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sleep", seconds]);
    let view = json_of(&home.ok(&args));
    let id = view["agent"]["id"].as_str().unwrap().to_owned();
    let pid = u32::try_from(view["agent"]["pid"].as_u64().expect("running, with a pid")).unwrap();
    (id, pid)
}

#[test]
fn after_kill_9_of_the_daemon_its_20_agents_are_adopted_or_restarted_per_their_policy_and_none_is_orphaned() {
    let home = Home::new();
    let mut daemon = home.serve();
    // Two sessions: the per-session cap (16) would queue some of 20.
    let sessions = [open_session(&home), open_session(&home)];
    let (adopt, afresh, dying) = (["sleep", "3621"], ["sleep", "3622"], ["sleep", "3623"]);
    let mut leftovers = Leftovers(Vec::new());
    let mut spawn = |n: usize, options: &[&str], argv: [&str; 2]| -> Vec<(String, u32)> {
        let agents: Vec<(String, u32)> =
            (0..n).map(|i| spawn_sleep(&home, &sessions[i % 2], options, argv[1])).collect();
        leftovers.0.extend(agents.iter().map(|(_, pid)| *pid));
        agents
    };
    let adopted = spawn(12, &[], adopt);
    let replaced = spawn(4, &["--on-adopt", "restart"], afresh);
    let revived = spawn(4, &["--restart", "always"], dying);
    assert_eq!(
        processes_running(&adopt).len() + processes_running(&afresh).len() + processes_running(&dying).len(),
        20
    );

    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    // While no daemon runs, four agents die.
    for (_, pid) in &revived {
        killpg(Pid::from_raw(i32::try_from(*pid).unwrap()), Signal::SIGKILL).unwrap();
    }
    eventually("the four to be dead", || processes_running(&dying).is_empty().then_some(()));
    assert_eq!(processes_running(&adopt).len(), 12, "the agents outlived the daemon");

    let _daemon = home.serve();
    for (id, pid) in &adopted {
        let view = view_of(&home, id);
        assert_eq!(
            (view["agent"]["state"].as_str(), view["agent"]["pid"].as_u64()),
            (Some("running"), Some(u64::from(*pid)))
        );
        assert_eq!(view["agent"]["restarts"], 0);
    }
    for (id, old_pid) in replaced.iter().chain(&revived) {
        let view = eventually("a fresh run", || {
            let view = view_of(&home, id);
            let fresh =
                view["agent"]["state"] == "running" && view["agent"]["pid"].as_u64() != Some(u64::from(*old_pid));
            fresh.then_some(view)
        });
        assert_eq!(view["agent"]["restarts"], 1, "{view}");
        leftovers.0.push(u32::try_from(view["agent"]["pid"].as_u64().unwrap()).unwrap());
    }
    // Nothing runs twice: one process per agent.
    eventually("one process per agent", || {
        let counts =
            (processes_running(&adopt).len(), processes_running(&afresh).len(), processes_running(&dying).len());
        (counts == (12, 4, 4)).then_some(())
    });

    for (id, _) in adopted.iter().chain(&replaced).chain(&revived) {
        assert!(home.ok(&["stop", id, "--grace", "2s"]).contains("stopped"));
    }
    eventually("no agent process to be left", || {
        let left = processes_running(&adopt).len() + processes_running(&afresh).len() + processes_running(&dying).len();
        (left == 0).then_some(())
    });
    leftovers.0.clear();
}

#[test]
fn policies_priority_and_the_stdin_pipe_reach_the_record_and_bad_values_are_usage_errors() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let args = ["--stdin-pipe", "--priority", "-3", "--on-shutdown", "stop", "--on-adopt", "restart"];
    let (id, pid) = spawn_sleep(&home, &session, &args, "3624");
    let _leftovers = Leftovers(vec![pid]);
    let agent = view_of(&home, &id)["agent"].clone();
    assert_eq!(
        (&agent["stdin_pipe"], &agent["priority"], &agent["on_shutdown"], &agent["on_adopt"]),
        (&json!(true), &json!(-3), &json!("stop"), &json!("restart"))
    );
    for bad in [["--on-shutdown", "linger"], ["--on-adopt", "maybe"], ["--priority", "high"]] {
        let err = home.fails(&["spawn", "--session", &session, bad[0], bad[1], "--", "true"], 2);
        assert!(err.contains(bad[1]), "{err}");
    }
    // Over the API, a bad policy is a 400 and spawns nothing.
    let body = json!({"session": session, "argv": ["true"], "on_shutdown": "linger"}).to_string();
    let (code, answer) = request(&home.socket(), "POST", "/v1/agents", Some(body.as_bytes())).unwrap();
    assert_eq!((code, error_code(&answer).as_str()), (400, "bad_request"), "{answer}");
    assert!(answer.contains(r#"invalid request body: \"linger\" is not a shutdown policy"#), "{answer}");
    let (code, answer) = request(&home.socket(), "POST", "/v1/agents", Some(br#"{"session": "#)).unwrap();
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("malformed JSON body"), "{answer}");
    assert_eq!(json_of(&home.ok(&["ps", "--json"])).as_array().unwrap().len(), 1);
    home.ok(&["stop", &id]);
}

#[test]
fn stop_session_stops_every_agent_of_that_session_at_once_and_no_other() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let other = open_session(&home);
    let mut leftovers = Leftovers(Vec::new());
    let mut ours = Vec::new();
    for _ in 0..3 {
        let (id, pid) = spawn_sleep(&home, &session, &["--restart", "always"], "3614");
        leftovers.0.push(pid);
        ours.push(id);
    }
    let (theirs, pid) = spawn_sleep(&home, &other, &[], "3615");
    leftovers.0.push(pid);

    let stopped = json_of(&home.ok(&["stop", "--session", &session, "--grace", "2s", "--json"]));
    let mut ids: Vec<&str> =
        stopped.as_array().unwrap().iter().map(|view| view["agent"]["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ours.sort_unstable();
    assert_eq!(ids, ours);
    for view in stopped.as_array().unwrap() {
        assert_eq!(view["agent"]["state"], "stopped", "{view}");
    }
    // Gone for good (their policy restarts a failure, not a stop), the other
    // session's agent untouched, the session still open.
    assert!(processes_running(&["sleep", "3614"]).is_empty());
    assert_eq!(processes_running(&["sleep", "3615"]), vec![pid]);
    assert_eq!(view_of(&home, &theirs)["agent"]["state"], "running");
    let shown = json_of(&home.ok(&["session", "show", &session, "--json"]));
    assert_eq!(shown["state"], "active", "{shown}");

    // Again: nothing left to stop. Human output is a line per agent.
    assert_eq!(home.ok(&["stop", "--session", &session]), "");
    let line = home.ok(&["stop", "--session", &other]);
    assert!(line.starts_with(&format!("{theirs} stopped")), "{line}");

    // Bad input changes nothing.
    home.fails(&["stop"], 2);
    home.fails(&["stop", &theirs, "--session", &session], 2);
    home.fails(&["stop", "--session", "not-an-id"], 2);
    home.fails(&["stop", "--session", "01890000-0000-7000-8000-000000000000"], 4);
}

#[test]
fn a_daemon_killed_during_a_stop_finishes_the_stop_when_it_comes_back() {
    let home = Home::new();
    // The stop a new daemon finishes gives the agent this grace.
    let config = home.dir.path().join("config/baton");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[engine.agents]\nstop_grace = 300\n").unwrap();
    let mut daemon = home.serve();
    let session = open_session(&home);
    // It says when SIGTERM comes, and goes on: the stop waits out its grace.
    let script = "trap 'echo term' TERM; while :; do sleep 0.05; done";
    let view =
        json_of(&home.ok(&["spawn", "--session", &session, "--restart", "always", "--json", "--", "sh", "-c", script]));
    let id = view["agent"]["id"].as_str().unwrap().to_owned();
    let pid = u32::try_from(view["agent"]["pid"].as_u64().unwrap()).unwrap();
    let _leftovers = Leftovers(vec![pid]);
    let stdout = view["logs"]["stdout"].as_str().unwrap().to_owned();

    let mut stop =
        home.command(&["stop", &id, "--grace", "60s"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    eventually("the agent to get SIGTERM", || {
        std::fs::read_to_string(&stdout).unwrap_or_default().contains("term").then_some(())
    });
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    assert_ne!(stop.wait().unwrap().code(), Some(0), "the stop was not answered");

    // The record said `stopping` before the signal went out: the new daemon
    // finishes the stop (SIGKILL after its grace) instead of adopting a
    // running agent, and its restart policy does not bring it back.
    let _daemon = home.serve();
    let view = eventually("the stop to be finished", || {
        let view = view_of(&home, &id);
        (view["agent"]["state"] == "stopped").then_some(view)
    });
    assert_eq!(view["agent"]["restarts"], 0, "{view}");
    eventually("the agent's process to be gone", || processes_running(&["sh", "-c", script]).is_empty().then_some(()));
}

/// Issue 18: a spawn whose agent could not start said so, then exited 0.
#[test]
fn a_spawn_that_cannot_start_its_agent_exits_1_with_the_reason_and_keeps_the_record() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let missing_cwd = home.dir.path().join("nonexistent");
    let cases: [(&[&str], &str); 2] = [
        (&["--", "/nonexistent/cmd"], "cannot start \"/nonexistent/cmd\""),
        (&["--cwd", missing_cwd.to_str().unwrap(), "--", "true"], "No such file or directory"),
    ];
    for (options, reason) in cases {
        let args: Vec<&str> =
            ["spawn", "--session", session.as_str()].into_iter().chain(options.iter().copied()).collect();
        let output = home.run(&args);
        assert_eq!(output.status.code(), Some(1), "baton {args:?}: {}", describe(&output));
        let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("baton: agent {id} failed: ")) && stderr.contains(reason), "{stderr}");
        let view = view_of(&home, &id);
        assert_eq!(view["agent"]["state"], "failed");
        assert!(view["agent"]["reason"].as_str().unwrap().contains(reason), "{view}");
    }
    let json = home.run(&["spawn", "--session", &session, "--json", "--", "/nonexistent/cmd"]);
    assert_eq!(json.status.code(), Some(1), "{}", describe(&json));
    assert_eq!(json_of(&String::from_utf8(json.stdout).unwrap())["agent"]["state"], "failed");
}

/// Issue 18: spawn into a closed session was refused, but a restart there
/// ran the agent again.
#[test]
fn restart_in_a_closed_session_is_refused_as_a_spawn_is() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let agent = home.ok(&["spawn", "--session", &session, "--", "true"]).trim().to_owned();
    eventually("the agent to exit", || (view_of(&home, &agent)["agent"]["state"] == "exited").then_some(()));
    home.ok(&["session", "close", &session]);
    eventually("the session to close", || {
        home.ok(&["session", "show", &session, "--json"]).contains("\"state\": \"closed\"").then_some(())
    });

    let spawn = home.fails(&["spawn", "--session", &session, "--", "true"], 5);
    let restart = home.fails(&["restart", &agent], 5);
    assert_eq!(restart, spawn, "a restart is refused as a spawn is");
    assert_eq!(restart, format!("baton: session {session} is closed; it takes no new agents\n"));
    assert_eq!(view_of(&home, &agent)["agent"]["state"], "exited");
}

/// Issue 18: an agent that names no directory runs in its session's, else in
/// the caller's, never in whichever directory the daemon happens to run in.
#[test]
fn an_agent_without_a_cwd_runs_in_its_sessions_else_in_the_callers() {
    let home = Home::new();
    let project = home.dir.path().join("project");
    let elsewhere = home.dir.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let config = home.dir.path().join("config/baton/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[engine.agents.roles.where]\ncommand = [\"/bin/pwd\"]\n").unwrap();
    let _daemon = home.serve();
    let pwd_of = |session: &str, args: &[&str]| {
        let mut command = home.command(&[&["spawn", "--session", session][..], args].concat());
        let output = command.current_dir(&elsewhere).output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        eventually("the agent to print its directory", || {
            let view = view_of(&home, &id);
            (view["agent"]["state"] == "exited").then(|| view["stdout_tail"][0].as_str().unwrap_or("").to_owned())
        })
    };
    let project_text = project.display().to_string();
    let with_cwd = home.ok(&["session", "open", "--name", "in-project", "--cwd", &project_text]).trim().to_owned();
    assert_eq!(pwd_of(&with_cwd, &["--", "/bin/pwd"]), project_text, "a command runs in the session's dir");
    assert_eq!(pwd_of(&with_cwd, &["--role", "where"]), project_text, "so does a role's template");
    // And an agent a handoff spawns from the template (it exits at once, so
    // it is found among the session's agents rather than as the handoff's).
    let ids = |views: &Value| -> Vec<String> {
        views.as_array().unwrap().iter().map(|view| view["agent"]["id"].as_str().unwrap().to_owned()).collect()
    };
    let before = ids(&json_of(&home.ok(&["ps", "--session", &with_cwd, "--json"])));
    home.ok(&["handoff", "create", "--session", &with_cwd, "--role", "where", "--task", "x"]);
    let printed = eventually("an agent the handoff spawned to print its directory", || {
        let views = json_of(&home.ok(&["ps", "--session", &with_cwd, "--json"]));
        views.as_array().unwrap().iter().find_map(|view| {
            let new = !before.iter().any(|id| view["agent"]["id"] == id.as_str());
            (new && view["agent"]["state"] == "exited")
                .then(|| view["stdout_tail"][0].as_str().unwrap_or("").to_owned())
        })
    });
    assert_eq!(printed, project_text, "a handoff's agent runs in the session's dir");
    let elsewhere_text = elsewhere.display().to_string();
    assert_eq!(pwd_of(&with_cwd, &["--cwd", &elsewhere_text, "--", "/bin/pwd"]), elsewhere_text, "--cwd wins");
    let without = home.ok(&["session", "open", "--name", "anywhere"]).trim().to_owned();
    assert_eq!(pwd_of(&without, &["--", "/bin/pwd"]), elsewhere_text, "else the caller's dir");
    assert_eq!(pwd_of(&without, &["--role", "where"]), elsewhere_text);
}

/// Threads of process `pid` asleep opening a FIFO that no one writes.
fn threads_waiting_on_a_fifo(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|dir| dir.flatten().collect()).unwrap_or(Vec::new());
    tasks
        .iter()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("wchan")).is_ok_and(|wchan| wchan == "wait_for_partner")
        })
        .count()
}

/// Issue 20: answers that read an agent's log tails read them off the HTTP
/// workers. With the log a FIFO that no one writes, each such read waits, and
/// more of them than there are workers still leave the daemon answering.
#[test]
fn answers_waiting_on_a_log_leave_the_daemon_answering() {
    let home = Home::new();
    let daemon = home.serve();
    let session = open_session(&home);
    let id = home.ok(&["spawn", "--session", &session, "--", "sleep", "3613"]).trim().to_owned();
    let log = std::path::PathBuf::from(view_of(&home, &id)["logs"]["stdout"].as_str().unwrap());
    std::fs::remove_file(&log).unwrap();
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::S_IRWXU).unwrap();

    // A stop, then stops of the stopped agent and log reads: each answer reads the FIFO.
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let waiting: Vec<_> = (0..workers + 2)
        .map(|n| {
            let (socket, id) = (home.socket(), id.clone());
            let (method, path) = if n % 2 == 0 {
                ("POST", format!("/v1/agents/{id}/stop"))
            } else {
                ("GET", format!("/v1/agents/{id}/logs"))
            };
            std::thread::spawn(move || request(&socket, method, &path, None))
        })
        .collect();
    let pid = daemon.child.id();
    eventually("every answer to wait on the log", || (threads_waiting_on_a_fifo(pid) == workers + 2).then_some(()));
    let (code, _) = request(&home.socket(), "GET", "/v1/health", None).expect("the daemon answers");
    assert_eq!(code, 200);

    // A writer that opens and closes the FIFO lets every reader finish.
    drop(std::fs::OpenOptions::new().write(true).open(&log).unwrap());
    for answer in waiting {
        let (code, body) = answer.join().unwrap().expect("an answer");
        assert_eq!(code, 200, "{body}");
    }
    // A log that is a file again reads as one.
    std::fs::remove_file(&log).unwrap();
    std::fs::write(&log, "").unwrap();
    assert_eq!(view_of(&home, &id)["agent"]["state"], "stopped");
}
