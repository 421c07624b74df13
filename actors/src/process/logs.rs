//! Per-agent log files: where they are, how they are kept small, and how their
//! end is read.
//!
//! An agent writes its stdout and stderr straight into its log files, opened
//! with `O_APPEND`, so it keeps running, and its output keeps landing, when the
//! daemon dies. That rules out rotating by renaming: the agent would go on
//! writing into the renamed file. Rotation copies the live file aside and then
//! truncates it in place; thanks to `O_APPEND` the agent's next write lands at
//! the new end, offset 0, not past a hole. (Output written between the copy
//! and the truncation is lost, as with logrotate's `copytruncate`; the copy
//! catches up to the end just before truncating to keep that window small.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::model::AgentId;

/// The mode of log files and their rotated copies: agents' output can hold
/// secrets, so only the daemon's user may read it.
pub(super) const LOG_MODE: u32 = 0o600;

/// How much of a file [`tail_lines`] reads at a time, going backwards.
const TAIL_CHUNK: u64 = 8 * 1024;

/// One of an agent's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

/// Where one agent's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPaths {
    /// `<dir>/<agent id>.stdout.log`: what the agent prints.
    pub stdout: PathBuf,
    /// `<dir>/<agent id>.stderr.log`: its errors and diagnostics.
    pub stderr: PathBuf,
}

impl LogPaths {
    /// The log files of `agent` in `dir`.
    pub fn in_dir(dir: impl AsRef<Path>, agent: AgentId) -> Self {
        let dir = dir.as_ref();
        Self { stdout: dir.join(format!("{agent}.stdout.log")), stderr: dir.join(format!("{agent}.stderr.log")) }
    }

    /// The file of `stream`.
    pub fn of(&self, stream: OutputStream) -> &Path {
        match stream {
            OutputStream::Stdout => &self.stdout,
            OutputStream::Stderr => &self.stderr,
        }
    }

    /// Removes both files and up to `keep` rotated copies of each; files
    /// already gone are no error. Tries every file, and returns the first
    /// error.
    pub fn remove(&self, keep: usize) -> io::Result<()> {
        let copies = |path: &Path| (1..=keep).map(|n| rotated(path, n)).collect::<Vec<_>>();
        let live = [self.stdout.clone(), self.stderr.clone()];
        let every = live.into_iter().chain(copies(&self.stdout)).chain(copies(&self.stderr));
        let mut first_error = None;
        for path in every {
            if let Err(err) = std::fs::remove_file(&path) {
                if err.kind() != io::ErrorKind::NotFound && first_error.is_none() {
                    first_error = Some(err);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Opens `path` for an agent to append to, creating it (mode 0600) if needed.
pub(super) fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).mode(LOG_MODE).open(path)
}

/// The name of the `n`th rotated copy of `path`: `path.n`.
fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotates `path` when it has grown past `max_bytes`; returns whether it did.
///
/// Keeps `keep` older copies: `path.1` (the newest) to `path.<keep>`; the
/// oldest falls off. It shifts `path.1..path.<keep - 1>` up by one, copies the
/// live file to `path.1`, then truncates the live file in place, so a process
/// appending to it goes on writing to it. With `keep` 0 it only truncates.
/// A missing `path` is not rotated.
pub fn rotate_if_over(path: &Path, max_bytes: u64, keep: usize) -> io::Result<bool> {
    let size = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if size <= max_bytes {
        return Ok(false);
    }
    if keep > 0 {
        for n in (1..keep).rev() {
            match fs::rename(rotated(path, n), rotated(path, n + 1)) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        let mut live = File::open(path)?;
        let mut copy =
            OpenOptions::new().write(true).create(true).truncate(true).mode(LOG_MODE).open(rotated(path, 1))?;
        // `io::copy` reads to the end as it is when it gets there, so output
        // written during the copy is copied too.
        io::copy(&mut live, &mut copy)?;
    }
    OpenOptions::new().write(true).open(path)?.set_len(0)?;
    Ok(true)
}

/// The last `n` lines of `path`, oldest first, without their newlines, decoded
/// as UTF-8 with invalid bytes replaced. Reads backwards from the end only as
/// far as it must, so a big file costs no more than its tail.
///
/// A last line without a newline (still being written) counts as a line.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut file = File::open(path)?;
    let size = file.seek(SeekFrom::End(0))?;
    // A newline that ends the file ends the last line; it does not start another.
    let mut end = size;
    if end > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(end - 1))?;
        file.read_exact(&mut last)?;
        if last[0] == b'\n' {
            end -= 1;
        }
    }
    if end == 0 {
        // Empty, or a single empty line.
        return Ok(if size == 0 { Vec::new() } else { vec![String::new()] });
    }
    // Read chunks backwards until the tail holds n newlines (so n whole lines
    // after the first one) or the file's start is reached.
    let mut start = end;
    let mut tail: Vec<u8> = Vec::new();
    let mut newlines = 0;
    while start > 0 && newlines < n {
        let len = TAIL_CHUNK.min(start);
        start -= len;
        let mut chunk = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|&&byte| byte == b'\n').count();
        chunk.extend_from_slice(&tail);
        tail = chunk;
    }
    let lines: Vec<&[u8]> = tail.split(|&byte| byte == b'\n').collect();
    let skip = lines.len().saturating_sub(n);
    Ok(lines[skip..].iter().map(|line| String::from_utf8_lossy(line).into_owned()).collect())
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
