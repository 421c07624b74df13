#!/usr/bin/env bash
# Whole-process benchmark of the CLI round trip, beside curl on the same route
# and the status commands of pm2 and supervisord (installed by
# scripts/peers.sh) in the same run, and the daemon's idle RSS.
# Usage: scripts/bench-cli.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
peers="$(scripts/peers.sh)"
source scripts/lib/daemon.sh
stop_all() {
  # Only the peers this script started: PM2_HOME is set once they have a home.
  if [ -n "${PM2_HOME:-}" ]; then
    "$peers/pm2" kill >/dev/null 2>&1 || true
    "$peers/supervisorctl" -c "$home/supervisord.conf" shutdown >/dev/null 2>&1 || true
  fi
  stop_daemon
}
trap stop_all EXIT
start_daemon
export PM2_HOME="$home/pm2"
cat >"$home/supervisord.conf" <<CONF
[unix_http_server]
file=$home/supervisor.sock
[supervisord]
logfile=$home/supervisord.log
pidfile=$home/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$home/supervisor.sock
CONF
"$peers/pm2" ping >/dev/null
"$peers/supervisord" -c "$home/supervisord.conf"
until "$peers/supervisorctl" -c "$home/supervisord.conf" status >/dev/null 2>&1 || [ $? -eq 3 ]; do sleep 0.05; done

python3 - "$runs" "$bin" "$BATON_SOCKET" "$daemon" "$peers" "$home/supervisord.conf" <<'PY'
import sys
sys.path.insert(0, "scripts/lib")
from wall_time import print_table, time_cases
runs, baton, socket, pid, peers, supervisor_conf = int(sys.argv[1]), *sys.argv[2:]
cases = {
    "baton status": [baton, "status"],
    "pm2 jlist": [f"{peers}/pm2", "jlist"],
    "supervisorctl status": [f"{peers}/supervisorctl", "-c", supervisor_conf, "status"],
    "curl GET /v1/status": ["curl", "-s", "--unix-socket", socket, "http://localhost/v1/status"],
    "baton session open": [baton, "session", "open", "--name", "bench"],
    "curl POST /v1/sessions": ["curl", "-s", "--unix-socket", socket, "-H", "content-type: application/json",
                               "-d", '{"name":"bench"}', "http://localhost/v1/sessions"],
}
def rss_kb():
    line = next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS"))
    return int(line.split()[1])
idle_rss = rss_kb()
results = time_cases({name: (lambda n, argv=argv: (argv, None)) for name, argv in cases.items()}, runs,
                     may_fail={"supervisorctl status"})
print_table(results, runs)
for ours, theirs in [("baton status", "curl GET /v1/status"), ("baton status", "pm2 jlist"),
                     ("baton status", "supervisorctl status"), ("baton session open", "curl POST /v1/sessions")]:
    print(f"\n{ours}: {results[theirs][0] / results[ours][0]:.2f}x the speed of {theirs} (median).")
print(f"\nDaemon RSS: {idle_rss} kB idle after start-up, {rss_kb()} kB after the run "
      f"({2 * runs} sessions open, each with its actor).")
PY
