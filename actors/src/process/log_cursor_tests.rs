use std::fs::OpenOptions;
use std::io::Write;

use tempfile::TempDir;

use super::*;

fn append(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn lines(read: LogLines) -> Vec<String> {
    assert!(!read.truncated);
    read.lines
}

#[test]
fn a_cursor_sees_what_was_appended_since_its_last_read() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    append(&log, b"old\n");
    let mut cursor = LogCursor::at_end(&log).unwrap();
    assert_eq!(cursor.offset(), 4);
    assert!(cursor.read_new().unwrap().is_empty(), "nothing new yet");

    append(&log, b"one\ntwo\n");
    let chunk = cursor.read_new().unwrap();
    assert_eq!((chunk.text().as_ref(), chunk.truncated), ("one\ntwo\n", false));
    assert_eq!(cursor.offset(), 12);
    assert!(cursor.read_new().unwrap().is_empty());

    let mut from_start = LogCursor::at_start(&log);
    assert_eq!(from_start.read_new().unwrap().text(), "old\none\ntwo\n");
    assert_eq!(LogCursor::at(&log, 8).read_new().unwrap().text(), "two\n");
}

#[test]
fn lines_are_returned_whole_and_an_unfinished_one_waits() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let mut cursor = LogCursor::at_start(&log);
    assert!(cursor.read_lines().unwrap().is_empty(), "a missing file reads as empty");

    append(&log, b"first\nsecond\nthi");
    assert_eq!(lines(cursor.read_lines().unwrap()), ["first", "second"]);
    assert!(cursor.read_lines().unwrap().is_empty(), "\"thi\" is not a line yet");
    append(&log, b"rd\n\n");
    assert_eq!(lines(cursor.read_lines().unwrap()), ["third", ""]);
    append(&log, b"bad \xff\n");
    assert_eq!(lines(cursor.read_lines().unwrap()), ["bad \u{fffd}"]);
    assert_eq!(cursor.offset(), std::fs::metadata(&log).unwrap().len());
}

#[test]
fn a_truncated_file_is_read_again_from_its_start() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    append(&log, b"before the rotation\n");
    let mut cursor = LogCursor::at_end(&log).unwrap();
    crate::process::rotate_if_over(&log, 0, 1).unwrap();
    append(&log, b"after\n");

    let read = cursor.read_lines().unwrap();
    assert_eq!(read.lines, ["after"]);
    assert!(read.truncated);
    assert_eq!(cursor.offset(), 6);
    append(&log, b"more\n");
    assert_eq!(lines(cursor.read_lines().unwrap()), ["more"]);

    std::fs::write(&log, "").unwrap();
    let chunk = cursor.read_new().unwrap();
    assert!(chunk.truncated && chunk.is_empty(), "{chunk:?}");
    assert_eq!(cursor.offset(), 0);
}

#[test]
fn a_cursor_far_behind_catches_up_in_bounded_steps() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    let line = [b'x'; 1023];
    let mut big = Vec::new();
    for _ in 0..2560 {
        big.extend_from_slice(&line);
        big.push(b'\n');
    }
    append(&log, &big);
    let mut cursor = LogCursor::at_start(&log);
    let sizes: Vec<usize> = (0..4).map(|_| cursor.read_new().unwrap().bytes.len()).collect();
    assert_eq!(sizes, [READ_LIMIT, READ_LIMIT, big.len() - 2 * READ_LIMIT, 0]);

    let mut cursor = LogCursor::at_start(&log);
    let mut count = 0;
    loop {
        let read = cursor.read_lines().unwrap();
        if read.is_empty() {
            break;
        }
        assert!(read.lines.iter().all(|read| read.len() == 1023));
        count += read.lines.len();
    }
    assert_eq!(count, 2560);
}

#[test]
fn a_line_longer_than_the_read_limit_is_returned_in_pieces() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("log");
    append(&log, &vec![b'y'; READ_LIMIT + 10]);
    let mut cursor = LogCursor::at_start(&log);
    assert_eq!(cursor.read_lines().unwrap().lines, ["y".repeat(READ_LIMIT)]);
    assert!(cursor.read_lines().unwrap().is_empty(), "the rest has no newline yet");
    append(&log, b"\n");
    assert_eq!(cursor.read_lines().unwrap().lines, ["y".repeat(10)]);
}
