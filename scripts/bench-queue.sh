#!/usr/bin/env bash
# Whole-process benchmark of durable enqueues through the daemon (issue 5):
#  (a) `baton observe` wall time per call, beside curl on the same route;
#  (b) HTTP enqueue throughput and latency with 1, 8 and 64 concurrent clients
#      over the Unix socket (benches/queue_load.rs, the CLI's own client).
# Usage: scripts/bench-queue.sh [RUNS] [ENQUEUES]
#   RUNS: `baton observe` calls to time (default 300)
#   ENQUEUES: enqueues per load case, split among its clients (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
enqueues="${2:-10000}"
# Two builds, so the daemon is the plain release binary: the example pulls in
# the dev-dependencies, and with them the fault-injection feature.
cargo build --release --quiet -p baton-benches --bin queue_load
load="$PWD/target/release/queue_load"
source scripts/lib/daemon.sh
trap stop_daemon EXIT
start_daemon
session="$("$bin" session open --name bench-queue)"

echo "## baton observe, whole process"
echo
python3 - "$runs" "$bin" "$BATON_SOCKET" "$session" <<'PY'
import json, sys
sys.path.insert(0, "scripts/lib")
from wall_time import print_table, time_cases
runs, baton, socket, session = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
old = "    let limit = query.limit.unwrap_or(100).min(10_000);"
def payload(n):
    # The shape of benches/support/tool_use.rs (whose lines are real source text), 594 bytes.
    path = "/home/dev/work/baton/src/daemon/routes/queue_0.rs"
    new = f"    let limit = query.limit.unwrap_or({n}).min(MAX_LIST_LIMIT);"
    return json.dumps({
        "tool_name": "Edit",
        "tool_input": {"file_path": path, "old_string": old, "new_string": new, "replace_all": False},
        "tool_response": {"filePath": path, "success": True, "userModified": False, "structuredPatch": [{
            "oldStart": 74, "oldLines": 1, "newStart": 74, "newLines": 1, "lines": [f"-{old}", f"+{new}"]}]},
    }, separators=(",", ":"))
url = f"http://localhost/v1/sessions/{session}/observations"
cases = {
    "baton observe": lambda n: [baton, "observe", "--session", session, "--kind", "tool_use",
                                "--key", f"toolu_cli_{n}", "--data", payload(n)],
    "curl POST /v1/sessions/{id}/observations": lambda n: [
        "curl", "-sf", "--unix-socket", socket, "-H", "content-type: application/json",
        "-d", json.dumps({"kind": "tool_use", "key": f"toolu_curl_{n}", "payload": json.loads(payload(n))}), url],
}
print(f"Payload: {len(payload(0))} bytes of JSON.\n")
results = time_cases({name: (lambda n, argv=argv: (argv(n), None)) for name, argv in cases.items()}, runs)
print_table(results, runs)
ours, theirs = results["baton observe"], results["curl POST /v1/sessions/{id}/observations"]
print(f"\nbaton observe: {theirs[0] / ours[0]:.2f}x the speed of curl on the same route (median).")
PY

echo
echo "## HTTP enqueues over the Unix socket ($enqueues per case, a fresh session each)"
echo
"$load" --socket "$BATON_SOCKET" --clients 1,8,64 --enqueues "$enqueues" --daemon-pid "$daemon"
echo
rss="$(awk '/^VmRSS/ {print $2}' "/proc/$daemon/status")"
echo "Daemon RSS after the run: $rss kB."
