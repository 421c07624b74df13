//! Reading a config file strictly: every key known, every value in range,
//! and an error that names the line.
//!
//! A typo (`watchdog_intervall`) or a zero (`watchdog_interval = 0`, which
//! spun a core) once passed silently (issue 17). The file is deserialized
//! through `serde_ignored`, which reports every key no field took, and then
//! checked ([`baton_actors::EngineConfig::validate`] and the daemon's own
//! settings); the key at fault is found in the file's syntax tree (toml_edit
//! keeps each key's span) for its line.

use std::ops::Range;

use super::{ConfigFile, MIN_BODY_LIMIT};

/// Why a config file's text is refused: one line for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|line| format!("line {line}: ")).unwrap_or_default())]
pub struct ConfigFileError {
    /// The line at fault, counting from 1, where it is known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses a config file's text and checks it.
pub fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
    let mut unknown: Vec<Vec<String>> = Vec::new();
    let file: ConfigFile =
        serde_ignored::deserialize(toml::Deserializer::new(text), |path| unknown.push(segments(&path))).map_err(
            |err| ConfigFileError { line: err.span().map(|span| line_at(text, &span)), message: message(&err) },
        )?;
    if let Some(keys) = unknown.first() {
        return Err(ConfigFileError {
            line: line_of(text, keys),
            message: format!("unknown key `{}`", keys.join(".")),
        });
    }
    if let Some(limit) = file.body_limit.filter(|limit| *limit < MIN_BODY_LIMIT) {
        return Err(ConfigFileError {
            line: line_of(text, &["body_limit".to_owned()]),
            message: format!("body_limit = {limit}: must be at least {MIN_BODY_LIMIT} (bytes)"),
        });
    }
    if let Err(err) = file.engine.validate() {
        let keys: Vec<String> = std::iter::once("engine").chain(err.key.split('.')).map(str::to_owned).collect();
        return Err(ConfigFileError { line: line_of(text, &keys), message: format!("engine.{err}") });
    }
    Ok(file)
}

/// toml's message, on one line.
fn message(err: &toml::de::Error) -> String {
    err.message().trim().replace('\n', "; ")
}

/// The keys of a path `serde_ignored` reports (`engine`, `watchdog_intervall`).
fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut keys = segments(parent);
            keys.push(index.to_string());
            keys
        }
        Path::Map { parent, key } => {
            let mut keys = segments(parent);
            keys.push(key.clone());
            keys
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => segments(parent),
    }
}

/// The line of `keys` in `text`: of the key itself, else of the deepest of
/// its tables the file names.
fn line_of(text: &str, keys: &[String]) -> Option<usize> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    let mut found = None;
    for key in keys {
        let Some((name, item)) = table.get_key_value(key) else { break };
        found = name.span().or_else(|| item.span()).or(found);
        match item.as_table_like() {
            Some(inner) => table = inner,
            None => break,
        }
    }
    found.map(|span| line_at(text, &span))
}

/// The line, counting from 1, where `span` starts.
fn line_at(text: &str, span: &Range<usize>) -> usize {
    text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> String {
        parse(text).expect_err("accepted").to_string()
    }

    #[test]
    fn an_unknown_key_in_any_table_is_named_with_its_line() {
        assert_eq!(
            refusal("[engine]\nidle_after = 5000\nwatchdog_intervall = 5\n"),
            "line 3: unknown key `engine.watchdog_intervall`"
        );
        assert_eq!(refusal("[engine.agents]\nmax_runing = 4\n"), "line 2: unknown key `engine.agents.max_runing`");
        assert_eq!(refusal("\n[engine.queue]\nkept_ackd = 4\n"), "line 3: unknown key `engine.queue.kept_ackd`");
        assert_eq!(
            refusal("[engine.agents.roles.r.schedule.backoff]\ninitial = 5\nfactor = 2.0\nmax = 9\nfactr = 2.0\n"),
            "line 5: unknown key `engine.agents.roles.r.schedule.backoff.factr`"
        );
        assert_eq!(
            refusal("[engine.agents.roles.r]\ncommand = [\"a\"]\nlimits = { max_runtim = 5 }\n"),
            "line 3: unknown key `engine.agents.roles.r.limits.max_runtim`"
        );
    }

    #[test]
    fn a_key_the_top_table_or_a_role_does_not_know_is_refused_with_its_line() {
        assert!(refusal("body_limit = 2048\ndata_dri = \"/x\"\n").starts_with("line 2: unknown field `data_dri`"));
        let role = refusal("[engine.agents.roles.r]\ncommand = [\"a\"]\ncomand = [\"typo\"]\n");
        assert_eq!(role, "line 3: unknown key `engine.agents.roles.r.comand`");
    }

    #[test]
    fn a_value_out_of_range_is_named_with_its_line() {
        assert_eq!(
            refusal("[engine]\nwatchdog_interval = 0\n"),
            "line 2: engine.watchdog_interval = 0: must be from 10 to 3600000 (milliseconds)"
        );
        assert_eq!(refusal("body_limit = 0\n"), "line 1: body_limit = 0: must be at least 1024 (bytes)");
        assert_eq!(
            refusal("[engine.agents]\nstop_grace = 5\nmax_running = 0\n"),
            "line 3: engine.agents.max_running = 0: must be at least 1"
        );
        assert_eq!(
            refusal(
                "[engine.agents.roles.r]\ncommand = [\"a\"]\n\
                 [engine.agents.roles.r.schedule.backoff]\ninitial = 9000\nfactor = 2.0\nmax = 5000\n"
            ),
            "line 6: engine.agents.roles.r.schedule.backoff.max = 5000: must be at least `initial` (9000 milliseconds)"
        );
        // A fault the file does not spell out: the line of the deepest table it names.
        assert_eq!(
            refusal(
                "[engine]\nidle_after = 5\n[engine.agents]\nstop_grace = 1\n[engine.agents.roles.r]\nstdin_pipe = true\n"
            ),
            "line 5: engine.agents.roles.r.command = []: must name a program to run"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_with_its_line() {
        let err = refusal("[engine]\n\nidle_after = \"soon\"\n");
        assert!(err.starts_with("line 3: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
