//! Following a log file as an agent writes it.
//!
//! `baton logs --follow` prints what an agent writes as it writes it, and the
//! stale-agent watchdog counts new output as a sign of life. Both keep a
//! position in the file and ask, now and then, what came after it. The file is
//! not always only appended to: rotation truncates it in place. A file now
//! shorter than the position was truncated, so reading starts again from its
//! beginning. (A file truncated and then refilled past the position before the
//! next look cannot be told from a grown one; the caller that rotates a file
//! knows it did and can start its cursors again.)

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The most a cursor reads in one call, so a cursor far behind in a big file
/// catches up in steps rather than in one huge buffer.
pub const READ_LIMIT: usize = 1024 * 1024;

/// A position in a log file, and the means to read what came after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor {
    /// The file followed.
    path: PathBuf,
    /// How far into the file has been read (bytes from its start).
    offset: u64,
}

/// What a cursor read: the bytes written since its last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogChunk {
    /// The new bytes, at most [`READ_LIMIT`] of them.
    pub bytes: Vec<u8>,
    /// Whether the file had been truncated (rotated), so these bytes are read
    /// from its start again.
    pub truncated: bool,
}

impl LogChunk {
    /// Whether nothing new arrived.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// What a cursor read, as whole lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogLines {
    /// The new lines, without their newlines, invalid UTF-8 replaced.
    pub lines: Vec<String>,
    /// Whether the file had been truncated (rotated), so these lines are read
    /// from its start again.
    pub truncated: bool,
}

impl LogLines {
    /// Whether no new line arrived.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl LogCursor {
    /// A cursor at the start of `path`: the first read returns everything.
    pub fn at_start(path: impl Into<PathBuf>) -> Self {
        Self::at(path, 0)
    }

    /// A cursor at the current end of `path` (its start if it does not exist
    /// yet): reads return only what is written from now on.
    pub fn at_end(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let offset = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => 0,
            Err(err) => return Err(err),
        };
        Ok(Self { path, offset })
    }

    /// A cursor at `offset` bytes into `path`, such as one saved earlier.
    pub fn at(path: impl Into<PathBuf>, offset: u64) -> Self {
        Self { path: path.into(), offset }
    }

    /// The file it follows.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How far into the file it has read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes written since the last read (at most [`READ_LIMIT`]); empty
    /// when nothing new arrived. A missing file reads as an empty one.
    pub fn read_new(&mut self) -> io::Result<LogChunk> {
        let (bytes, truncated) = self.peek()?;
        self.advance(bytes.len())?;
        Ok(LogChunk { bytes, truncated })
    }

    /// The whole lines written since the last read. A last line without its
    /// newline yet is left for a later read, unless it alone fills
    /// [`READ_LIMIT`], in which case it is returned as it is.
    pub fn read_lines(&mut self) -> io::Result<LogLines> {
        let (mut bytes, truncated) = self.peek()?;
        let whole = match bytes.iter().rposition(|&byte| byte == b'\n') {
            Some(last_newline) => last_newline + 1,
            None if bytes.len() >= READ_LIMIT => bytes.len(),
            None => 0,
        };
        bytes.truncate(whole);
        self.advance(whole)?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        let lines = if whole == 0 {
            Vec::new()
        } else {
            bytes.split(|&byte| byte == b'\n').map(|line| String::from_utf8_lossy(line).into_owned()).collect()
        };
        Ok(LogLines { lines, truncated })
    }

    /// Reads up to [`READ_LIMIT`] bytes after the offset without moving past
    /// them; when the file is shorter than the offset, moves back to its start
    /// and says it was truncated.
    fn peek(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let mut file = match File::open(&self.path) {
            Ok(file) => Some(file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let size = match &file {
            Some(file) => file.metadata()?.len(),
            None => 0,
        };
        let truncated = size < self.offset;
        if truncated {
            self.offset = 0;
        }
        let mut bytes = Vec::new();
        if let Some(file) = file.as_mut().filter(|_| size > self.offset) {
            file.seek(SeekFrom::Start(self.offset))?;
            let limit = u64::try_from(READ_LIMIT).map_err(io::Error::other)?;
            file.take(limit).read_to_end(&mut bytes)?;
        }
        Ok((bytes, truncated))
    }

    /// Moves the offset past `len` bytes just read.
    fn advance(&mut self, len: usize) -> io::Result<()> {
        self.offset += u64::try_from(len).map_err(io::Error::other)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "log_cursor_tests.rs"]
mod tests;
