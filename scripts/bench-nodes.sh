#!/usr/bin/env bash
# `iclear bench clearing` on separate organisations' nodes beside the embedded network, in
# the same run (BENCHMARKS.md, issue 9): the same generated month of RECORDS usage events
# (default 100000) — beta's ratesheet and the deal, both carriers' files submitted, the
# statement issued — first in one process (`bench clearing`, every key), then through four
# `iclear node start` processes (an orderer and three carriers on loopback, gRPC with mutual
# TLS; `bench clearing --nodes`). Prints both outputs and the nodes / in-process ratio.
# Then the same for SMALL usage events (default 2000) in transactions of one record each,
# 64 in flight: what a transaction costs, where the records' own work no longer hides it.
# Then `bench ledger` for TXS transactions (default 10000): in process, then from org1's
# client through three node processes (an orderer, org1, org2) of a network founded with
# `channel genesis --bench`, each with its crypto ceiling measured in the run.
#
#   scripts/bench-nodes.sh [RECORDS] [SMALL] [TXS]
#
# Builds the release binary and uses it wherever cargo puts it (scripts/built-bin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-100000}"
small="${2:-2000}"
txs="${3:-10000}"
bin="$(bash scripts/built-bin.sh --release)"
work="$(mktemp -d)"
# shellcheck source=scripts/nodes-lib.sh
. scripts/nodes-lib.sh

ratio() { # ratio WHAT IN_PROCESS_OUT NODES_OUT
  local e n; e=$(rate "$2"); n=$(rate "$3")
  awk -v w="$1" -v e="$e" -v n="$n" 'BEGIN { printf "%s end to end: in process %d, nodes %d records/s; nodes / in process: %.2f\n", w, e, n, n/e }'
}

echo "== in process (embedded network)"
"$bin" bench clearing --records "$records" --dir "$work/embedded" | tee "$work/embedded.out"
nodes_network month
echo "== separate nodes (4 processes, mutual TLS)"
"$bin" bench clearing --records "$records" --dir "$work/nodes" --nodes "$work/month/alpha,$work/month/beta" | tee "$work/nodes.out"

one=(--records "$small" --batch-size 1 --concurrency 64)
echo "== one record per transaction, in process"
"$bin" bench clearing "${one[@]}" --dir "$work/embedded-1" | tee "$work/embedded-1.out"
stop_nodes
nodes_network small
echo "== one record per transaction, separate nodes"
"$bin" bench clearing "${one[@]}" --dir "$work/nodes-1" --nodes "$work/small/alpha,$work/small/beta" | tee "$work/nodes-1.out"

stop_nodes
echo "== bench ledger, in process"
"$bin" bench ledger --txs "$txs" | tee "$work/ledger.out"
genesis_args=(--bench)
network_of ledger org1 org2
echo "== bench ledger, separate nodes (3 processes, mutual TLS)"
"$bin" bench ledger --txs "$txs" --nodes "$work/ledger/org1" | tee "$work/ledger-nodes.out"

tps() { awk -F'|' '/^\| kv-create/ { gsub(/ /, "", $11); print $11 }' "$1"; }
share() { sed -n 's/^throughput \/ crypto ceiling: \(.*\) %$/\1/p' "$1"; }

echo "machine: $(nproc) cores, $(uname -m)"
ratio "batches of 5,000:" "$work/embedded.out" "$work/nodes.out"
ratio "one record per transaction:" "$work/embedded-1.out" "$work/nodes-1.out"
awk -v e="$(tps "$work/ledger.out")" -v n="$(tps "$work/ledger-nodes.out")" \
  -v ec="$(share "$work/ledger.out")" -v nc="$(share "$work/ledger-nodes.out")" \
  'BEGIN { printf "bench ledger: in process %.0f tx/s (%s %% of its ceiling), nodes %.0f tx/s (%s %%); nodes / in process: %.2f\n", e, ec, n, nc, n/e }'
