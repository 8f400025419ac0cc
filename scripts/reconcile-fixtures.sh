#!/usr/bin/env bash
# Reconciles the small sample data set (fixtures/small): alpha's and beta's October 2026
# voice traffic against beta's ratesheet and their deal. Writes OUT_DIR (default
# ./out/reconcile of the caller's working directory) and prints the statement and summary.
# Works from any working directory and with CARGO_TARGET_DIR set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-out/reconcile}

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.94 or later (https://rustup.rs) and run this again" >&2
  exit 1
fi
small=$root/fixtures/small
cargo run --locked --release --quiet --manifest-path "$root/Cargo.toml" --bin iclear -- reconcile \
  --ratesheet "$small/ratesheet.csv" --service voice --currency EUR \
  --payer alpha --payee beta \
  --payer-cdrs "$small/alpha.csv" --payee-cdrs "$small/beta.csv" \
  --from 2026-10-01 --to 2026-11-01 --deal "$small/deal.toml" \
  --out-dir "$out"
echo
echo "== $out/statement.csv"
cat "$out/statement.csv"
echo
echo "== $out/summary.json"
cat "$out/summary.json"
echo
echo "Also written: $out/discrepancies.csv and $out/rejects.csv"
