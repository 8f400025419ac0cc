#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 10) from its checked-in seeds, as
# scripts/test.sh does after the main tests. Needs nightly and cargo-fuzz (fuzz/README.md).
# Fails on any finding, on a target that runs nothing, and when no target is found.
# A smoke run builds without optimisation (--dev: a cold build in under 3 minutes instead
# of about 10, overflow checks and debug assertions on); long runs use release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== cargo fmt --check (fuzz/, outside the workspace)"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
echo "== cargo fuzz build (nightly, no sanitizer, unoptimised)"
cargo +nightly fuzz build -s none --dev
mapfile -t targets < <(cargo +nightly fuzz list)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets found in fuzz/" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  if [ ! -d "fuzz/corpus/$t" ]; then
    echo "fuzz target $t has no seeds in fuzz/corpus/$t" >&2
    exit 1
  fi
  mkdir -p "$work/$t"
  log="$work/$t.log"
  # New inputs go to the scratch corpus (first directory), never to the checked-in seeds.
  if ! cargo +nightly fuzz run -s none --dev "$t" "$work/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    echo "== fuzz $t: FAILED" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  if [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
    echo "== fuzz $t: ran no input" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  echo "== fuzz $t: $runs inputs in ${secs}s, no finding"
done
