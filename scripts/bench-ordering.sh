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
bash scripts/install-tansu.sh >&2
tansu="${ICLEAR_TANSU:-/opt/tansu/bin/tansu}"
bin="$(bash scripts/built-bin.sh --release)"
work="$(mktemp -d)"
broker=""
cleanup() {
  if [ -n "$broker" ]; then kill "$broker" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="tcp://127.0.0.1:$port"
(cd "$work" && exec "$tansu" broker --listener-url "$url" --advertised-listener-url "$url" \
  --storage-engine sqlite://tansu.db >"$work/broker.log" 2>&1) &
broker=$!
for _ in $(seq 1 600); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
"$bin" bench ledger --txs "$txs" --concurrency "$concurrency" \
  --ordering kafka --brokers "127.0.0.1:$port"
