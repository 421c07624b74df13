#!/usr/bin/env bash
# Regenerates linker/startup.ld (see build.rs): runs the release daemon under
# callgrind and lists every function it ran, in two groups: from start until
# it is idle (it has answered /v1/health, then waited 2 s), then for common
# requests (status, a session open, an observation, a Claude Code hook event).
# Rerun it after a toolchain or dependency upgrade, or a change to what the
# daemon does at start; then rebuild and check the idle RSS
# (docs/benchmarks.md). Needs valgrind, curl and nm.
# Usage: scripts/startup-order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/baton"
home="$(mktemp -d)"
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT
export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1
export XDG_CONFIG_HOME="$home/config"
valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$home/callgrind.out" \
  "$bin" serve 2>"$home/serve.log" &
daemon=$!
# Dumps what ran since the last dump into callgrind.out.N.
dump() {
  sleep 2
  callgrind_control --dump "$daemon" >/dev/null 2>&1
  until [ -s "$home/callgrind.out.$1" ]; do sleep 0.2; done
  sleep 1
}
until curl -sf --unix-socket "$BATON_SOCKET" http://localhost/v1/health >/dev/null; do sleep 0.2; done
cp "/proc/$daemon/maps" "$home/maps"
dump 1
for n in 1 2 3; do
  "$bin" status >/dev/null
  session="$("$bin" session open --name startup-order)"
  "$bin" observe --session "$session" --kind tool_use --key "toolu_$n" --data '{"tool_name": "Read"}' >/dev/null
  printf '{"session_id": "startup-order", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp",
    "hook_event_name": "PostToolUse", "permission_mode": "default", "tool_name": "Read",
    "tool_input": {"file_path": "src/lib.rs"}, "tool_response": {"content": "x"},
    "tool_use_id": "toolu_hook_%s"}' "$n" | "$bin" hook >/dev/null
done
dump 2
kill -TERM "$daemon"
wait "$daemon" || true
daemon=""
python3 scripts/lib/startup_order.py "$bin" "$home/maps" "$home/callgrind.out.1" "$home/callgrind.out.2" >"$home/startup.ld"
mkdir -p linker
mv "$home/startup.ld" linker/startup.ld
echo "linker/startup.ld: $(grep -c '^      \.text' linker/startup.ld) functions"
