#!/usr/bin/env bash
# `iclear bench ledger --ordering kafka` (BENCHMARKS.md, issue 12): the same load on solo
# ordering and then on Kafka ordering, in one run, against a tansu broker this script
# starts (installed by scripts/install-tansu.sh if missing) and stops afterwards.
#
#   scripts/bench-ordering.sh [TXS] [CONCURRENCY]
#
# Builds the release binary and uses it wherever cargo puts it (scripts/built-bin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
txs="${1:-10000}"
concurrency="${2:-1000}"
source scripts/tansu.sh
bin="$(bash scripts/built-bin.sh --release)"
work="$(mktemp -d)"
tansu_pid=""
cleanup() {
  if [ -n "$tansu_pid" ]; then kill "$tansu_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

tansu_start "$work"
"$bin" bench ledger --txs "$txs" --concurrency "$concurrency" \
  --ordering kafka --brokers "$tansu_brokers"
