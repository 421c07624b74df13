#!/usr/bin/env bash
# The daemon's idle RSS: starts a release `baton serve` RUNS times, each on a
# fresh data dir, and reads VmRSS (and its anonymous and file-backed parts)
# from /proc 1.2 s after it first answers /v1/health. Two series: the binary as
# it is in the page cache (fresh from the linker after a build), then with its
# pages dropped from the page cache first, as after a reboot. Prints medians,
# and the threads of the last daemon.
# Usage: scripts/bench-rss.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-15}"
cargo build --release --quiet
bin="$PWD/target/release/baton"
python3 - "$runs" "$bin" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
runs, binary = int(sys.argv[1]), sys.argv[2]

def status(pid):
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return [int(fields[key].split()[0]) for key in ("VmRSS", "RssAnon", "RssFile")]

def start():
    home = tempfile.mkdtemp()
    env = dict(os.environ, BATON_NO_AUTOSTART="1", XDG_CONFIG_HOME=f"{home}/config")
    socket = f"{home}/baton.sock"
    daemon = subprocess.Popen([binary, "serve", "--data-dir", f"{home}/data", "--socket", socket],
                              env=env, stderr=subprocess.DEVNULL)
    health = ["curl", "-sf", "--unix-socket", socket, "http://localhost/v1/health"]
    while subprocess.run(health, stdout=subprocess.DEVNULL).returncode:
        time.sleep(0.02)
    time.sleep(1.2)
    return daemon, home

def series():
    samples = []
    for _ in range(runs):
        daemon, home = start()
        samples.append(status(daemon.pid))
        threads = sorted(open(f"/proc/{daemon.pid}/task/{task}/comm").read().strip()
                         for task in os.listdir(f"/proc/{daemon.pid}/task"))
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(home)
    rss, anon, file = (statistics.median(sample[i] for sample in samples) for i in range(3))
    return f"{rss:.0f} kB ({rss * 1.024 / 1000:.2f} MB): {anon:.0f} kB anonymous, {file:.0f} kB file-backed", threads

print(f"Idle RSS, median of {runs} starts:")
line, _ = series()
print(f"- binary as it is in the page cache: {line}")
descriptor = os.open(binary, os.O_RDONLY)
os.fsync(descriptor)
os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(descriptor)
line, threads = series()
print(f"- binary read back from disk: {line}")
print(f"Threads ({len(threads)}): {', '.join(threads)}")
PY
