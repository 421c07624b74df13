#!/usr/bin/env bash
# Whole-process benchmark of a handoff's round trip through the CLI (issue 6):
# `baton handoff create`, then `ack`, `start` and `complete` as the agent, four
# processes against a running daemon, to an agent by id and to its role; beside
# curl taking the same four steps on the same routes, interleaved in the same run.
# Each step is durable (flushed) before the daemon answers it.
# Usage: scripts/bench-handoff-cli.sh [RUNS]   (round trips per case, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"
source scripts/lib/daemon.sh
agent=""
stop_all() {
  # The agent first: a daemon that shuts down leaves its agents to be adopted.
  if [ -n "$agent" ]; then "$bin" stop "$agent" >/dev/null 2>&1 || true; fi
  stop_daemon
}
trap stop_all EXIT
start_daemon
session="$("$bin" session open --name bench-handoff)"
agent="$("$bin" spawn --session "$session" --role worker --on-shutdown stop -- sleep 3600)"
pid="$("$bin" ps --session "$session" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["agent"]["pid"])')"

python3 - "$runs" "$bin" "$BATON_SOCKET" "$session" "$agent" <<'PY'
import json, subprocess, sys, time
sys.path.insert(0, "scripts/lib")
from wall_time import median_p99
runs, baton, socket, session, agent = int(sys.argv[1]), *sys.argv[2:]
url = "http://localhost/v1/handoffs"
curl = ["curl", "-sf", "--unix-socket", socket, "-H", "content-type: application/json"]

def timed(argv):
    """Runs argv; returns its wall time (ms) and its stdout."""
    start = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.PIPE, check=True).stdout
    return (time.perf_counter() - start) * 1000, out

def baton_round_trip(n, target):
    took, out = timed([baton, "handoff", "create", "--session", session, *target, "--task", f"bench {n}"])
    handoff, steps = out.decode().strip(), [took]
    for verb in ["ack", "start", "complete"]:
        steps.append(timed([baton, "handoff", verb, handoff, "--as", agent])[0])
    return steps

def curl_round_trip(n):
    create = {"session": session, "to": {"kind": "agent", "value": agent}, "task": f"bench curl {n}"}
    took, out = timed([*curl, "-d", json.dumps(create), url])
    handoff, steps = json.loads(out)["id"], [took]
    for action in ["acknowledge", "start", "complete"]:
        steps.append(timed([*curl, "-d", json.dumps({"by": agent}), f"{url}/{handoff}/{action}"])[0])
    return steps

cases = {
    "baton handoff, to the agent by id": lambda n: baton_round_trip(n, ["--to", agent]),
    "baton handoff, to role worker (one agent)": lambda n: baton_round_trip(n, ["--role", "worker"]),
    "curl, to the agent by id": curl_round_trip,
}
# For scale: one process that makes one request and writes nothing. (Not
# `baton status`: it reads every handoff in the store, so it slows as the run goes.)
reads = []
steps = {name: [] for name in cases}
# Interleaved, so a busy neighbour weighs on every case alike.
for n in range(runs):
    for name, case in cases.items():
        steps[name].append(case(n))
    reads.append(timed([baton, "session", "show", session])[0])

print(f"| round trip ({runs} each; four processes) | median | p99 | create median | ack median | start median | complete median |")
print("|---|---:|---:|---:|---:|---:|---:|")
medians = {}
for name, trips in steps.items():
    median, p99 = median_p99([sum(trip) for trip in trips])
    medians[name] = median
    per_step = " | ".join(f"{median_p99([trip[i] for trip in trips])[0]:.2f} ms" for i in range(4))
    print(f"| {name} | {median:.2f} ms | {p99:.2f} ms | {per_step} |")
ours, theirs = medians["baton handoff, to the agent by id"], medians["curl, to the agent by id"]
print(f"\nbaton handoff round trip: {theirs / ours:.2f}x the speed of curl on the same routes (median).")
median, p99 = median_p99(reads)
print(f"For scale, `baton session show` in the same run (one process, one read): median {median:.2f} ms, "
      f"p99 {p99:.2f} ms.")
PY

"$bin" stop "$agent" >/dev/null
agent=""
if kill -0 "$pid" 2>/dev/null; then echo "the agent's process $pid is still running" >&2; exit 1; fi
echo
echo "The agent (pid $pid) was stopped; its process is gone."
