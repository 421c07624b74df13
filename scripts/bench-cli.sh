#!/usr/bin/env bash
# Whole-process benchmark of the CLI round trip, beside curl on the same route
# and the status commands of pm2 and supervisord (installed by
# scripts/peers.sh) in the same run, and the daemon's idle RSS.
# Usage: scripts/bench-cli.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-300}"
cargo build --release --quiet
bin="$PWD/target/release/baton"
peers="$(scripts/peers.sh)"
home="$(mktemp -d)"
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
trap '"$peers/pm2" kill >/dev/null 2>&1 || true; "$peers/supervisorctl" -c "$home/supervisord.conf" shutdown >/dev/null 2>&1 || true; kill "$daemon" 2>/dev/null || true; rm -rf "$home"' EXIT
"$peers/pm2" ping >/dev/null
"$peers/supervisord" -c "$home/supervisord.conf"
until "$peers/supervisorctl" -c "$home/supervisord.conf" status >/dev/null 2>&1 || [ $? -eq 3 ]; do sleep 0.05; done
export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1 XDG_CONFIG_HOME="$home/config"
"$bin" serve 2>"$home/serve.log" &
daemon=$!
until "$bin" status >/dev/null 2>&1; do sleep 0.02; done

python3 - "$runs" "$bin" "$BATON_SOCKET" "$daemon" "$peers" "$home/supervisord.conf" <<'PY'
import statistics, subprocess, sys, time
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
results = {}
for name, argv in cases.items():
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        # supervisorctl status exits 3 when it supervises nothing, which is not a failure here.
        subprocess.run(argv, stdout=subprocess.DEVNULL, check="supervisorctl" not in argv[0])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    results[name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
print(f"| command ({runs} runs each) | median | p99 |")
print("|---|---:|---:|")
for name, (median, p99) in results.items():
    print(f"| {name} | {median:.2f} ms | {p99:.2f} ms |")
for ours, theirs in [("baton status", "curl GET /v1/status"), ("baton status", "pm2 jlist"),
                     ("baton status", "supervisorctl status"), ("baton session open", "curl POST /v1/sessions")]:
    print(f"\n{ours}: {results[theirs][0] / results[ours][0]:.2f}x the speed of {theirs} (median).")
print(f"\nDaemon RSS: {idle_rss} kB idle after start-up, {rss_kb()} kB after the run "
      f"({2 * runs} sessions open, each with its actor).")
PY
