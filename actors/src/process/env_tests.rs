use std::os::unix::ffi::OsStringExt;

use super::*;
use crate::process::test_support::{Agents, read, within};

fn daemon_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/home/dev"),
        ("AWS_SECRET_ACCESS_KEY", "aws-very-secret"),
        ("GITHUB_TOKEN", "ghp-very-secret"),
        ("LC_ALL", "C"),
        ("BATON_AGENT_ID", "forged"),
    ]
}

fn baton() -> BatonContext {
    BatonContext::new("/run/baton/baton.sock", SessionId::new(), AgentId::new())
}

fn names(env: &Environment) -> Vec<&str> {
    env.names().map(|name| name.to_str().unwrap()).collect()
}

#[test]
fn only_allow_listed_variables_are_inherited() {
    let env = Environment::inherited(daemon_env(), &AllowList::standard());
    assert_eq!(names(&env), ["HOME", "PATH"]);
    assert_eq!(env.get("HOME"), Some(OsStr::new("/home/dev")));

    let env = Environment::inherited(daemon_env(), &AllowList::standard().allow("GITHUB_TOKEN"));
    assert_eq!(names(&env), ["GITHUB_TOKEN", "HOME", "PATH"]);

    assert!(Environment::inherited(daemon_env(), &AllowList::nothing()).is_empty());
}

#[test]
fn explicit_variables_override_inherited_ones_and_batons_own_override_both() {
    let baton = baton();
    let explicit = BTreeMap::from([
        ("HOME".to_owned(), "/srv/agent".to_owned()),
        ("MODEL".to_owned(), "opus".to_owned()),
        ("BATON_SESSION_ID".to_owned(), "forged too".to_owned()),
    ]);
    let env = Environment::for_agent(daemon_env(), &AllowList::standard().allow("BATON_AGENT_ID"), &explicit, &baton);
    assert_eq!(names(&env), ["BATON_AGENT_ID", "BATON_SESSION_ID", "BATON_SOCKET", "HOME", "MODEL", "PATH"]);
    assert_eq!(env.get("HOME"), Some(OsStr::new("/srv/agent")));
    assert_eq!(env.get(BATON_AGENT_ID), Some(OsStr::new(&baton.agent.to_string())));
    assert_eq!(env.get(BATON_SESSION_ID), Some(OsStr::new(&baton.session.to_string())));
    assert_eq!(env.get(BATON_SOCKET), Some(OsStr::new("/run/baton/baton.sock")));
    assert_eq!(env.len(), 6);
}

#[test]
fn debug_shows_names_but_never_values() {
    let explicit = BTreeMap::from([("ANTHROPIC_API_KEY".to_owned(), "sk-ant-very-secret".to_owned())]);
    let env = Environment::for_agent(daemon_env(), &AllowList::standard(), &explicit, &baton());
    let shown = format!("{env:?}");
    assert!(shown.contains("ANTHROPIC_API_KEY") && shown.contains("PATH"), "{shown}");
    assert!(!shown.contains("very-secret") && !shown.contains("/home/dev"), "{shown}");
}

#[test]
fn variables_a_program_cannot_receive_are_found() {
    assert_eq!(Environment::new().with("GOOD", "value").unpassable_variable(), None);
    for bad in ["", "A=B", "NUL\0"] {
        let env = Environment::new().with("GOOD", "value").with(bad, "value");
        assert_eq!(env.unpassable_variable(), Some(OsStr::new(bad)));
    }
    let env = Environment::new().with("VALUE_WITH_NUL", "a\0b");
    assert_eq!(env.unpassable_variable(), Some(OsStr::new("VALUE_WITH_NUL")));
}

/// The child's environment, as `env` prints it: exactly what it received.
#[tokio::test]
async fn the_daemons_secrets_never_reach_the_agent() {
    let mut agents = Agents::new();
    let path = std::env::var_os("PATH").expect("tests run with a PATH");
    let mut source: Vec<(OsString, OsString)> =
        daemon_env().into_iter().filter(|(name, _)| *name != "PATH").map(|(n, v)| (n.into(), v.into())).collect();
    source.push(("PATH".into(), path.clone()));
    source.push(("NOT_UTF8".into(), OsString::from_vec(vec![0xff, 0xfe])));
    let explicit = BTreeMap::from([("MODEL".to_owned(), "opus".to_owned())]);
    let baton = baton();
    let allow = AllowList::standard().allow("NOT_UTF8");
    let env = Environment::for_agent(source, &allow, &explicit, &baton);
    let spec = agents.spec(&["env"]).with_env(env);
    let mut spawned = agents.spawn(&spec);
    let status = within("env to exit", spawned.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");

    let printed = std::fs::read(&spec.stdout_log).unwrap();
    let printed = String::from_utf8_lossy(&printed);
    let mut seen: Vec<&str> = printed.lines().collect();
    seen.sort_unstable();
    let expected = [
        format!("BATON_AGENT_ID={}", baton.agent),
        format!("BATON_SESSION_ID={}", baton.session),
        "BATON_SOCKET=/run/baton/baton.sock".to_owned(),
        "HOME=/home/dev".to_owned(),
        "MODEL=opus".to_owned(),
        "NOT_UTF8=\u{fffd}\u{fffd}".to_owned(),
        format!("PATH={}", path.to_str().unwrap()),
    ];
    assert_eq!(seen, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!read(&spec.stdout_log).contains("very-secret"));
    agents.finish().await;
}
