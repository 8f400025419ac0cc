#!/usr/bin/env bash
# Reconciles the small sample data set (fixtures/small): alpha's and beta's October 2026
# voice traffic against beta's ratesheet and their deal. Writes out/reconcile/ and prints
# the statement and summary.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.94 or later (https://rustup.rs) and run this again" >&2
  exit 1
fi
cargo build --locked --release --quiet
out=out/reconcile
./target/release/iclear reconcile \
  --ratesheet fixtures/small/ratesheet.csv --service voice --currency EUR \
  --payer alpha --payee beta \
  --payer-cdrs fixtures/small/alpha.csv --payee-cdrs fixtures/small/beta.csv \
  --from 2026-10-01 --to 2026-11-01 --deal fixtures/small/deal.toml \
  --out-dir "$out"
echo
echo "== $out/statement.csv"
cat "$out/statement.csv"
echo
echo "== $out/summary.json"
cat "$out/summary.json"
echo
echo "Also written: $out/discrepancies.csv and $out/rejects.csv"
