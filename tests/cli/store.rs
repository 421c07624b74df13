//! The store through the CLI: a damaged store refused by `baton serve` with
//! what to do, `baton store reset`, `baton backup` and doctor's store check.

use super::harness::Home;

/// A data dir holding `n` acknowledged observations, its daemon stopped.
fn filled(home: &Home, n: usize) -> String {
    let daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "kept"]).trim().to_owned();
    for i in 0..n {
        home.ok(&["observe", "--session", &session, "--kind", "tool_use", "--data", &format!("{{\"n\": {i}}}")]);
    }
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    session
}

fn cut_log_in_half(home: &Home) {
    let log = home.data_dir().join("store").join("db");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len / 2).unwrap();
}

#[test]
fn a_damaged_store_is_refused_by_serve_and_doctor_and_reset_starts_over_keeping_it() {
    let home = Home::new();
    let session = filled(&home, 40);
    cut_log_in_half(&home);

    let serve = home.command(&["serve"]).output().unwrap();
    assert_eq!(serve.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(stderr.contains("has lost writes it acknowledged"), "{stderr}");
    assert!(stderr.contains("baton store reset"), "says what to do: {stderr}");
    assert_eq!(
        super::harness::request(&home.socket(), "GET", "/v1/health", None),
        None,
        "a refused store is not served"
    );

    let doctor = home.command(&["doctor", "--no-autostart"]).output().unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.lines().any(|line| line.starts_with("FAIL  store") && line.contains("lost writes")), "{report}");

    let said = home.ok(&["store", "reset"]);
    assert!(said.starts_with("set the store aside at "), "{said}");
    let aside = std::path::PathBuf::from(said.trim_start_matches("set the store aside at ").split(';').next().unwrap());
    assert!(aside.join("db").exists(), "the damaged store is kept");

    let _daemon = home.serve();
    let sessions: serde_json::Value = serde_json::from_str(&home.ok(&["session", "list", "--json"])).unwrap();
    assert_eq!(sessions, serde_json::json!([]), "the new store starts empty");
    home.fails(&["session", "show", &session], 4);
}

#[test]
fn store_reset_is_refused_while_the_daemon_runs() {
    let home = Home::new();
    let _daemon = home.serve();
    home.ok(&["session", "open"]);
    let stderr = home.fails(&["store", "reset"], 1);
    assert!(stderr.contains("another baton daemon"), "{stderr}");
    assert!(home.data_dir().join("store").join("db").exists());
}

#[test]
fn a_backup_taken_while_the_daemon_runs_serves_every_acknowledged_record() {
    let home = Home::new();
    let daemon = home.serve();
    let session = home.ok(&["session", "open", "--name", "backed-up"]).trim().to_owned();
    for i in 0..25 {
        home.ok(&["observe", "--session", &session, "--data", &format!("{{\"n\": {i}}}")]);
    }
    let dest = home.dir.path().join("backup");
    let said = home.ok(&["backup", dest.to_str().unwrap()]);
    assert!(said.starts_with("backed up commit "), "{said}");
    let stderr = home.fails(&["backup", dest.to_str().unwrap()], 2);
    assert!(stderr.contains("is not empty"), "{stderr}");
    let body = serde_json::json!({"dest": dest}).to_string();
    let (status, answer) =
        super::harness::request(&home.socket(), "POST", "/v1/store/backup", Some(body.as_bytes())).unwrap();
    assert_eq!((status, super::harness::error_code(&answer).as_str()), (409, "conflict"), "{answer}");

    let doctor = home.ok(&["doctor"]);
    assert!(doctor.lines().any(|line| line.starts_with("ok    store") && line.contains("none damaged")), "{doctor}");
    drop(daemon);

    // The backup is a data dir of its own.
    let restored = Home::new();
    let restored_dir = restored.data_dir();
    std::fs::remove_dir_all(&restored_dir).ok();
    std::fs::rename(&dest, &restored_dir).unwrap();
    let _daemon = restored.serve();
    let stats: serde_json::Value =
        serde_json::from_str(&restored.ok(&["queue", "stats", "--session", &session, "--json"])).unwrap();
    assert_eq!(stats["pending"], 25, "{stats}");
}
