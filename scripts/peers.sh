#!/usr/bin/env bash
# Installs the peers baton's benchmarks compare against, into target/peers/:
# pm2 (npm) and supervisord (PyPI, in a virtualenv). Idempotent. Prints the
# directory holding their commands (pm2, supervisord, supervisorctl).
# Usage: PEERS_BIN=$(scripts/peers.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
peers="$PWD/target/peers"
mkdir -p "$peers/bin"
if [ ! -x "$peers/npm/node_modules/.bin/pm2" ]; then
  npm install --silent --no-audit --no-fund --prefix "$peers/npm" pm2@5 >&2
fi
if [ ! -x "$peers/venv/bin/supervisord" ]; then
  python3 -m venv "$peers/venv" >&2
  "$peers/venv/bin/pip" install --quiet supervisor >&2
fi
ln -sf "$peers/npm/node_modules/.bin/pm2" "$peers/bin/pm2"
ln -sf "$peers/venv/bin/supervisord" "$peers/bin/supervisord"
ln -sf "$peers/venv/bin/supervisorctl" "$peers/bin/supervisorctl"
echo "$peers/bin"
