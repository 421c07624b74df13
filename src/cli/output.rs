//! Printing: aligned tables for people, JSON for programs.

use std::io::Write as _;

use serde::Serialize;
use tabwriter::TabWriter;

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// Prints rows as a table with aligned columns under a header.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> anyhow::Result<()> {
    let mut out = TabWriter::new(std::io::stdout().lock()).padding(2);
    writeln!(out, "{}", header.join("\t"))?;
    for row in rows {
        writeln!(out, "{}", row.join("\t"))?;
    }
    out.flush()?;
    Ok(())
}

/// Prints `label: value` lines with the values aligned.
pub fn fields<'a>(fields: impl IntoIterator<Item = (&'a str, String)>) -> anyhow::Result<()> {
    let mut out = TabWriter::new(std::io::stdout().lock()).padding(1);
    for (label, value) in fields {
        writeln!(out, "{label}:\t{value}")?;
    }
    out.flush()?;
    Ok(())
}

/// Prints one line on stdout.
pub fn line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// A duration for people: `3d 4h`, `12m 5s`, `250ms`.
pub fn duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// A short latency for people, finer than [`duration`] under a minute:
/// `250ms`, `1.5s`, `12s`, `3m 5s`.
pub fn latency(latency: std::time::Duration) -> String {
    match latency.as_millis() {
        0..1000 => format!("{}ms", latency.as_millis()),
        1000..10_000 => format!("{:.1}s", latency.as_secs_f64()),
        _ => duration(latency),
    }
}

/// `text` cut to `width` characters, with an ellipsis when cut.
pub fn shorten(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A share for people: `75%`, `66.7%`.
pub fn percent(share: f64) -> String {
    let percent = share * 100.0;
    if (percent - percent.round()).abs() < 0.05 { format!("{percent:.0}%") } else { format!("{percent:.1}%") }
}

/// `-` for nothing.
pub fn or_dash(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".into(), |value| value.to_string())
}
