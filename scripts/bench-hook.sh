#!/usr/bin/env bash
# Whole-process wall time of `baton hook` on a PostToolUse event against a
# running daemon (each run a new tool_use_id, so each one queues an
# observation), beside `true` and curl posting the same event, in the same run.
# Usage: scripts/bench-hook.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1000}"
cargo build --release --quiet
bin="$PWD/target/release/baton"
home="$(mktemp -d)"
trap 'kill "$daemon" 2>/dev/null || true; rm -rf "$home"' EXIT
export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1 XDG_CONFIG_HOME="$home/config"
"$bin" serve 2>"$home/serve.log" &
daemon=$!
until "$bin" status >/dev/null 2>&1; do sleep 0.02; done

python3 - "$runs" "$bin" "$BATON_SOCKET" <<'PY'
import json, statistics, subprocess, sys, time
runs, baton, socket = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def event(n):
    return json.dumps({
        "session_id": "bench-session", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp",
        "hook_event_name": "PostToolUse", "permission_mode": "default", "tool_name": "Read",
        "tool_input": {"file_path": f"src/file_{n}.rs"}, "tool_response": {"content": "x" * 400},
        "tool_use_id": f"toolu_{n:08d}"}).encode()
cases = {
    "true (process start only)": lambda n: (["true"], b""),
    "baton hook (PostToolUse)": lambda n: ([baton, "hook"], event(n)),
    "curl POST /v1/hooks/claude-code": lambda n: (["curl", "-s", "--unix-socket", socket, "-H",
        "content-type: application/json", "--data-binary", "@-", "http://localhost/v1/hooks/claude-code"],
        event(10_000_000 + n)),
}
results = {}
for name, case in cases.items():
    times = []
    for n in range(runs):
        argv, stdin = case(n)
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    results[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
print(f"| command ({runs} runs each) | median | p99 |")
print("|---|---:|---:|")
for name, (median, p99) in results.items():
    print(f"| {name} | {median:.2f} ms | {p99:.2f} ms |")
median, p99 = results["baton hook (PostToolUse)"]
print(f"\nbaton hook: {results['curl POST /v1/hooks/claude-code'][0] / median:.2f}x the speed of curl (median).")
print(f"Goal (median <= 3 ms, p99 <= 10 ms): {'MET' if median <= 3 and p99 <= 10 else 'NOT MET'}.")
PY
count=$("$bin" queue stats --session "$("$bin" session list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])')
echo "Observations queued by the run: $count (expected $((2 * runs)))."
