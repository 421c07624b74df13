#!/usr/bin/env bash
# Issue 4's benchmark: 100 agents running `sleep 3600` under baton, pm2 and
# supervisord (installed by scripts/peers.sh), in the same run, interleaved
# per round: time to 100 running, respawn after SIGKILL, time to stop all
# 100, daemon RSS with 100 running; no process leaked. See
# scripts/lib/agents_bench.py for what is timed and how.
# Usage: scripts/bench-agents.sh [ROUNDS]   (JSON of every figure: BENCH_JSON=FILE)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-6}"
peers="$(scripts/peers.sh)"
cargo build --release --quiet
exec python3 scripts/lib/agents_bench.py --rounds "$rounds" --baton "$PWD/target/release/baton" \
  --peers "$peers" ${BENCH_JSON:+--json "$BENCH_JSON"}
