//! The CPU time of this process, for the benchmarks' "CPU per operation"
//! columns: the whole process's user and system time (every thread), which a
//! busy neighbour disturbs less than throughput. Also the bytes it wrote, for
//! the columns that show how much a store writes per operation.

use std::time::{Duration, Instant};

/// The wall-clock and CPU time of a case; the CPU time is the whole process's.
pub struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
    written: Option<u64>,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self { wall: Instant::now(), cpu: process_cpu(), written: bytes_written() }
    }

    /// Wall-clock and CPU time since the start.
    pub fn stop(&self) -> (Duration, Option<Duration>) {
        let elapsed = self.wall.elapsed();
        (elapsed, process_cpu().zip(self.cpu).map(|(now, then)| now.saturating_sub(then)))
    }

    /// The bytes this process wrote since the start (see [`bytes_written`]).
    #[allow(dead_code)] // Not every bench counts bytes.
    pub fn written(&self) -> Option<u64> {
        bytes_written().zip(self.written).map(|(now, then)| now.saturating_sub(then))
    }
}

/// The bytes this process has passed to `write` and its kin so far, to any
/// file (`wchar` in `/proc/self/io`: every write call of the process, mostly
/// the store's, before the page cache); `None` where there is no such file.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|line| line.strip_prefix("wchar:"))?.trim().parse().ok()
}

/// User plus system time of this process (all its threads) so far, from
/// `/proc/self/stat`, in clock ticks of 10 ms (Linux's `USER_HZ` is 100);
/// `None` where there is no such file.
pub fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which may hold spaces, start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (utime, stime) = (fields.get(14 - 3)?.parse::<u64>().ok()?, fields.get(15 - 3)?.parse::<u64>().ok()?);
    Some(Duration::from_millis((utime + stime) * 10))
}

/// User plus system time so far of this process's threads whose name is
/// `name` (as `/proc/self/task/TID/comm` gives it, at most 15 bytes), in the
/// same ticks; `None` where there is no such thread or no `/proc`.
#[allow(dead_code)] // Not every bench looks at single threads.
pub fn thread_cpu(name: &str) -> Option<Duration> {
    let mut ticks = None;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("stat")) else { continue };
        let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, after)| after.rsplit_once(')')) else { continue };
        if comm != name {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (utime, stime) = (fields.get(14 - 3)?.parse::<u64>().ok()?, fields.get(15 - 3)?.parse::<u64>().ok()?);
        ticks = Some(ticks.unwrap_or(0) + utime + stime);
    }
    ticks.map(|ticks| Duration::from_millis(ticks * 10))
}
