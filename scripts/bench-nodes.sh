#!/usr/bin/env bash
# The settlement month on separate organisations' nodes beside the embedded network, in the
# same run (BENCHMARKS.md, issue 9): generated data of RECORDS usage events (default
# 100000), beta publishes the ratesheet, alpha and beta submit their files, alpha issues the
# statement — once through `iclear up` (one process, every key) and once through four
# `iclear node start` processes (an orderer and three carriers on loopback, mutual TLS).
# Prints the seconds of each step and the nodes / embedded ratio.
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

"$bin" fixtures generate --records "$records" --out "$work/data" >/dev/null
period=(--payer alpha --payee beta --service voice --from 2026-10-01 --to 2026-11-01)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# month DIR_ALPHA DIR_BETA AS_ALPHA AS_BETA: the month's four steps; prints their seconds.
month() {
  local a=("--dir" "$1" $3) b=("--dir" "$2" $4)
  local t0 t1 t2 t3 t4
  t0=$(now)
  "$bin" "${b[@]}" ratesheet publish --file "$work/data/ratesheet.csv" --service voice --currency EUR >/dev/null
  t1=$(now)
  "$bin" "${a[@]}" cdr submit --file "$work/data/payer.csv" --rejects "$work/a.rejects" >/dev/null
  t2=$(now)
  "$bin" "${b[@]}" cdr submit --file "$work/data/payee.csv" --rejects "$work/b.rejects" >/dev/null
  t3=$(now)
  "$bin" "${a[@]}" statement issue "${period[@]}" >/dev/null
  t4=$(now)
  echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2") $(secs "$t2" "$t3") $(secs "$t3" "$t4") $(secs "$t0" "$t4")"
}

wait_for() { # wait_for COMMAND...: until it succeeds (60 s)
  for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "never ready: $*" >&2; return 1
}

# The embedded network, served by `up`.
"$bin" --dir "$work/net" network init --carriers alpha,beta,gamma >/dev/null
"$bin" --dir "$work/net" up >"$work/up.log" 2>&1 &
pids+=($!)
# The socket, not a command: a command run before `up` holds the network opens it itself.
wait_for test -S "$work/net/up/control.sock"
embedded=$(month "$work/net" "$work/net" "--as alpha" "--as beta")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

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
nodes=$(month "$work/alpha" "$work/beta" "" "")

rows=$(( $(wc -l <"$work/data/payer.csv") + $(wc -l <"$work/data/payee.csv") - 2 ))
echo "records: $records usage events, $rows CDR rows; machine: $(nproc) cores, $(uname -m)"
echo "step (seconds)          publish  alpha-submit  beta-submit  statement  total"
read -r e1 e2 e3 e4 et <<<"$embedded"
read -r n1 n2 n3 n4 nt <<<"$nodes"
printf 'embedded (iclear up)    %7.2f  %12.2f  %11.2f  %9.2f  %5.2f\n' "$e1" "$e2" "$e3" "$e4" "$et"
printf 'separate nodes (mTLS)   %7.2f  %12.2f  %11.2f  %9.2f  %5.2f\n' "$n1" "$n2" "$n3" "$n4" "$nt"
awk -v r="$rows" -v e="$(awk -v a="$e2" -v b="$e3" 'BEGIN{print a+b}')" \
  -v n="$(awk -v a="$n2" -v b="$n3" 'BEGIN{print a+b}')" \
  'BEGIN { printf "CDR rows/s: embedded %.0f, nodes %.0f; nodes / embedded throughput: %.2f\n", r/e, r/n, e/n }'
