use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;

use super::*;
use crate::process::Stdin;
use crate::process::test_support::{Agents, eventually, read, within};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn an_agents_logs_are_named_after_it() {
    let agent = AgentId::new();
    let logs = LogPaths::in_dir("/var/lib/baton/logs", agent);
    assert_eq!(logs.stdout, PathBuf::from(format!("/var/lib/baton/logs/{agent}.stdout.log")));
    assert_eq!(logs.stderr, PathBuf::from(format!("/var/lib/baton/logs/{agent}.stderr.log")));
    assert_eq!(logs.of(OutputStream::Stdout), logs.stdout);
    assert_eq!(logs.of(OutputStream::Stderr), logs.stderr);
}

/// Writes `line` through `cat` and waits until it is all the live file holds.
async fn say(stdin: &mut pipe::Sender, log: &Path, line: &str) {
    stdin.write_all(line.as_bytes()).await.unwrap();
    eventually(&format!("{line:?} to be logged"), || read(log) == line).await;
}

#[tokio::test]
async fn rotation_keeps_n_copies_while_the_agent_goes_on_writing_to_the_live_file() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["cat"]).with_stdin(Stdin::Pipe);
    let log = spec.stdout_log.clone();
    let mut cat = agents.spawn(&spec);
    let mut stdin = cat.stdin.take().unwrap();

    for line in ["first\n", "second\n", "third\n"] {
        say(&mut stdin, &log, line).await;
        assert!(!rotate_if_over(&log, 100, 2).unwrap(), "under the limit");
        assert!(rotate_if_over(&log, 5, 2).unwrap());
        assert_eq!(read(&log), "");
    }
    // Written after the truncation, at the new end: no hole of NULs where the
    // old output was.
    say(&mut stdin, &log, "fourth\n").await;
    assert_eq!(read(&rotated(&log, 1)), "third\n");
    assert_eq!(read(&rotated(&log, 2)), "second\n");
    assert!(!rotated(&log, 3).exists(), "only two copies are kept");
    let mode = std::fs::metadata(rotated(&log, 1)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    drop(stdin);
    within("cat to exit", cat.child.wait()).await.unwrap();
    agents.finish().await;
}

#[test]
fn keeping_no_copy_only_truncates_and_a_missing_file_is_left_alone() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("agent.stdout.log");
    assert!(!rotate_if_over(&log, 0, 3).unwrap());
    assert!(!log.exists());
    write(&log, "some output\n");
    assert!(rotate_if_over(&log, 4, 0).unwrap());
    assert_eq!(read(&log), "");
    assert!(!rotated(&log, 1).exists());
}

#[test]
fn the_tail_is_the_last_lines_oldest_first() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let lines: Vec<String> = (0..20_000).map(|n| format!("line {n}")).collect();
    write(&log, &(lines.join("\n") + "\n"));
    assert_eq!(tail_lines(&log, 3).unwrap(), ["line 19997", "line 19998", "line 19999"]);
    assert_eq!(tail_lines(&log, 2000).unwrap(), lines[18_000..]);
    assert_eq!(tail_lines(&log, 50_000).unwrap(), lines);
    assert_eq!(tail_lines(&log, 0).unwrap(), Vec::<String>::new());
}

#[test]
fn the_tail_handles_unfinished_empty_long_and_invalid_lines() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    write(&log, "");
    assert_eq!(tail_lines(&log, 5).unwrap(), Vec::<String>::new());
    write(&log, "\n");
    assert_eq!(tail_lines(&log, 5).unwrap(), [""]);
    write(&log, "done\n\nstill writ");
    assert_eq!(tail_lines(&log, 2).unwrap(), ["", "still writ"]);
    let long = "x".repeat(50_000);
    write(&log, &format!("before\n{long}\nafter\n"));
    assert_eq!(tail_lines(&log, 2).unwrap(), [long.as_str(), "after"]);
    std::fs::write(&log, b"ok\nbad \xff byte\n").unwrap();
    assert_eq!(tail_lines(&log, 1).unwrap(), ["bad \u{fffd} byte"]);
    assert_eq!(tail_lines(&dir.path().join("missing"), 1).unwrap_err().kind(), io::ErrorKind::NotFound);
}

/// A 4 GiB file (sparse: it costs no disk) whose tail is read at once: only
/// the end is read, never the whole file.
#[test]
fn the_tail_of_a_huge_file_costs_only_its_end() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let mut file = File::create(&log).unwrap();
    file.set_len(4 << 30).unwrap();
    file.seek(SeekFrom::End(0)).unwrap();
    file.write_all(b"\nnext to last\nlast\n").unwrap();
    let started = Instant::now();
    assert_eq!(tail_lines(&log, 2).unwrap(), ["next to last", "last"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn removing_logs_takes_both_files_and_their_rotated_copies_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let agent = AgentId::new();
    let logs = LogPaths::in_dir(dir.path(), agent);
    let neighbour = LogPaths::in_dir(dir.path(), AgentId::new());
    let copy = |path: &Path, n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    let ours = [logs.stdout.clone(), logs.stderr.clone(), copy(&logs.stdout, 1), copy(&logs.stderr, 2)];
    for path in ours.iter().chain([&neighbour.stdout]) {
        std::fs::write(path, "line\n").unwrap();
    }
    logs.remove(2).unwrap();
    for path in &ours {
        assert!(!path.exists(), "{} is left", path.display());
    }
    assert!(neighbour.stdout.exists(), "another agent's log was removed");
    logs.remove(2).expect("removing what is already gone is no error");
}
