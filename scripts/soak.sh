#!/usr/bin/env bash
# Soak: mixed load on the daemon for a while, its RSS read every minute.
# Two clients at about 20 operations/s each over the Unix socket, each
# iteration one session's life as Claude Code's hooks drive it: open a
# session, observe (with idempotency keys), claim and ack, create and list
# handoffs, read status and the event log, close the session. Any error
# answer stops the run. RSS should level off: the figures at 10, 20 and 30
# minutes within 15% of each other (docs/benchmarks.md).
#
# The store's memory follows what it keeps, and every record is bounded by a
# retention (ended sessions with their queues and handoffs, ended agents,
# events). At this load the event log fills its retention last: the engine's
# default of 100,000 events takes about 90 minutes, and RSS grows with it
# until then. So the run keeps 10,000 events, which fill in about 9 minutes,
# and measures the steady state after; `default` runs the engine's default.
# Usage: scripts/soak.sh [MINUTES] [EVENT_RETENTION] (default 30 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
events="${2:-10000}"
source scripts/lib/daemon.sh
config="$(mktemp)"
trap 'stop_daemon; rm -f "$config"' EXIT
if [ "$events" != default ]; then
  printf '[engine]\nevent_retention = %s\n' "$events" >"$config"
  export BATON_CONFIG="$config"
fi
start_daemon
python3 - "$minutes" "$BATON_SOCKET" "$daemon" <<'PY'
import http.client, json, socket, sys, threading, time

minutes, sock_path, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
deadline = time.time() + minutes * 60
RATE = 20.0  # operations a second, per client

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock_path)

def call(method, path, body=None):
    conn = Conn("localhost", timeout=30)
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Content-Type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    if answer.status >= 400:
        raise SystemExit(f"{method} {path}: {answer.status} {data[:200]!r}")
    return json.loads(data) if data and answer.getheader("Content-Type", "").startswith("application/json") else None

errors, ops = [], [0, 0]

def client(n):
    try:
        i = 0
        while time.time() < deadline:
            session = call("POST", "/v1/sessions", {"name": f"soak-{n}-{i}", "external_id": f"soak-{n}-{i}"})["id"]
            for j in range(8):
                payload = {"tool_name": "Edit", "tool_input": {"file_path": f"src/{j}.rs", "old_string": "x" * 200}}
                call("POST", f"/v1/sessions/{session}/observations", {"kind": "tool_use", "key": f"t{n}-{i}-{j}", "payload": payload})
            claimed = call("POST", f"/v1/sessions/{session}/queue/claim", {"consumer": "soak", "max": 8})
            if claimed:
                call("POST", f"/v1/sessions/{session}/queue/ack", {"seqs": [o["seq"] for o in claimed], "consumer": "soak"})
            call("POST", "/v1/handoffs", {"session": session, "to": {"kind": "role", "value": "none"}, "task": f"task {i}"})
            call("GET", f"/v1/handoffs?session={session}")
            call("GET", "/v1/status")
            call("GET", "/v1/events/log?limit=50")
            # As Claude Code's SessionEnd hook does; closing cancels the handoff.
            call("POST", f"/v1/sessions/{session}/close", {})
            ops[n] += 15
            time.sleep(15 / RATE)
            i += 1
    except BaseException as err:  # noqa: BLE001 - reported below
        errors.append(err)

def rss_mb():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(2)]
start = time.time()
for thread in threads:
    thread.start()
samples = []
while time.time() < deadline and not errors:
    time.sleep(min(60, max(0, deadline - time.time())))
    samples.append((round((time.time() - start) / 60), rss_mb(), sum(ops)))
    print(f"minute {samples[-1][0]:>3}: RSS {samples[-1][1]:.1f} MB after {samples[-1][2]} operations", flush=True)
for thread in threads:
    thread.join(timeout=60)
if errors:
    raise SystemExit(f"a client failed: {errors[0]}")
print()
print("| minute | RSS | operations |")
print("|---:|---:|---:|")
for minute, rss, count in samples:
    if minute % 10 == 0 or minute == samples[-1][0]:
        print(f"| {minute} | {rss:.1f} MB | {count} |")
marks = [rss for minute, rss, _ in samples if minute in (10, 20, 30)]
if len(marks) >= 2:
    spread = (max(marks) - min(marks)) / min(marks)
    print(f"\nRSS at 10, 20 and 30 minutes within {spread:.0%} of each other (goal: 15%): {'MET' if spread <= 0.15 else 'NOT MET'}")
PY
