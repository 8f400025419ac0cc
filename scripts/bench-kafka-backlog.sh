#!/usr/bin/env bash
# The stream consumer's memory under a backlog (BENCHMARKS.md, issue 11): `iclear bench
# kafka --records RECORDS` puts alpha's generated month on a fresh topic of a tansu broker
# this script starts (and leaves the topic there); then one `iclear ingest kafka` process,
# through `iclear up` on a fresh network, consumes the whole topic as a backlog. Every
# 2 seconds it prints the consumer process's RSS and peak (VmHWM) and the messages the
# ledger counts (`ingest status --json`), and stops the consumer once all are counted.
#
#   scripts/bench-kafka-backlog.sh [RECORDS]
#
# Builds the release binary and uses it wherever cargo puts it (scripts/built-bin.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-1000000}"
source scripts/tansu.sh
bin="$(bash scripts/built-bin.sh --release)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

tansu_start "$work"
pids+=("$tansu_pid")
brokers="$tansu_brokers"

"$bin" bench kafka --brokers "$brokers" --records "$records" --dir "$work/bench" | tee "$work/bench.out"
topic=$(sed -n "s/^produce alpha's file to topic \([^:]*\):.*/\1/p" "$work/bench.out")
total=$(sed -n "s/^produce alpha's file to topic [^:]*: \([0-9]*\) records.*/\1/p" "$work/bench.out")
echo "== backlog: topic $topic, $total messages; one ingest kafka process through up"

"$bin" network init --dir "$work/net" --carriers alpha,beta >/dev/null
"$bin" --dir "$work/net" up >"$work/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  [ -S "$work/net/up/control.sock" ] && "$bin" --dir "$work/net" --as alpha deal list >/dev/null 2>&1 && break
  sleep 0.1
done
start=$(date +%s.%N)
"$bin" --dir "$work/net" --as alpha ingest kafka --brokers "$brokers" --topic "$topic" \
  --group backlog --format native --batch-size 5000 --linger-ms 200 >"$work/consumer.log" 2>&1 &
consumer=$!
pids+=($consumer)
counted() {
  "$bin" --dir "$work/net" --as alpha ingest status --brokers "$brokers" --topic "$topic" --json 2>/dev/null |
    python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(p["accepted"] + sum(p["rejected"].values()) for p in d["partitions"]))' 2>/dev/null || echo "?"
}
while kill -0 "$consumer" 2>/dev/null; do
  n="$(counted)"
  awk -v n="$n" -v t="$total" '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {printf "consumer RSS %d kB, peak %d kB; counted %s of %s\n", r, h, n, t}' "/proc/$consumer/status" 2>/dev/null || true
  if [ "$n" = "$total" ]; then
    peak=$(awk '/VmHWM/ {print $2}' "/proc/$consumer/status")
    kill -INT "$consumer"
    wait "$consumer" || true
    echo "caught up in $(python3 -c "import time; print(round(time.time() - $start, 1))") s; consumer peak RSS ${peak} kB"
    break
  fi
  sleep 2
done
tail -3 "$work/consumer.log"
