#!/usr/bin/env bash
# Runs the engine and queue benches of this checkout and of REV alternately,
# ROUNDS times, in one run, so both sides share the disk's mood.
# Usage: scripts/bench-against.sh REV [ROUNDS] (default 2); BATON_BENCH_PRODUCERS
# defaults to 1,64. LTO is off on both sides, to build in minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
rev="$1" rounds="${2:-2}"
export BATON_BENCH_PRODUCERS="${BATON_BENCH_PRODUCERS:-1,64}"
export CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
other="$(mktemp -d)"
trap 'git worktree remove --force "$other" >/dev/null 2>&1 || rm -rf "$other"' EXIT
git worktree add --detach "$other" "$rev" >/dev/null
# The benches are a workspace member of their own since the issue that
# moved them; a checkout from before has them in the root package.
package() { [ -f "$1/benches/Cargo.toml" ] && echo "-p baton-benches" || true; }
for dir in "$PWD" "$other"; do
  # shellcheck disable=SC2046 # no package option, or one of two words
  (cd "$dir" && cargo bench --quiet $(package "$dir") --bench queue --bench engine --no-run)
done
bench_bin() { ls -t "$1"/target/release/deps/"$2"-* | grep -v '\.d$' | head -1; }
for round in $(seq "$rounds"); do
  for dir in "$other" "$PWD"; do
    side=$([ "$dir" = "$PWD" ] && echo "this checkout" || echo "$rev")
    for bench in queue engine; do
      echo "=== round $round, $side, $bench, load $(cut -d' ' -f1 /proc/loadavg)"
      (cd "$dir" && "$(bench_bin "$dir" "$bench")" --bench)
    done
  done
done
