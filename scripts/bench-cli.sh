#!/usr/bin/env bash
# Whole-process benchmark of the CLI round trip, beside curl on the same route
# in the same run, and the daemon's idle RSS. Usage: scripts/bench-cli.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
cargo build --release --quiet
bin="$PWD/target/release/baton"
home="$(mktemp -d)"
trap 'kill "$daemon" 2>/dev/null || true; rm -rf "$home"' EXIT
export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1 XDG_CONFIG_HOME="$home/config"
"$bin" serve 2>"$home/serve.log" &
daemon=$!
until "$bin" status >/dev/null 2>&1; do sleep 0.02; done

python3 - "$runs" "$bin" "$BATON_SOCKET" "$daemon" <<'PY'
import statistics, subprocess, sys, time
runs, baton, socket, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cases = {
    "baton status": [baton, "status"],
    "curl GET /v1/status": ["curl", "-s", "--unix-socket", socket, "http://localhost/v1/status"],
    "baton session open": [baton, "session", "open", "--name", "bench"],
    "curl POST /v1/sessions": ["curl", "-s", "--unix-socket", socket, "-H", "content-type: application/json",
                               "-d", '{"name":"bench"}', "http://localhost/v1/sessions"],
}
def rss_kb():
    line = next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS"))
    return int(line.split()[1])
idle_rss = rss_kb()
results = {}
for name, argv in cases.items():
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    results[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
print(f"| command ({runs} runs each) | median | p99 |")
print("|---|---:|---:|")
for name, (median, p99) in results.items():
    print(f"| {name} | {median:.2f} ms | {p99:.2f} ms |")
for ours, theirs in [("baton status", "curl GET /v1/status"), ("baton session open", "curl POST /v1/sessions")]:
    print(f"\n{ours}: {results[theirs][0] / results[ours][0]:.2f}x the speed of {theirs} (median).")
print(f"\nDaemon RSS: {idle_rss} kB idle after start-up, {rss_kb()} kB after the run "
      f"({2 * runs} sessions open, each with its actor).")
PY
