#!/usr/bin/env bash
# Whole-process wall time of `baton hook` on a PostToolUse event against a
# running daemon (each run a new tool_use_id, so each one queues an
# observation), beside `true` and curl posting the same event, in the same run.
# Usage: scripts/bench-hook.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1000}"
source scripts/lib/daemon.sh
trap stop_daemon EXIT
start_daemon

python3 - "$runs" "$bin" "$BATON_SOCKET" <<'PY'
import json, sys
sys.path.insert(0, "scripts/lib")
from wall_time import print_table, time_cases
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
results = time_cases(cases, runs)
print_table(results, runs)
median, p99 = results["baton hook (PostToolUse)"]
print(f"\nbaton hook: {results['curl POST /v1/hooks/claude-code'][0] / median:.2f}x the speed of curl (median).")
print(f"Goal (median <= 3 ms, p99 <= 10 ms): {'MET' if median <= 3 and p99 <= 10 else 'NOT MET'}.")
PY
count=$("$bin" queue stats --session "$("$bin" session list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"])')
echo "Observations queued by the run: $count (expected $((2 * runs)))."
