use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;

const BATON: &str = "/usr/local/bin/baton";

fn command() -> HookCommand {
    HookCommand::new(Path::new(BATON)).unwrap()
}

/// A project dir with its settings file path (not created).
fn project() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let settings = SettingsScope::Project(dir.path().to_owned()).settings_file().unwrap();
    (dir, settings)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn ours(timeout: u64) -> Value {
    json!({"type": "command", "command": format!("{BATON} hook"), "timeout": timeout})
}

/// A settings file as a user has it: other settings, other hooks for events
/// baton installs and for one it does not, in an order that is not alphabetical.
const USER_SETTINGS: &str = r#"{
  "permissions": {
    "deny": [
      "Read(./.env)"
    ],
    "allow": [
      "Bash(npm run test:*)"
    ]
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "/home/u/bin/guard.sh"
          }
        ]
      }
    ],
    "PostToolUse": [
      {
        "matcher": "Edit|Write",
        "hooks": [
          {
            "type": "command",
            "command": "npx prettier --write",
            "timeout": 30
          }
        ]
      }
    ]
  },
  "model": "opus",
  "env": {
    "ZED": "1",
    "ALPHA": "2"
  }
}
"#;

#[test]
fn the_project_and_user_scopes_name_their_settings_files() {
    let scope = SettingsScope::Project(PathBuf::from("/work/p"));
    assert_eq!(scope.settings_file().unwrap(), Path::new("/work/p/.claude/settings.json"));
    let user = SettingsScope::User.settings_file().unwrap();
    assert!(user.ends_with(".claude/settings.json") && user.is_absolute(), "{}", user.display());
}

#[test]
fn installing_into_a_missing_file_creates_it_with_every_event() {
    let (_dir, settings) = project();
    let report = install(&settings, &command()).unwrap();
    assert_eq!(report.settings, settings);
    assert_eq!(report.backup, None);
    assert_eq!(report.events_with(EventChange::Added).collect::<Vec<_>>(), INSTALLED_EVENTS.iter().collect::<Vec<_>>());
    assert!(report.changed());
    assert!(!backup_path(&settings).exists());

    let written = read_json(&settings);
    let hooks = written["hooks"].as_object().unwrap();
    assert_eq!(hooks.len(), INSTALLED_EVENTS.len());
    for event in INSTALLED_EVENTS.iter() {
        let expected = if event.takes_tool_matcher() {
            json!([{"matcher": "*", "hooks": [ours(5)]}])
        } else {
            json!([{"hooks": [ours(5)]}])
        };
        assert_eq!(hooks[event.as_str()], expected, "{event}");
    }
    assert!(hooks.get("PreToolUse").is_none());
    assert!(fs::read_to_string(&settings).unwrap().ends_with("}\n"));
}

#[test]
fn installing_keeps_every_other_hook_and_setting_in_its_order() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, USER_SETTINGS).unwrap();

    let report = install(&settings, &command()).unwrap();
    assert_eq!(report.backup.as_deref(), Some(backup_path(&settings).as_path()));
    assert_eq!(fs::read_to_string(backup_path(&settings)).unwrap(), USER_SETTINGS);
    assert_eq!(
        report.events_with(EventChange::Added).count(),
        INSTALLED_EVENTS.len(),
        "PostToolUse held only someone else's entry: {report:?}"
    );

    let text = fs::read_to_string(&settings).unwrap();
    let position = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing from {text}"));
    assert!(position("\"permissions\"") < position("\"hooks\""));
    assert!(position("\"hooks\"") < position("\"model\""));
    assert!(position("\"model\"") < position("\"env\""));
    assert!(position("\"deny\"") < position("\"allow\""));
    assert!(position("\"ZED\"") < position("\"ALPHA\""));
    assert!(position("\"PreToolUse\"") < position("\"PostToolUse\""));
    assert!(position("\"PostToolUse\"") < position("\"SessionStart\""), "new events go after the user's");

    let written = read_json(&settings);
    let original: Value = serde_json::from_str(USER_SETTINGS).unwrap();
    for key in ["permissions", "model", "env"] {
        assert_eq!(written[key], original[key], "{key}");
    }
    assert_eq!(written["hooks"]["PreToolUse"], original["hooks"]["PreToolUse"]);
    assert_eq!(
        written["hooks"]["PostToolUse"],
        json!([original["hooks"]["PostToolUse"][0], {"matcher": "*", "hooks": [ours(5)]}])
    );
}

#[test]
fn installing_twice_changes_nothing_the_second_time() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, USER_SETTINGS).unwrap();
    install(&settings, &command()).unwrap();
    let after_first = fs::read(&settings).unwrap();
    fs::remove_file(backup_path(&settings)).unwrap();

    let report = install(&settings, &command()).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert_eq!(report.events_with(EventChange::Unchanged).count(), INSTALLED_EVENTS.len());
    assert_eq!(report.backup, None);
    assert_eq!(fs::read(&settings).unwrap(), after_first);
    assert!(!backup_path(&settings).exists(), "no backup when nothing changed");
}

#[test]
fn installing_replaces_an_older_baton_entry_but_not_other_commands() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let older = json!({
        "hooks": {
            "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/opt/baton-0.1/baton hook"}]}],
            "Stop": [
                {"hooks": [{"type": "command", "command": "'/old place/baton' hook", "timeout": 60}]},
                {"hooks": [{"type": "command", "command": "say done"}]}
            ]
        }
    });
    fs::write(&settings, serde_json::to_vec_pretty(&older).unwrap()).unwrap();

    let report = install(&settings, &command()).unwrap();
    assert_eq!(report.events_with(EventChange::Updated).collect::<Vec<_>>(), [&HookEventName::Stop]);
    assert_eq!(report.events_with(EventChange::Removed).collect::<Vec<_>>(), [&HookEventName::PreToolUse]);
    let written = read_json(&settings);
    assert_eq!(
        written["hooks"]["Stop"],
        json!([{"hooks": [ours(5)]}, {"hooks": [{"type": "command", "command": "say done"}]}])
    );
    assert!(written["hooks"].get("PreToolUse").is_none(), "{written}");
}

#[test]
fn a_malformed_file_is_refused_and_left_untouched() {
    for (content, expected) in [
        ("{\"hooks\": {", "is not valid JSON (EOF while parsing an object at line 1 column 11); nothing was changed"),
        ("// comment\n{}", "is not valid JSON (expected value at line 1 column 1); nothing was changed"),
        (
            "{\"hooks\": [\"baton hook\"]}",
            "is not shaped like Claude Code settings: \"hooks\" is an array, not an object; nothing was changed",
        ),
        (
            "[]",
            "is not shaped like Claude Code settings: the settings are an array, not an object; nothing was changed",
        ),
    ] {
        let (_dir, settings) = project();
        fs::create_dir_all(settings.parent().unwrap()).unwrap();
        fs::write(&settings, content).unwrap();
        for result in [install(&settings, &command()), uninstall(&settings)] {
            let err = result.unwrap_err();
            assert_eq!(err.to_string(), format!("{} {expected}", settings.display()));
            assert_eq!(fs::read_to_string(&settings).unwrap(), content);
            assert!(!backup_path(&settings).exists());
        }
    }
}

#[test]
fn an_empty_file_counts_as_empty_settings() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, "\n").unwrap();
    let report = install(&settings, &command()).unwrap();
    assert_eq!(report.events_with(EventChange::Added).count(), INSTALLED_EVENTS.len());
    assert_eq!(fs::read_to_string(backup_path(&settings)).unwrap(), "\n");
}

#[test]
fn uninstall_after_install_gives_back_the_users_file_byte_for_byte() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, USER_SETTINGS).unwrap();
    install(&settings, &command()).unwrap();

    let report = uninstall(&settings).unwrap();
    let mut removed: Vec<&str> = report.events_with(EventChange::Removed).map(HookEventName::as_str).collect();
    let mut installed: Vec<&str> = INSTALLED_EVENTS.iter().map(HookEventName::as_str).collect();
    removed.sort_unstable();
    installed.sort_unstable();
    assert_eq!(removed, installed);
    assert_eq!(fs::read_to_string(&settings).unwrap(), USER_SETTINGS);
    assert!(report.backup.is_some());

    let again = uninstall(&settings).unwrap();
    assert!(!again.changed() && again.events.is_empty(), "{again:?}");
}

#[test]
fn uninstall_removes_only_batons_entries() {
    let (_dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let mixed = json!({
        "hooks": {
            "Stop": [{"hooks": [
                {"type": "command", "command": "say done"},
                {"type": "command", "command": "BATON_DATA_DIR=/d /x/baton hook"},
                {"type": "command", "command": "echo baton hook"}
            ]}],
            "Notification": [{"hooks": [{"type": "command", "command": "baton status"}]}]
        },
        "model": "opus"
    });
    fs::write(&settings, serde_json::to_vec(&mixed).unwrap()).unwrap();
    let report = uninstall(&settings).unwrap();
    assert_eq!(report.events, [(HookEventName::Stop, EventChange::Removed)]);
    assert_eq!(
        read_json(&settings),
        json!({
            "hooks": {
                "Stop": [{"hooks": [
                    {"type": "command", "command": "say done"},
                    {"type": "command", "command": "echo baton hook"}
                ]}],
                "Notification": [{"hooks": [{"type": "command", "command": "baton status"}]}]
            },
            "model": "opus"
        })
    );
}

#[test]
fn uninstall_of_a_missing_file_creates_nothing() {
    let (dir, settings) = project();
    let report = uninstall(&settings).unwrap();
    assert!(!report.changed());
    assert!(!dir.path().join(".claude").exists());
}

#[test]
fn the_file_keeps_its_mode_and_a_symlink_stays_a_symlink() {
    let (dir, settings) = project();
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let real = dir.path().join("dotfiles-settings.json");
    fs::write(&real, "{}").unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&real, &settings).unwrap();

    install(&settings, &command()).unwrap();
    assert!(fs::symlink_metadata(&settings).unwrap().file_type().is_symlink());
    assert_eq!(read_json(&real)["hooks"]["Stop"], json!([{"hooks": [ours(5)]}]));
    assert_eq!(fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(fs::read_to_string(backup_path(&real)).unwrap(), "{}");
}

#[test]
fn a_binary_path_with_spaces_is_quoted_and_uninstalled_again() {
    let (_dir, settings) = project();
    let spaced = HookCommand::new(Path::new("/Users/me/My Tools/baton")).unwrap();
    install(&settings, &spaced).unwrap();
    assert_eq!(read_json(&settings)["hooks"]["Stop"][0]["hooks"][0]["command"], "'/Users/me/My Tools/baton' hook");
    assert!(!install(&settings, &spaced).unwrap().changed());
    let report = uninstall(&settings).unwrap();
    assert_eq!(report.events_with(EventChange::Removed).count(), INSTALLED_EVENTS.len());
    assert_eq!(read_json(&settings), json!({}));
}

#[test]
fn the_hook_is_installed_for_every_known_event_but_pre_tool_use() {
    let installed: Vec<&str> = INSTALLED_EVENTS.iter().map(HookEventName::as_str).collect();
    let expected = [
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
        "PostToolUseFailure",
        "Notification",
        "Stop",
        "SubagentStart",
        "SubagentStop",
        "PreCompact",
        "SessionEnd",
    ];
    assert_eq!(installed, expected);
}
