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

/// Issue 18: a `baton` an agent runs, with the agent's environment and nothing
/// else, finds its daemon gone and starts that same daemon again: its data dir
/// and its config, never a daemon on the default data dir. The started daemon
/// runs in `/` with the standard variables and those templates may inherit,
/// not with the starting client's directory and secrets.
#[test]
fn an_agents_own_baton_starts_its_daemon_again_never_another_one() {
    let home = Home::new();
    let _reaper = Reaper(home.data_dir());
    let config = home.dir.path().join("config/baton/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        "[engine.agents.roles.helper]\ncommand = [\"/bin/true\"]\ninherit_env = [\"AGENT_TOKEN\"]\n",
    )
    .unwrap();
    let daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "kept"]).trim().to_owned();
    let env_file = home.dir.path().join("agent.env");
    let script = format!("env -0 > {}.part && mv {0}.part {0}", env_file.display());
    home.ok(&["spawn", "--session", &session, "--", "sh", "-c", &script]);
    let start = Instant::now();
    let agent_env = loop {
        if let Ok(bytes) = std::fs::read(&env_file) {
            break bytes;
        }
        assert!(start.elapsed() < DEADLINE, "the agent did not write its environment");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let agent_env: Vec<(String, String)> = String::from_utf8(agent_env)
        .unwrap()
        .split('\0')
        .filter_map(|pair| pair.split_once('=').map(|(name, value)| (name.to_owned(), value.to_owned())))
        .collect();
    let value_of = |name: &str| agent_env.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    assert_eq!(value_of("BATON_DATA_DIR"), Some(home.data_dir().display().to_string()));
    assert_eq!(value_of("BATON_CONFIG"), Some(config.display().to_string()));
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");

    let output = std::process::Command::new(super::harness::baton_bin())
        .args(["session", "list", "--json"])
        .env_clear()
        .envs(agent_env.iter().cloned())
        .env("AGENT_TOKEN", "for-agents")
        .env("ANTHROPIC_API_KEY", "sk-of-whoever-came-first")
        .current_dir(home.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let sessions: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sessions[0]["id"].as_str(), Some(session.as_str()), "another data dir was served: {sessions}");

    let pids = daemons_for(&home.data_dir());
    assert_eq!(pids.len(), 1, "{pids:?}");
    let pid = pids[0];
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), std::path::Path::new("/"));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ: Vec<&[u8]> = environ.split(|byte| *byte == 0).collect();
    assert!(environ.contains(&&b"AGENT_TOKEN=for-agents"[..]), "a template's inherit_env name is passed on");
    assert!(!environ.iter().any(|pair| pair.starts_with(b"ANTHROPIC_API_KEY=")), "the client's secret was passed on");
    stop(pid);
}

/// Stops daemon `pid` with SIGTERM and waits until it is gone.
fn stop(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(start.elapsed() < DEADLINE, "the daemon {pid} did not stop");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
