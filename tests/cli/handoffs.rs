//! `baton handoff ...`, `baton inbox` and `baton session fallback` end to end:
//! the real daemon routing work between real agent processes, with bad input
//! over raw HTTP that the CLI never sends. Every test stops the agents it
//! started, and kills their process groups if it fails first.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use super::harness::{Home, describe, error_code, hang_up, request};
use crate::support::{DEADLINE, eventually_blocking};

const UNKNOWN_HANDOFF: &str = "01890000-0000-7000-8000-0000000000aa";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn open_session(home: &Home) -> String {
    home.ok(&["session", "open", "--name", "handoffs"]).trim().to_owned()
}

/// Agents a test started: stopped through the CLI at the end, their process
/// groups killed if the test fails before that.
struct Agents<'a> {
    home: &'a Home,
    pids: Vec<i32>,
    ids: Vec<String>,
}

impl<'a> Agents<'a> {
    fn new(home: &'a Home) -> Self {
        Self { home, pids: Vec::new(), ids: Vec::new() }
    }

    /// Spawns `sleep <seconds>` in `session` with `role`; returns its id.
    fn spawn(&mut self, session: &str, role: &str, seconds: u32) -> String {
        let seconds = seconds.to_string();
        let view =
            json_of(&self.home.ok(&["spawn", "--session", session, "--role", role, "--json", "--", "sleep", &seconds]));
        assert_eq!(view["agent"]["state"], "running", "{view}");
        let id = view["agent"]["id"].as_str().unwrap().to_owned();
        self.track(&id);
        id
    }

    /// Takes care of an agent the daemon started.
    fn track(&mut self, id: &str) {
        let view = agent(self.home, id);
        if let Some(pid) = view["agent"]["pid"].as_i64() {
            self.pids.push(i32::try_from(pid).unwrap());
        }
        if !self.ids.iter().any(|known| known == id) {
            self.ids.push(id.to_owned());
        }
    }

    /// Stops every agent through the CLI and checks that none is left, nor
    /// was spawned behind the test's back.
    fn stop_all(mut self) {
        for id in std::mem::take(&mut self.ids) {
            self.home.ok(&["stop", &id, "--grace", "2s"]);
        }
        for pid in std::mem::take(&mut self.pids) {
            eventually_blocking("an agent's process to be gone", || {
                (!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid)).then_some(())
            });
        }
        let views = json_of(&self.home.ok(&["ps", "--json"]));
        let ended = ["exited", "failed", "timed_out", "stopped"];
        let left: Vec<&Value> = views
            .as_array()
            .unwrap()
            .iter()
            .filter(|view| !ended.contains(&view["agent"]["state"].as_str().unwrap()))
            .collect();
        assert!(left.is_empty(), "agents left: {left:?}");
    }
}

impl Drop for Agents<'_> {
    fn drop(&mut self) {
        // After a failure, what the daemon spawned on its own must go too.
        let listed = self.home.run(&["ps", "--json"]);
        let views: Value = serde_json::from_slice(&listed.stdout).unwrap_or_default();
        let ended = ["exited", "failed", "timed_out", "stopped"];
        let live = views
            .as_array()
            .into_iter()
            .flatten()
            .filter(|view| view["agent"]["state"].as_str().is_some_and(|state| !ended.contains(&state)));
        let spawned = live.filter_map(|view| view["agent"]["pid"].as_i64());
        for pid in self.pids.iter().copied().chain(spawned.filter_map(|pid| i32::try_from(pid).ok())) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
}

/// An agent's view, from `ps --json`.
fn agent(home: &Home, id: &str) -> Value {
    let views = json_of(&home.ok(&["ps", "--json"]));
    views.as_array().unwrap().iter().find(|view| view["agent"]["id"] == id).cloned().expect("the agent is listed")
}

/// A handoff's record, from `handoff show --json`.
fn show(home: &Home, id: &str) -> Value {
    json_of(&home.ok(&["handoff", "show", id, "--json"]))
}

/// `baton ARGS` with the environment baton gives an agent.
fn as_agent(home: &Home, session: &str, agent: &str, args: &[&str]) -> Output {
    home.command(args).env("BATON_SESSION_ID", session).env("BATON_AGENT_ID", agent).output().unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Creates a handoff to `to` (an agent id) and returns its id.
fn hand_to(home: &Home, session: &str, to: &str, task: &str) -> String {
    home.ok(&["handoff", "create", "--session", session, "--to", to, "--task", task]).trim().to_owned()
}

/// The gauge's value in a `/metrics` text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_handoff_goes_from_create_to_complete_through_the_cli() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let sender = agents.spawn(&session, "author", 3631);
    let receiver = agents.spawn(&session, "reviewer", 3632);

    let created = home.ok(&[
        "handoff",
        "create",
        "--session",
        &session,
        "--from",
        &sender,
        "--to",
        &receiver,
        "--task",
        "review the diff",
        "--payload",
        r#"{"pr": 7}"#,
        "--ack-within",
        "5m",
        "--complete-within",
        "1h",
    ]);
    let id = created.trim().to_owned();
    assert!(id.parse::<uuid::Uuid>().is_ok() && created.lines().count() == 1, "prints the id: {created}");
    let handoff = show(&home, &id);
    assert_eq!(handoff["state"], "initiated");
    assert_eq!(handoff["from"], sender.as_str());
    assert_eq!(handoff["to"], json!({"kind": "agent", "value": receiver}));
    assert_eq!(handoff["assigned"], receiver.as_str());
    assert_eq!(handoff["payload"], json!({"pr": 7}));
    let created_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(handoff["created_at"].clone()).unwrap();
    let ack_deadline: chrono::DateTime<chrono::Utc> = serde_json::from_value(handoff["ack_deadline"].clone()).unwrap();
    let complete_deadline: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(handoff["complete_deadline"].clone()).unwrap();
    assert_eq!(ack_deadline - created_at, chrono::Duration::minutes(5));
    assert_eq!(complete_deadline - created_at, chrono::Duration::hours(1));

    // It waits in the receiver's inbox until acknowledged.
    let inbox = json_of(&home.ok(&["inbox", "--agent", &receiver, "--json"]));
    assert_eq!(inbox["handoffs"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["handoffs"][0]["id"], id.as_str());
    let table = home.ok(&["inbox", "--agent", &receiver]);
    assert!(table.starts_with("HANDOFF") && table.contains(&id) && table.contains("review the diff"), "{table}");

    assert_eq!(home.ok(&["handoff", "ack", &id, "--as", &receiver]), "acknowledged\n");
    let inbox = json_of(&home.ok(&["inbox", "--agent", &receiver, "--json"]));
    assert_eq!(inbox, json!({"handoffs": [], "observations": []}));
    assert_eq!(home.ok(&["inbox", "--agent", &receiver]), format!("nothing waits for agent {receiver}\n"));
    // Inside the agent, its environment says who it is.
    let started = as_agent(&home, &session, &receiver, &["handoff", "start", &id, "--note", "on it"]);
    assert_eq!(stdout_of(&started), "in_progress\n");
    let completed = json_of(&home.ok(&[
        "handoff",
        "complete",
        &id,
        "--as",
        &receiver,
        "--result",
        r#"{"approved": true}"#,
        "--json",
    ]));
    assert_eq!(completed["state"], "completed");
    assert_eq!(completed["result"], json!({"approved": true}));
    let states: Vec<&str> =
        completed["history"].as_array().unwrap().iter().map(|step| step["state"].as_str().unwrap()).collect();
    assert_eq!(states.first(), Some(&"initiated"));
    assert_eq!(
        states.iter().filter(|state| **state != "initiated").copied().collect::<Vec<_>>(),
        ["acknowledged", "in_progress", "completed"]
    );
    assert!(completed["history"].as_array().unwrap().iter().any(|step| step["note"] == "on it"), "{completed}");

    let shown = home.ok(&["handoff", "show", &id]);
    for expected in ["state:", "completed", "review the diff", r#"{"approved":true}"#, "STATE", "in_progress", "on it"]
    {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }

    let listed = home.ok(&["handoff", "list", "--session", &session]);
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("ASSIGNED") && lines[0].contains("TASK"), "{listed}");
    assert!(lines[1].starts_with(&id) && lines[1].contains("completed") && lines[1].contains("review the diff"));
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[2].starts_with("session: 1 completed; 100% acknowledged; to ack: mean "), "{listed}");
    let listed = json_of(&home.ok(&["handoff", "list", "--session", &session, "--json"]));
    assert_eq!(listed["handoffs"].as_array().unwrap().len(), 1);
    assert_eq!(listed["stats"]["total"], 1);
    assert_eq!(listed["stats"]["by_state"]["completed"], 1);
    assert_eq!(listed["stats"]["ack_rate"], 1.0);
    assert_eq!(listed["stats"]["time_to_complete"]["count"], 1);
    for (filter, count) in [("--state=completed", 1), ("--state=initiated", 0)] {
        let listed = json_of(&home.ok(&["handoff", "list", "--session", &session, filter, "--json"]));
        assert_eq!(listed["handoffs"].as_array().unwrap().len(), count, "{filter}: {listed}");
    }
    for (agent, count) in [(&sender, 1), (&receiver, 1)] {
        let listed = json_of(&home.ok(&["handoff", "list", "--agent", agent, "--json"]));
        assert_eq!(listed["handoffs"].as_array().unwrap().len(), count, "{listed}");
    }

    let status = home.ok(&["status"]);
    assert!(status.contains("handoffs: 1 completed; 100% acknowledged"), "{status}");
    let status = json_of(&home.ok(&["status", "--json"]));
    assert_eq!(status["handoffs"]["by_state"]["completed"], 1, "{status}");
    let (code, metrics) = request(&home.socket(), "GET", "/metrics", None).unwrap();
    assert_eq!(code, 200);
    assert_eq!(metric(&metrics, r#"baton_handoffs{state="completed"}"#), 1.0);
    assert_eq!(metric(&metrics, r#"baton_handoffs{state="initiated"}"#), 0.0);
    assert_eq!(metric(&metrics, "baton_handoff_ack_rate"), 1.0);
    let mean = metric(&metrics, r#"baton_handoff_time_to_complete_seconds{stat="mean"}"#);
    let p95 = metric(&metrics, r#"baton_handoff_time_to_complete_seconds{stat="p95"}"#);
    assert!(mean > 0.0 && mean < DEADLINE.as_secs_f64() && (p95 - mean).abs() < 0.002, "{mean} {p95}");
    assert!(metric(&metrics, r#"baton_handoff_time_to_ack_seconds{stat="p95"}"#) <= mean);
    agents.stop_all();
}

#[test]
fn an_agent_hands_off_and_answers_with_only_its_environment() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let author = agents.spawn(&session, "author", 3633);
    let reviewer = agents.spawn(&session, "reviewer", 3634);

    let created = as_agent(&home, &session, &author, &["handoff", "create", "--to", &reviewer, "--task", "look"]);
    let id = stdout_of(&created).trim().to_owned();
    let handoff = show(&home, &id);
    assert_eq!(
        (handoff["session"].as_str(), handoff["from"].as_str()),
        (Some(session.as_str()), Some(author.as_str()))
    );
    assert_eq!(stdout_of(&as_agent(&home, &session, &reviewer, &["handoff", "ack", &id])), "acknowledged\n");
    // Only the target takes its steps, and only the sender cancels; an operator may do either.
    let refused = as_agent(&home, &session, &author, &["handoff", "start", &id]);
    assert_eq!(refused.status.code(), Some(5), "{}", describe(&refused));
    let refused = as_agent(&home, &session, &reviewer, &["handoff", "cancel", &id]);
    assert_eq!(refused.status.code(), Some(5), "{}", describe(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.starts_with("baton: ") && stderr.lines().count() == 1, "{stderr}");
    assert_eq!(show(&home, &id)["state"], "acknowledged");
    let cancelled =
        as_agent(&home, &session, &reviewer, &["handoff", "cancel", &id, "--operator", "--note", "not needed"]);
    assert_eq!(stdout_of(&cancelled), "cancelled\n");
    let handoff = show(&home, &id);
    assert_eq!(handoff["history"].as_array().unwrap().last().unwrap()["note"], "not needed", "{handoff}");

    // A malformed BATON_AGENT_ID is a usage error, not a step by an operator.
    let id = hand_to(&home, &session, &reviewer, "again");
    let output = as_agent(&home, &session, "not-an-id", &["handoff", "ack", &id]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(show(&home, &id)["state"], "initiated");
    agents.stop_all();
}

#[test]
fn every_invalid_step_is_refused_with_exit_5_and_changes_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let target = agents.spawn(&session, "worker", 3635);
    let bystander = agents.spawn(&session, "worker", 3636);

    // A handoff in each state, reached through the allowed steps, by an operator.
    let steps_to: [(&str, &[&str]); 6] = [
        ("initiated", &[]),
        ("acknowledged", &["ack"]),
        ("in_progress", &["ack", "start"]),
        ("completed", &["ack", "start", "complete"]),
        ("failed", &["ack", "fail"]),
        ("cancelled", &["cancel"]),
    ];
    let allowed: &[(&str, &[&str])] = &[
        ("initiated", &["ack", "cancel"]),
        ("acknowledged", &["start", "fail", "cancel"]),
        ("in_progress", &["complete", "fail", "cancel"]),
    ];
    for (state, steps) in steps_to {
        let id = hand_to(&home, &session, &target, &format!("reach {state}"));
        for step in steps {
            home.ok(&["handoff", step, &id, "--operator"]);
        }
        let before = show(&home, &id);
        assert_eq!(before["state"], state);
        let permitted = allowed.iter().find(|(from, _)| *from == state).map_or(&[][..], |(_, verbs)| verbs);
        for verb in ["ack", "start", "complete", "fail", "cancel"] {
            if permitted.contains(&verb) {
                continue;
            }
            let stderr = home.fails(&["handoff", verb, &id, "--operator"], 5);
            assert!(stderr.starts_with("baton: ") && stderr.lines().count() == 1, "{verb} from {state}: {stderr}");
            assert_eq!(show(&home, &id), before, "{verb} from {state} changed the handoff");
        }
        // A step the lifecycle allows, asked by an agent that is not the party to take it.
        for verb in permitted {
            home.fails(&["handoff", verb, &id, "--as", &bystander], 5);
            assert_eq!(show(&home, &id), before, "{verb} by a bystander changed the handoff");
        }
    }

    // Unknown and malformed ids.
    for verb in ["ack", "start", "complete", "fail", "cancel", "show"] {
        let stderr = home.fails(&["handoff", verb, UNKNOWN_HANDOFF], 4);
        assert!(stderr.starts_with("baton: ") && stderr.lines().count() == 1, "{stderr}");
        home.fails(&["handoff", verb, "not-an-id"], 2);
    }
    // Usage errors are caught before the daemon is asked.
    home.fails(&["handoff", "create", "--session", &session, "--task", "no target"], 2);
    home.fails(&["handoff", "create", "--session", &session, "--to", &target, "--role", "r", "--task", "two"], 2);
    home.fails(&["handoff", "create", "--session", &session, "--to", &target, "--task", "t", "--payload", "{x"], 2);
    home.fails(&["handoff", "create", "--session", &session, "--to", &target, "--task", "t", "--ack-within", "0s"], 2);
    home.fails(&["handoff", "ack", UNKNOWN_HANDOFF, "--as", &target, "--operator"], 2);
    home.fails(&["handoff", "list", "--state", "sleeping"], 2);
    // A handoff for an agent of another session, an unknown agent or one whose run is over is refused.
    let other_session = open_session(&home);
    let stderr = home.fails(&["handoff", "create", "--session", &other_session, "--to", &target, "--task", "x"], 1);
    assert!(stderr.contains("belongs to session"), "{stderr}");
    home.fails(&["handoff", "create", "--session", &session, "--to", UNKNOWN_HANDOFF, "--task", "nobody"], 4);
    let gone = agents.spawn(&session, "worker", 3639);
    home.ok(&["stop", &gone, "--grace", "2s"]);
    let stderr = home.fails(&["handoff", "create", "--session", &session, "--to", &gone, "--task", "too late"], 5);
    assert!(stderr.contains("takes no handoffs"), "{stderr}");
    let listed = json_of(&home.ok(&["handoff", "list", "--json"]));
    assert_eq!(listed["handoffs"].as_array().unwrap().len(), steps_to.len(), "{listed}");
    agents.stop_all();
}

#[test]
fn inbox_wait_is_woken_by_a_handoff_from_another_process() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let receiver = agents.spawn(&session, "reviewer", 3637);

    let mut waiter = home
        .command(&["inbox", "--wait", "10s", "--json"])
        .env("BATON_AGENT_ID", &receiver)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Its inbox is empty, so it waits while other commands come and go.
    for _ in 0..3 {
        home.ok(&["status"]);
        assert!(waiter.try_wait().unwrap().is_none(), "the inbox answered before anything arrived");
    }
    let id = hand_to(&home, &session, &receiver, "wake up");
    eventually_blocking("the inbox to answer", || waiter.try_wait().unwrap());
    let elapsed = started.elapsed();
    let output = waiter.wait_with_output().unwrap();
    let inbox = json_of(&stdout_of(&output));
    assert_eq!(inbox["handoffs"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["handoffs"][0]["id"], id.as_str());
    assert!(elapsed < Duration::from_secs(10), "woken, not timed out: {elapsed:?}");

    // With nothing arriving, it answers empty once its wait is over.
    let started = Instant::now();
    home.ok(&["handoff", "ack", &id, "--as", &receiver]);
    let inbox = json_of(&home.ok(&["inbox", "--agent", &receiver, "--wait", "300ms", "--json"]));
    assert_eq!(inbox, json!({"handoffs": [], "observations": []}));
    assert!(started.elapsed() >= Duration::from_millis(300));
    home.fails(&["inbox", "--agent", &receiver, "--wait", "11m"], 2);
    agents.stop_all();
}

/// Issue 18: an agent's `inbox --wait` killed while it waited took the next
/// observation, and the agent then saw none for the five minutes of its lease.
#[test]
fn a_killed_inbox_wait_takes_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let agent = agents.spawn(&session, "reviewer", 3640);
    let call = home
        .command(&["inbox", "--agent", &agent, "--wait", "60s", "--json"])
        .env("BATON_AGENT_ID", &agent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    hang_up(&home, call);

    home.ok(&["observe", "--session", &session, "--data", "{}"]);
    let pending = json_of(&home.ok(&["queue", "list", "--session", &session, "--state", "pending", "--json"]));
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let inbox = json_of(&stdout_of(&as_agent(&home, &session, &agent, &["inbox", "--json"])));
    let observations = &inbox["observations"];
    assert_eq!((observations[0]["seq"].as_u64(), observations[0]["attempts"].as_u64()), (Some(1), Some(1)), "{inbox}");
    agents.stop_all();
}

/// Issue 18: an operator's look at an agent's inbox claims nothing; the
/// agent's own read, or one with `--claim`, leases observations to it.
#[test]
fn reading_another_agents_inbox_is_a_look_and_its_own_read_claims() {
    let home = Home::new();
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let agent = agents.spawn(&session, "reviewer", 3641);
    for n in 0..3 {
        home.ok(&["observe", "--session", &session, "--data", &format!("{{\"n\": {n}}}")]);
    }
    let pending = || {
        let listed = json_of(&home.ok(&["queue", "list", "--session", &session, "--state", "pending", "--json"]));
        listed.as_array().unwrap().len()
    };
    let look = json_of(&home.ok(&["inbox", "--agent", &agent, "--json"]));
    assert_eq!(look, json!({"handoffs": [], "observations": []}));
    assert_eq!(pending(), 3, "a look leased observations");

    let claimed = json_of(&home.ok(&["inbox", "--agent", &agent, "--max", "1", "--json"]));
    assert_eq!(claimed["observations"][0]["lease"]["consumer"], agent.as_str(), "{claimed}");
    assert_eq!(pending(), 2);
    let claimed = json_of(&home.ok(&["inbox", "--agent", &agent, "--claim", "--max", "0", "--json"]));
    assert_eq!(claimed["observations"], json!([]), "--max 0 takes none");
    assert_eq!(pending(), 2);
    let own = json_of(&stdout_of(&as_agent(&home, &session, &agent, &["inbox", "--json"])));
    assert_eq!(own["observations"].as_array().unwrap().len(), 2, "{own}");
    assert_eq!(pending(), 0);
    agents.stop_all();
}

/// Issue 18's reproduction: one handoff to a role whose command exits at
/// once spawned 755 agents in three seconds. Now it is routed to at most
/// `handoff_transfer.max_attempts` (5) of them, with a backoff, and then fails
/// with the reason.
#[test]
fn a_handoff_to_a_role_whose_agents_exit_at_once_spawns_five_and_fails() {
    let home = Home::new();
    let dir = home.dir.path().join("config/baton");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[engine.agents.roles.pwd]\ncommand = [\"/bin/true\"]\n").unwrap();
    let _daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "storm"]).trim().to_owned();
    let id = home.ok(&["handoff", "create", "--session", &session, "--role", "pwd", "--task", "x"]).trim().to_owned();
    let handoff = eventually_blocking("the handoff to fail", || {
        let handoff = json_of(&home.ok(&["handoff", "show", &id, "--json"]));
        (handoff["state"] == "failed").then_some(handoff)
    });
    let note = handoff["history"].as_array().unwrap().last().unwrap()["note"].as_str().unwrap().to_owned();
    assert!(note.contains("its agents kept ending without acknowledging it (5 attempts"), "{note}");
    let agents = json_of(&home.ok(&["ps", "--session", &session, "--json"]));
    assert_eq!(agents.as_array().unwrap().len(), 5, "{agents}");
    let shown = home.ok(&["handoff", "show", &id]);
    assert!(shown.contains("after 100ms") && shown.contains("failed"), "{shown}");
}

/// Writes the daemon's config file with a `reviewer` role that runs `sleep <seconds>`.
fn configure_reviewer_role(home: &Home, seconds: u32) {
    let dir = home.dir.path().join("config/baton");
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!("[engine.agents.roles.reviewer]\ncommand = [\"sleep\", \"{seconds}\"]\nrestart = \"never\"\n");
    std::fs::write(dir.join("config.toml"), config).unwrap();
}

/// The agent a handoff was routed to, once it is.
fn assigned(home: &Home, handoff: &str) -> String {
    eventually_blocking("the handoff to be routed", || show(home, handoff)["assigned"].as_str().map(str::to_owned))
}

#[test]
fn a_handoff_to_a_role_spawns_an_agent_from_its_template_and_reuses_it_once_idle() {
    let home = Home::new();
    configure_reviewer_role(&home, 3641);
    let _daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);

    let first = home.ok(&["handoff", "create", "--session", &session, "--role", "reviewer", "--task", "one"]);
    let first = first.trim().to_owned();
    let spawned = assigned(&home, &first);
    agents.track(&spawned);
    // It is assigned as it is queued; it runs a moment later (later still on a busy machine).
    let view = eventually_blocking("the spawned agent to run", || {
        let view = agent(&home, &spawned);
        (view["agent"]["state"] == "running").then_some(view)
    });
    assert_eq!(view["agent"]["role"], "reviewer");
    assert_eq!(view["agent"]["argv"], json!(["sleep", "3641"]));
    assert_eq!(show(&home, &first)["to"], json!({"kind": "role", "value": "reviewer"}));

    // While it works on the first, a second handoff gets an agent of its own.
    let second = home.ok(&["handoff", "create", "--session", &session, "--role", "reviewer", "--task", "two"]);
    let second = second.trim().to_owned();
    let other = assigned(&home, &second);
    agents.track(&other);
    assert_ne!(other, spawned);
    assert_eq!(agent(&home, &other)["agent"]["argv"], json!(["sleep", "3641"]));

    // Done with the first, the first agent is idle and takes the third: no third agent.
    for step in ["ack", "start", "complete"] {
        home.ok(&["handoff", step, &first, "--as", &spawned]);
    }
    let third = home.ok(&["handoff", "create", "--session", &session, "--role", "reviewer", "--task", "three"]);
    assert_eq!(assigned(&home, third.trim()), spawned);
    let views = json_of(&home.ok(&["ps", "--session", &session, "--json"]));
    assert_eq!(views.as_array().unwrap().len(), 2, "{views}");

    // `spawn --role` without a command runs the template too; an unknown role needs a command.
    let spawned_by_hand = home.ok(&["spawn", "--session", &session, "--role", "reviewer"]).trim().to_owned();
    agents.track(&spawned_by_hand);
    assert_eq!(agent(&home, &spawned_by_hand)["agent"]["argv"], json!(["sleep", "3641"]));
    let stderr = home.fails(&["spawn", "--session", &session, "--role", "nobody"], 4);
    assert!(stderr.contains("no role \"nobody\" in the configuration"), "{stderr}");
    home.fails(&["spawn", "--session", &session], 2);
    // Flags given replace what the template says, and only those.
    let args = ["spawn", "--session", &session, "--role", "reviewer", "--restart", "on-failure", "--max-runtime", "1h"];
    let tuned = home.ok(&args).trim().to_owned();
    agents.track(&tuned);
    let record = agent(&home, &tuned)["agent"].clone();
    assert_eq!(record["argv"], json!(["sleep", "3641"]));
    assert_eq!(
        (record["restart"].as_str(), record["limits"]["max_runtime"].as_u64()),
        (Some("on-failure"), Some(3_600_000))
    );
    // Open handoffs of an agent that stops go back to be routed, and would
    // spawn new agents of the role: call them off first.
    for handoff in [&second, third.trim()] {
        home.ok(&["handoff", "cancel", handoff]);
    }
    agents.stop_all();
}

/// Issue 18: a handoff to a role that no agent has and no template spawns
/// was accepted in silence and waited `initiated` forever.
#[test]
fn a_handoff_to_a_role_nothing_can_spawn_says_so_and_times_out_by_its_deadline() {
    let home = Home::new();
    let dir = home.dir.path().join("config/baton");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[engine]\nwatchdog_interval = 50\n").unwrap();
    let _daemon = home.serve();
    let session = open_session(&home);
    let said = "waits for an agent of role nosuchrole that nothing can spawn: the session has none, and there is no \
                template of that role";

    let create = ["handoff", "create", "--session", &session, "--role", "nosuchrole", "--task", "x"];
    let output = home.run(&[&create[..], &["--ack-within", "300ms"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let id = stdout_of(&output).trim().to_owned();
    assert_eq!(String::from_utf8_lossy(&output.stderr), format!("baton: handoff {id} {said}\n"));
    let shown = home.ok(&["handoff", "show", &id]);
    assert!(shown.lines().any(|line| line.starts_with("initiated") && line.ends_with(said)), "{shown}");

    // The API's answer carries it too, and its deadline still holds.
    let output = home.run(&[&create[..], &["--json"]].concat());
    let record = json_of(&stdout_of(&output));
    assert_eq!(record["history"][0]["note"], said, "{record}");
    let timed_out = eventually_blocking("the ack deadline to pass", || {
        let record = show(&home, &id);
        (record["state"] == "timed_out").then_some(record)
    });
    let last = timed_out["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["note"], "not acknowledged before its deadline", "{timed_out}");
    home.ok(&["session", "close", &session]);
}

#[test]
fn a_session_fallback_is_set_at_open_changed_and_cleared() {
    let home = Home::new();
    let _daemon = home.serve();
    let opened = json_of(&home.ok(&["session", "open", "--fallback-role", "reviewer", "--json"]));
    assert_eq!(opened["fallback"], json!({"kind": "role", "value": "reviewer"}));
    let session = opened["id"].as_str().unwrap().to_owned();
    let shown = home.ok(&["session", "show", &session]);
    let line = shown.lines().find(|line| line.starts_with("fallback:")).unwrap_or_else(|| panic!("{shown}"));
    assert!(line.ends_with(" role reviewer"), "{shown}");

    let mut agents = Agents::new(&home);
    let backup = agents.spawn(&session, "backup", 3642);
    assert_eq!(home.ok(&["session", "fallback", &session, "--agent", &backup]), format!("fallback: agent {backup}\n"));
    let shown = json_of(&home.ok(&["session", "show", &session, "--json"]));
    assert_eq!(shown["fallback"], json!({"kind": "agent", "value": backup}));
    let cleared = json_of(&home.ok(&["session", "fallback", &session, "--none", "--json"]));
    assert_eq!(cleared["fallback"], Value::Null);
    home.fails(&["session", "fallback", &session], 2);
    home.fails(&["session", "fallback", &session, "--role", "r", "--none"], 2);
    home.fails(&["session", "fallback", "01890000-0000-7000-8000-000000000000", "--none"], 4);
    // An unknown agent is a conflict (exit 5), not a missing session (4); nothing changes.
    let stderr = home.fails(&["session", "fallback", &session, "--agent", "01890000-0000-7000-8000-000000000000"], 5);
    assert!(stderr.contains("the fallback names no agent"), "{stderr}");
    assert_eq!(json_of(&home.ok(&["session", "show", &session, "--json"]))["fallback"], Value::Null);
    agents.stop_all();
}

#[test]
fn handoffs_survive_kill_9_with_state_and_deadlines_intact() {
    let home = Home::new();
    let daemon = home.serve();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let receiver = agents.spawn(&session, "reviewer", 3643);
    let acknowledged = home
        .ok(&[
            "handoff",
            "create",
            "--session",
            &session,
            "--to",
            &receiver,
            "--task",
            "started before the crash",
            "--ack-within",
            "1h",
            "--complete-within",
            "2h",
            "--payload",
            "[1, 2, 3]",
        ])
        .trim()
        .to_owned();
    home.ok(&["handoff", "ack", &acknowledged, "--as", &receiver]);
    let waiting = home
        .ok(&[
            "handoff",
            "create",
            "--session",
            &session,
            "--to",
            &receiver,
            "--task",
            "waiting",
            "--ack-within",
            "30m",
        ])
        .trim()
        .to_owned();
    let before = [show(&home, &acknowledged), show(&home, &waiting)];
    assert!(before[0]["complete_deadline"].is_string() && before[1]["ack_deadline"].is_string());

    drop(daemon); // SIGKILL
    let _daemon = home.serve();
    let after = [show(&home, &acknowledged), show(&home, &waiting)];
    assert_eq!(after, before);
    let inbox = json_of(&home.ok(&["inbox", "--agent", &receiver, "--json"]));
    assert_eq!(inbox["handoffs"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["handoffs"][0]["id"], waiting.as_str());
    // Their lives go on where they were.
    assert_eq!(home.ok(&["handoff", "start", &acknowledged, "--as", &receiver]), "in_progress\n");
    assert_eq!(home.ok(&["handoff", "ack", &waiting, "--as", &receiver]), "acknowledged\n");
    let listed = json_of(&home.ok(&["handoff", "list", "--session", &session, "--json"]));
    assert_eq!(listed["stats"]["by_state"]["in_progress"], 1, "{listed}");
    assert_eq!(listed["stats"]["by_state"]["acknowledged"], 1, "{listed}");
    agents.stop_all();
}

#[test]
fn bad_handoff_requests_are_refused_and_change_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    let socket = home.socket();
    let session = open_session(&home);
    let mut agents = Agents::new(&home);
    let receiver = agents.spawn(&session, "reviewer", 3644);
    let unknown_session = "01890000-0000-7000-8000-000000000000";

    let create = |body: &[u8]| {
        let (status, answer) = request(&socket, "POST", "/v1/handoffs", Some(body)).expect("the daemon answers");
        (status, error_code(&answer))
    };
    let valid = json!({"session": session, "to": {"kind": "agent", "value": receiver}, "task": "t"});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body.to_string().into_bytes()
    };
    let bad_request = (400, "bad_request".to_owned());
    assert_eq!(create(b"{not json"), bad_request);
    assert_eq!(create(&with("task", json!(""))), bad_request);
    assert_eq!(create(&with("task", json!("  \n"))), bad_request);
    assert_eq!(create(&with("task", json!(7))), bad_request);
    assert_eq!(create(&with("ack_within_ms", json!(0))), bad_request);
    assert_eq!(create(&with("complete_within_ms", json!(0))), bad_request);
    assert_eq!(create(&with("to", json!({"kind": "role", "value": ""}))), bad_request);
    assert_eq!(create(&with("to", json!({"kind": "team", "value": "x"}))), bad_request);
    assert_eq!(create(&with("to", json!(receiver))), bad_request);
    assert_eq!(create(&with("from", json!("not-an-id"))), bad_request);
    assert_eq!(create(&with("tsak", json!("typo"))), bad_request);
    assert_eq!(create(&with("payload", json!("x".repeat(2 * 1024 * 1024)))), (413, "payload_too_large".to_owned()));
    assert_eq!(create(&with("session", json!(unknown_session))), (404, "not_found".to_owned()));
    let (status, answer) = request(&socket, "GET", "/v1/handoffs", None).unwrap();
    assert_eq!(status, 200);
    assert_eq!(json_of(&answer)["handoffs"], json!([]), "nothing was created");
    assert_eq!(json_of(&answer)["stats"]["total"], 0);

    let id = hand_to(&home, &session, &receiver, "stays initiated");
    let before = show(&home, &id);
    let step = |path: String, body: Option<&[u8]>| {
        let (status, answer) = request(&socket, "POST", &path, body).expect("the daemon answers");
        (status, error_code(&answer))
    };
    assert_eq!(step(format!("/v1/handoffs/{id}/approve"), Some(b"{}")), bad_request);
    assert_eq!(step(format!("/v1/handoffs/{id}/ack"), Some(b"{}")), bad_request);
    assert_eq!(step(format!("/v1/handoffs/{id}/acknowledge"), Some(b"{not json")), bad_request);
    assert_eq!(step(format!("/v1/handoffs/{id}/acknowledge"), Some(br#"{"by": "nobody"}"#)), bad_request);
    assert_eq!(step(format!("/v1/handoffs/{id}/acknowledge"), Some(br#"{"byy": null}"#)), bad_request);
    assert_eq!(step(format!("/v1/handoffs/{id}/start"), None), (409, "conflict".to_owned()));
    assert_eq!(step(format!("/v1/handoffs/{UNKNOWN_HANDOFF}/start"), None), (404, "not_found".to_owned()));
    assert_eq!(step("/v1/handoffs/not-a-uuid/start".to_owned(), None), bad_request);
    let by_bystander = format!(r#"{{"by": "{unknown_session}"}}"#);
    let (status, code) = step(format!("/v1/handoffs/{id}/acknowledge"), Some(by_bystander.as_bytes()));
    assert_eq!(status, 409, "{code}");
    assert_eq!(show(&home, &id), before, "no refused step changed it");
    // No body at all is a step by an operator.
    let (status, answer) = request(&socket, "POST", &format!("/v1/handoffs/{id}/acknowledge"), None).unwrap();
    assert_eq!((status, json_of(&answer)["state"].as_str()), (200, Some("acknowledged")), "{answer}");

    for (path, status, code) in [
        ("/v1/handoffs?state=sleeping".to_owned(), 400, "bad_request"),
        ("/v1/handoffs?session=nope".to_owned(), 400, "bad_request"),
        ("/v1/handoffs?colour=red".to_owned(), 400, "bad_request"),
        ("/v1/handoffs/not-a-uuid".to_owned(), 400, "bad_request"),
        (format!("/v1/handoffs/{UNKNOWN_HANDOFF}"), 404, "not_found"),
        (format!("/v1/agents/{receiver}/inbox?wait_ms=600001"), 400, "bad_request"),
        (format!("/v1/agents/{receiver}/inbox?lease_ms=0"), 400, "bad_request"),
        (format!("/v1/agents/{UNKNOWN_HANDOFF}/inbox"), 404, "not_found"),
        (format!("/v1/handoffs/stats?session={unknown_session}"), 404, "not_found"),
    ] {
        let (got, answer) = request(&socket, "GET", &path, None).unwrap();
        assert_eq!((got, error_code(&answer).as_str()), (status, code), "GET {path}: {answer}");
    }
    let (status, answer) = request(&socket, "GET", &format!("/v1/handoffs/stats?session={session}"), None).unwrap();
    assert_eq!((status, json_of(&answer)["by_state"]["acknowledged"].as_u64()), (200, Some(1)), "{answer}");

    let fallback = format!("/v1/sessions/{session}/fallback");
    for body in [&b"{}"[..], b"{not json", br#"{"fallback": {"kind": "role", "value": ""}}"#] {
        let (status, answer) = request(&socket, "PUT", &fallback, Some(body)).unwrap();
        assert_eq!((status, error_code(&answer).as_str()), (400, "bad_request"), "{answer}");
    }
    assert_eq!(json_of(&home.ok(&["session", "show", &session, "--json"]))["fallback"], Value::Null);
    let (status, answer) =
        request(&socket, "PUT", &fallback, Some(br#"{"fallback": {"kind": "role", "value": "reviewer"}}"#)).unwrap();
    assert_eq!((status, json_of(&answer)["fallback"]["value"].as_str()), (200, Some("reviewer")), "{answer}");
    agents.stop_all();
}
