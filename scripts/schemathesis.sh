#!/usr/bin/env bash
# schemathesis, from PyPI, against a live daemon with all of its checks: the
# OpenAPI document must say exactly what the server accepts, and the server
# must never answer 5xx. It installs schemathesis into a virtualenv of its
# own (under target/, reused), starts `baton serve` on a temporary home
# (debug build unless BATON_BIN names one), and serves its Unix socket on
# 127.0.0.1 through scripts/lib/tcp_to_unix.py, since schemathesis speaks TCP.
# Long-poll waits within their bounds are cut short (scripts/lib/schemathesis_hooks.py).
# Usage: scripts/schemathesis.sh [MAX_SECONDS] (default 240); exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
max_seconds="${1:-240}"
venv="$PWD/target/schemathesis-venv"
# A venv that no longer runs (its python moved or was removed) is made anew.
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
if [ -z "${BATON_BIN:-}" ]; then
    cargo build --quiet
    BATON_BIN="$PWD/target/debug/baton"
fi

home="$(mktemp -d)"
daemon="" proxy=""
cleanup() {
    [ -n "$proxy" ] && kill "$proxy" 2>/dev/null
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null
        wait "$daemon" 2>/dev/null
    fi
    rm -rf "$home"
}
trap cleanup EXIT
export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1
export XDG_CONFIG_HOME="$home/config"
# Agents the run spawns run `true` and end at once: a role for role spawns.
mkdir -p "$XDG_CONFIG_HOME/baton"
printf '[engine.agents.roles.tester]\ncommand = ["true"]\n' >"$XDG_CONFIG_HOME/baton/config.toml"
"$BATON_BIN" serve 2>"$home/serve.log" &
daemon=$!
until "$BATON_BIN" status >/dev/null 2>&1; do sleep 0.05; done
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 scripts/lib/tcp_to_unix.py "$port" "$BATON_SOCKET" &
proxy=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.05; done

# Run from the temporary home: schemathesis keeps a cache in its working directory.
scripts="$PWD/scripts"
(cd "$home" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$scripts/lib" \
    "$venv/bin/schemathesis" run "http://127.0.0.1:$port/v1/openapi.json" \
    --checks all --max-time "$max_seconds" --workers 2 --seed 1 \
    --request-timeout 30 --no-color --report-dir "$home/report" \
    --generation-database none)
