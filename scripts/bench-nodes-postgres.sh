#!/usr/bin/env bash
# `iclear bench clearing` through separate organisations' nodes whose world states are in
# PostgreSQL, beside the same nodes on SQLite, in the same run (BENCHMARKS.md, issue 13):
# each round clears a fresh month of RECORDS usage events (default 1000000) through four
# `iclear node start` processes (an orderer and three carriers on loopback, gRPC with
# mutual TLS; `bench clearing --nodes`), first with SQLite world states, then with each
# carrier's world state in a fresh database of one PostgreSQL server on the same machine
# (started by scripts/with-postgres.sh, stopped and removed at the end). Prints each run,
# the PostgreSQL database's size after it, and the PostgreSQL / SQLite ratio of every round.
#
#   scripts/bench-nodes-postgres.sh [RECORDS] [ROUNDS]
#
# Builds the release binary and uses it wherever cargo puts it (or ICLEAR_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ICLEAR_TEST_PG_URL:-}" ]; then
  exec bash scripts/with-postgres.sh bash "$0" "$@"
fi
records="${1:-1000000}"
rounds="${2:-1}"
bin="${ICLEAR_BIN:-$(bash scripts/built-bin.sh --release)}"
work="$(mktemp -d)"
# shellcheck source=scripts/nodes-lib.sh
. scripts/nodes-lib.sh

# One clearing through a fresh network named $1 whose carriers keep their state in $2.
clear_on() {
  peer_state="$2"
  nodes_network "$1"
  "$bin" bench clearing --records "$records" --dir "$work/$1-bench" \
    --nodes "$work/$1/alpha,$work/$1/beta" > "$work/$1.out"
  stop_nodes
  grep -E '^(submit|issue|end to end|clearing /)' "$work/$1.out"
  rm -rf "$work/$1" "$work/$1-bench"
}

echo "machine: $(nproc) cores, $(uname -m); $records usage events a round"
for r in $(seq "$rounds"); do
  echo "== round $r: SQLite world states"
  clear_on "sqlite$r" sqlite
  echo "== round $r: PostgreSQL world states"
  psql -q "$ICLEAR_TEST_PG_URL" -c "CREATE DATABASE pg$r"
  clear_on "pg$r" "${ICLEAR_TEST_PG_URL%/*}/pg$r"
  echo "the carriers' PostgreSQL database: $(psql -At "$ICLEAR_TEST_PG_URL" -c "SELECT pg_database_size('pg$r')") bytes"
  psql -q "$ICLEAR_TEST_PG_URL" -c "DROP DATABASE pg$r"
  awk -v s="$(rate "$work/sqlite$r.out")" -v p="$(rate "$work/pg$r.out")" -v r="$r" \
    'BEGIN { printf "round %d end to end: SQLite %d, PostgreSQL %d records/s; PostgreSQL / SQLite: %.2f\n", r, s, p, p/s }'
done
