//! Many CLIs at once against one daemon.

use std::collections::HashSet;
use std::process::Stdio;

use super::harness::{Home, describe};

#[test]
fn fifty_concurrent_cli_calls_all_succeed() {
    let home = Home::new();
    let _daemon = home.serve();
    let running: Vec<_> = (0..50)
        .map(|n| {
            let name = format!("s{n}");
            home.command(&["session", "open", "--name", &name]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
        })
        .collect::<Result<_, _>>()
        .unwrap();
    let mut ids = HashSet::new();
    for child in running {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        ids.insert(String::from_utf8(output.stdout).unwrap().trim().to_owned());
    }
    assert_eq!(ids.len(), 50, "the ids are not distinct");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&home.ok(&["session", "list", "--json"])).unwrap();
    assert_eq!(listed.len(), 50);
}
