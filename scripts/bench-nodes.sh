#!/usr/bin/env bash
# `iclear bench clearing` on separate organisations' nodes beside the embedded network, in
# the same run (BENCHMARKS.md, issue 9): the same generated month of RECORDS usage events
# (default 100000) — beta's ratesheet and the deal, both carriers' files submitted, the
# statement issued — first in one process (`bench clearing`, every key), then through four
# `iclear node start` processes (an orderer and three carriers on loopback, gRPC with mutual
# TLS; `bench clearing --nodes`). Prints both outputs and the nodes / in-process ratio.
#
#   scripts/bench-nodes.sh [RECORDS]
#
# Builds the release binary and uses it wherever cargo puts it (scripts/built-bin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-100000}"
bin="$(bash scripts/built-bin.sh --release)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # wait_for COMMAND...: until it succeeds (60 s)
  for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "never ready: $*" >&2; return 1
}

echo "== in process (embedded network)"
"$bin" bench clearing --records "$records" --dir "$work/embedded" | tee "$work/embedded.out"

# Separate organisations.
base_port=$(( 20000 + RANDOM % 20000 ))
orgs=(ordering alpha beta gamma)
for i in "${!orgs[@]}"; do
  org="${orgs[$i]}"
  flag=(); [ "$org" = ordering ] && flag=(--orderer)
  "$bin" --dir "$work/$org" org init --org "$org" --address "127.0.0.1:$((base_port + i))" "${flag[@]}" >/dev/null
done
"$bin" channel genesis $(for o in "${orgs[@]}"; do echo --org "$work/$o/org.json"; done) --out "$work/genesis.json" >/dev/null
for org in "${orgs[@]}"; do
  "$bin" --dir "$work/$org" node start --genesis "$work/genesis.json" >"$work/$org.log" 2>&1 &
  pids+=($!)
  [ "$org" = ordering ] && sleep 1
done
for org in alpha beta gamma; do wait_for "$bin" --dir "$work/$org" deal list; done
echo "== separate nodes (4 processes, mutual TLS)"
"$bin" bench clearing --records "$records" --dir "$work/nodes" --nodes "$work/alpha,$work/beta" | tee "$work/nodes.out"

rate() { sed -n 's/^end to end (submissions and statement): .* = \([0-9]*\) records\/s$/\1/p' "$1"; }
e=$(rate "$work/embedded.out"); n=$(rate "$work/nodes.out")
echo "machine: $(nproc) cores, $(uname -m)"
awk -v e="$e" -v n="$n" 'BEGIN { printf "end to end: in process %d, nodes %d records/s; nodes / in process: %.2f\n", e, n, n/e }'
