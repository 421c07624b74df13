//! The command line a Claude Code settings entry runs for baton, and the rule
//! that tells baton's entries from everyone else's.
//!
//! Claude Code hands a hook's `command` to a shell, so a binary path with a
//! space or a quote in it must be quoted. Install and uninstall must agree on
//! which entries are baton's without any marker of their own (Claude Code's
//! settings schema has no room for one, and users edit the file by hand), so
//! the rule reads the command itself:
//!
//! > An entry is baton's when its `command`, split into words the way a POSIX
//! > shell splits a simple command (single quotes, double quotes and
//! > backslashes honoured; nothing expanded; an unquoted `;`, `&`, `|`, `<`,
//! > `>`, `(` or `)` ends it), is: any number of `NAME=value` assignments, then
//! > a program whose file name (the text after its last `/`) is exactly `baton`,
//! > then the word `hook`, then anything.
//!
//! So `/usr/local/bin/baton hook`, `'/opt/my tools/baton' hook`,
//! `BATON_DATA_DIR=/x baton hook --json` and `$HOME/bin/baton hook` are baton's;
//! `baton status`, `batonx hook`, `echo baton hook` and `my-wrapper baton hook`
//! are not. A command with an unterminated quote is not baton's.

use std::path::{Path, PathBuf};

/// The command a settings entry runs: the baton binary, quoted for a shell
/// when it needs to be, then `hook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommand {
    /// The command line as written into the settings file.
    line: String,
}

impl HookCommand {
    /// The command running the baton binary at `baton` (an absolute path to a
    /// file named `baton`, so that [`is_baton_hook_command`] recognizes it).
    pub fn new(baton: &Path) -> Result<Self, InvalidHookCommand> {
        let invalid = |problem| InvalidHookCommand { path: baton.to_owned(), problem };
        if !baton.is_absolute() {
            return Err(invalid("is not absolute"));
        }
        let text = baton.to_str().ok_or_else(|| invalid("is not valid UTF-8"))?;
        let line = format!("{} hook", shell_quote(text));
        if !is_baton_hook_command(&line) {
            return Err(invalid("does not name a file called baton, so uninstall could not recognize its entries"));
        }
        Ok(Self { line })
    }

    /// The command line as written into the settings file.
    pub fn as_str(&self) -> &str {
        &self.line
    }
}

/// A baton binary path that cannot be made into a hook command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot use {} as the hook command: the path {problem}", path.display())]
pub struct InvalidHookCommand {
    /// The path as given.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Whether `command` runs baton's hook, by the rule in the module doc.
pub fn is_baton_hook_command(command: &str) -> bool {
    let Some(words) = leading_words(command) else {
        return false;
    };
    let mut words = words.iter().skip_while(|word| is_assignment(word));
    let program = words.next().and_then(|word| word.rsplit('/').next());
    program == Some("baton") && words.next().map(String::as_str) == Some("hook")
}

/// `text` as one shell word: unchanged when it holds only characters no shell
/// treats specially, else in single quotes (each `'` written as `'\''`).
fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Whether `word` is a shell variable assignment such as `BATON_DATA_DIR=/x`.
fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The words of the first simple command in `command`, with quotes removed;
/// `None` when a quote is never closed.
fn leading_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        inner => current.push(inner),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            escaped @ ('$' | '`' | '"' | '\\') => current.push(escaped),
                            '\n' => {}
                            other => current.extend(['\\', other]),
                        },
                        inner => current.push(inner),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(escaped) => word.get_or_insert_with(String::new).push(escaped),
            },
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
