#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 15) from the committed seeds (cargo fuzz,
# nightly toolchain). Exits 1 on the first crash, leaving the input under
# fuzz/artifacts/TARGET/ and printing how to replay it.
#
# No sanitizer: what the targets reach (scenario, trace, plan and import parsers, the checker)
# is safe Rust, where a fault is a panic libFuzzer sees anyway; the crate's only unsafe code is
# the libvirt FFI, which no target builds. AddressSanitizer made the build take about 230 s
# on the CI machine instead of about 150 s, and each run slower.
#
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-15}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked --quiet
fi
cargo +nightly fuzz build -O -s none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$t"
  echo "fuzzing $t for ${seconds}s"
  if ! cargo +nightly fuzz run -O -s none "$t" "$work/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log"
    echo "FAILED: fuzz target $t crashed; replay with: cargo +nightly fuzz run -s none $t fuzz/artifacts/$t/<file>"
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$work/$t.log" || true
done
echo "ok: every fuzz target ran clean"
