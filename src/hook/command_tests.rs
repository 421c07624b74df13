use std::path::Path;

use super::*;

#[test]
fn a_plain_path_is_written_as_it_is() {
    let command = HookCommand::new(Path::new("/usr/local/bin/baton")).unwrap();
    assert_eq!(command.as_str(), "/usr/local/bin/baton hook");
}

#[test]
fn a_path_with_spaces_or_quotes_is_single_quoted_and_still_recognized() {
    let command = HookCommand::new(Path::new("/opt/my tools/baton")).unwrap();
    assert_eq!(command.as_str(), "'/opt/my tools/baton' hook");
    assert!(is_baton_hook_command(command.as_str()));

    let command = HookCommand::new(Path::new("/home/o'brien/bin/baton")).unwrap();
    assert_eq!(command.as_str(), r"'/home/o'\''brien/bin/baton' hook");
    assert_eq!(leading_words(command.as_str()).unwrap(), ["/home/o'brien/bin/baton", "hook"]);
    assert!(is_baton_hook_command(command.as_str()));

    let command = HookCommand::new(Path::new("/tmp/$x;rm/baton")).unwrap();
    assert_eq!(command.as_str(), "'/tmp/$x;rm/baton' hook");
    assert!(is_baton_hook_command(command.as_str()));
}

#[test]
fn a_relative_or_misnamed_binary_is_refused() {
    let err = HookCommand::new(Path::new("bin/baton")).unwrap_err();
    assert_eq!(err.to_string(), "cannot use bin/baton as the hook command: the path is not absolute");
    let err = HookCommand::new(Path::new("/usr/bin/baton-old")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot use /usr/bin/baton-old as the hook command: the path does not name a file called baton, \
         so uninstall could not recognize its entries"
    );
}

#[test]
fn baton_hook_commands_are_recognized() {
    for command in [
        "baton hook",
        "/usr/local/bin/baton hook",
        "'/opt/my tools/baton' hook",
        "\"/opt/my tools/baton\" hook",
        r"/opt/my\ tools/baton hook",
        "BATON_DATA_DIR=/x baton hook --json",
        "A=1 B='two words' ./baton hook",
        "$HOME/bin/baton hook",
        "  baton\thook  ",
        "baton hook 2>/dev/null",
        "baton hook; echo done",
    ] {
        assert!(is_baton_hook_command(command), "{command:?} should be baton's");
    }
}

#[test]
fn other_commands_are_not_baton_hooks() {
    for command in [
        "",
        "baton",
        "baton status",
        "baton hooks",
        "batonx hook",
        "/usr/bin/not-baton hook",
        "/usr/bin/baton/ hook",
        "echo baton hook",
        "my-wrapper baton hook",
        "true && baton hook",
        "'baton hook'",
        "'/opt/baton hook",
        "baton \"hook",
        "1A=x baton hook",
        "npx prettier --write",
    ] {
        assert!(!is_baton_hook_command(command), "{command:?} should not be baton's");
    }
}
