use std::os::unix::fs::PermissionsExt;

use tokio::io::AsyncWriteExt;

use super::*;
use crate::process::proc_table::stat_of;
use crate::process::test_support::{Agents, read, within};
use crate::process::{Signal, signal_sid};

#[tokio::test]
async fn arguments_reach_the_program_as_given_without_a_shell() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["printf", "[%s]", "two words", "$HOME", "*", "; echo injected", "`id`"]);
    let mut spawned = agents.spawn(&spec);
    let status = within("printf to exit", spawned.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(read(&spec.stdout_log), "[two words][$HOME][*][; echo injected][`id`]");
    agents.finish().await;
}

#[tokio::test]
async fn the_agent_leads_a_session_and_group_of_its_own_without_a_terminal() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sleep", "1000"]);
    let mut spawned = agents.spawn(&spec);
    let pid = spawned.identity.pid;
    let stat = stat_of(pid).unwrap();
    assert_eq!((stat.session, stat.pgrp), (pid.try_into().unwrap(), pid.try_into().unwrap()));
    assert_eq!(stat.tty_nr, 0, "no controlling terminal");
    assert_ne!(Some(stat.session), stat_of(std::process::id()).ok().map(|own| own.session));
    assert_eq!(spawned.identity.start_time, stat.starttime);
    assert!(spawned.stdin.is_none());

    signal_sid(pid, Signal::SIGKILL).unwrap();
    within("sleep to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn the_working_directory_is_honoured() {
    let mut agents = Agents::new();
    let cwd = agents.dir().join("work tree");
    std::fs::create_dir(&cwd).unwrap();
    let spec = agents.spec(&["pwd"]).with_cwd(&cwd);
    let mut spawned = agents.spawn(&spec);
    within("pwd to exit", spawned.child.wait()).await.unwrap();
    assert_eq!(read(&spec.stdout_log).trim_end(), cwd.canonicalize().unwrap().to_str().unwrap());
    agents.finish().await;
}

#[tokio::test]
async fn output_is_appended_to_private_log_files_run_after_run() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    for _ in 0..2 {
        let mut spawned = agents.spawn(&spec);
        let status = within("sh to exit", spawned.child.wait()).await.unwrap();
        assert_eq!(status.code(), Some(3));
    }
    assert_eq!(read(&spec.stdout_log), "out\nout\n");
    assert_eq!(read(&spec.stderr_log), "err\nerr\n");
    for log in [&spec.stdout_log, &spec.stderr_log] {
        assert_eq!(std::fs::metadata(log).unwrap().permissions().mode() & 0o777, 0o600, "{}", log.display());
    }
    agents.finish().await;
}

#[tokio::test]
async fn stdin_is_dev_null_unless_a_pipe_is_asked_for() {
    let mut agents = Agents::new();
    let script = r#"if read line; then echo "read: $line"; else echo "end of file"; fi"#;
    let spec = agents.spec(&["sh", "-c", script]);
    assert_eq!(spec.stdin, Stdin::Null);
    let mut spawned = agents.spawn(&spec);
    within("sh to exit", spawned.child.wait()).await.unwrap();
    assert_eq!(read(&spec.stdout_log), "end of file\n");
    agents.finish().await;
}

#[tokio::test]
async fn a_piped_stdin_reaches_the_agent() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["cat"]).with_stdin(Stdin::Pipe);
    let mut spawned = agents.spawn(&spec);
    let mut stdin = spawned.stdin.take().expect("a pipe to write to");
    stdin.write_all(b"a prompt on stdin\n").await.unwrap();
    drop(stdin);
    let status = within("cat to see end of file", spawned.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(read(&spec.stdout_log), "a prompt on stdin\n");
    agents.finish().await;
}

#[tokio::test]
async fn a_missing_program_is_an_error_naming_it_and_the_directory() {
    let agents = Agents::new();
    let spec = agents.spec(&["baton-no-such-agent", "--help"]).with_cwd(agents.dir());
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(&err, SpawnError::NotFound { program, .. } if program == "baton-no-such-agent"), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("cannot start \"baton-no-such-agent\" in {}: command not found", agents.dir().display())
    );
    agents.finish().await;
}

#[tokio::test]
async fn a_file_that_is_not_executable_is_an_error_saying_why() {
    let agents = Agents::new();
    let script = agents.dir().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let spec = agents.spec(&[script.to_str().unwrap()]);
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(&err, SpawnError::Start { err, .. } if err.kind() == io::ErrorKind::PermissionDenied));
    assert!(err.to_string().contains("script.sh"), "{err}");
    agents.finish().await;
}

#[tokio::test]
async fn bad_specs_are_refused_before_anything_runs() {
    let agents = Agents::new();
    let missing = agents.dir().join("missing");

    let err = spawn(&agents.spec(&[])).unwrap_err();
    assert_eq!(err.to_string(), "nothing to run: the command is empty");

    let err = spawn(&agents.spec(&["true"]).with_cwd(&missing)).unwrap_err();
    assert!(matches!(&err, SpawnError::Cwd { cwd, .. } if cwd == &missing), "{err:?}");
    assert!(err.to_string().starts_with(&format!("cannot run in {}: ", missing.display())), "{err}");

    let mut spec = agents.spec(&["true"]);
    spec.stdout_log = missing.join("out.log");
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(&err, SpawnError::Log { path, .. } if path == &spec.stdout_log), "{err:?}");

    let spec = agents.spec(&["true"]);
    let spec = ProcessSpec { env: spec.env.clone().with("A=B", "c"), ..spec };
    let err = spawn(&spec).unwrap_err();
    assert_eq!(err.to_string(), "environment variable \"A=B\" cannot be passed to a program");
    agents.finish().await;
}

#[tokio::test]
async fn signals_start_at_their_defaults_and_unblocked() {
    // The test process ignores SIGPIPE (every Rust program does); its agents must not.
    let mut agents = Agents::new();
    let spec = agents.spec(&["cat", "/proc/self/status"]);
    let mut spawned = agents.spawn(&spec);
    within("cat to exit", spawned.child.wait()).await.unwrap();
    let status = read(&spec.stdout_log);
    let mask = |name: &str| {
        let field = status.lines().find_map(|line| line.strip_prefix(name)).expect("a signal mask");
        u64::from_str_radix(field.trim(), 16).expect("a hexadecimal mask")
    };
    // Bit n-1 stands for signal n. glibc's posix_spawn leaves its two
    // internal real-time signals (32 and 33) ignored in the child; the C
    // library of the program run sets them up again. Signals 1 to 31 are
    // what programs rely on.
    let standard = (1u64 << 31) - 1;
    assert_eq!(mask("SigIgn:") & standard, 0, "{status}");
    assert_eq!(mask("SigBlk:"), 0, "{status}");
    agents.finish().await;
}

#[tokio::test]
async fn the_program_is_looked_up_in_the_agents_path_not_the_daemons() {
    let mut agents = Agents::new();
    let tools = agents.dir().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let tool = tools.join("baton-test-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"found in $1\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();

    let spec = agents.spec(&["baton-test-tool", "the agent's PATH"]);
    let path = format!("{}:/usr/bin:/bin", tools.display());
    let spec = ProcessSpec { env: spec.env.clone().with("PATH", path), ..spec };
    let mut spawned = agents.spawn(&spec);
    let status = within("the tool to exit", spawned.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(read(&spec.stdout_log), "found in the agent's PATH\n");

    let elsewhere = agents.spec(&["baton-test-tool"]);
    let err = spawn(&elsewhere).unwrap_err();
    assert!(matches!(&err, SpawnError::NotFound { .. }), "{err:?}");
    agents.finish().await;
}

#[tokio::test]
async fn a_child_dropped_before_it_is_waited_for_is_still_reaped() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sh", "-c", "exit 0"]);
    let spawned = agents.spawn(&spec);
    drop(spawned);
    // `finish` waits until no process of the test's sessions is left, a
    // zombie child of this process included.
    agents.finish().await;
}

#[tokio::test]
async fn a_wait_dropped_before_the_end_leaves_the_child_to_wait_for_again_or_to_drop() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sleep", "1000"]));
    let pid = spawned.identity.pid;
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), spawned.child.wait()).await;
    assert!(gave_up.is_err(), "sleep 1000 ended within 20 ms");
    signal_sid(pid, Signal::SIGTERM).unwrap();
    let status = within("sleep to die", spawned.child.wait()).await.unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15));

    // Dropped in the middle of a wait, then killed: still reaped.
    let mut again = agents.spawn(&agents.spec(&["sleep", "1000"]));
    assert!(tokio::time::timeout(std::time::Duration::from_millis(20), again.child.wait()).await.is_err());
    signal_sid(again.identity.pid, Signal::SIGKILL).unwrap();
    drop(again);
    agents.finish().await;
}

#[tokio::test]
async fn the_agent_holds_only_its_standard_streams_whatever_its_host_left_open() {
    // A host (a program embedding baton) with a descriptor open without
    // close-on-exec: `dup` does not set it.
    let leaky = nix::unistd::dup(std::io::stderr()).unwrap();
    let mut agents = Agents::new();
    let spec = agents.spec(&["sleep", "1000"]);
    let mut spawned = agents.spawn(&spec);
    let pid = spawned.identity.pid;
    let mut held: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    held.sort_unstable();
    drop(leaky);
    assert_eq!(held, [0, 1, 2], "the agent holds more than its standard streams");

    signal_sid(pid, Signal::SIGKILL).unwrap();
    within("sleep to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}
