#!/usr/bin/env bash
# One `iclear bench clearing` of RECORDS usage events (default 1000000) through four fresh
# `iclear node start` processes on SQLite (an orderer, alpha, beta and gamma on loopback,
# gRPC with mutual TLS; `bench clearing --nodes`), ROUNDS times (default 1), printing each
# round's end-to-end rate and the CPU each process used: the bench's client (its own
# line) and every node (read from /proc before it stops). To compare two builds, alternate
# runs with ICLEAR_BIN set to each (BENCHMARKS.md, session forty-eight).
#
#   scripts/bench-nodes-cpu.sh [RECORDS] [ROUNDS]
#
# Builds the release binary and uses it wherever cargo puts it (or ICLEAR_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-1000000}"
rounds="${2:-1}"
bin="${ICLEAR_BIN:-$(bash scripts/built-bin.sh --release)}"
work="$(mktemp -d)"
# shellcheck source=scripts/nodes-lib.sh
. scripts/nodes-lib.sh

echo "machine: $(nproc) cores, $(uname -m); $records usage events a round"
for r in $(seq "$rounds"); do
  nodes_network "month$r"
  "$bin" bench clearing --records "$records" --dir "$work/bench$r" \
    --nodes "$work/month$r/alpha,$work/month$r/beta" > "$work/round$r.out" 2> "$work/round$r.err" ||
    { cat "$work/round$r.err" >&2; exit 1; }
  cpu=$(nodes_cpu)
  stop_nodes
  client=$(grep -A1 '^end to end' "$work/round$r.out" | sed -n 's/^  CPU of this process: \([0-9.]*\) s.*/\1/p')
  echo "round $r: end to end $(rate "$work/round$r.out") records/s; CPU (s): client $client $cpu"
  rm -rf "$work/month$r" "$work/bench$r"
done
