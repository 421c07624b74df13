# Sourced by the bench scripts, from the repository root: builds the release
# binary and starts `baton serve` on a temporary home, waiting until it answers.
# Sets `bin`, `home` and `daemon`, and exports the BATON_* variables that point
# the CLI at it. Call `stop_daemon` from the script's EXIT trap.

bin="" home="" daemon=""

start_daemon() {
  cargo build --release --quiet
  bin="$PWD/target/release/baton"
  home="$(mktemp -d)"
  export BATON_DATA_DIR="$home/data" BATON_SOCKET="$home/baton.sock" BATON_NO_AUTOSTART=1
  export XDG_CONFIG_HOME="$home/config"
  "$bin" serve 2>"$home/serve.log" &
  daemon=$!
  until "$bin" status >/dev/null 2>&1; do sleep 0.02; done
}

stop_daemon() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; fi
  if [ -n "$home" ]; then rm -rf "$home"; fi
}
