#!/usr/bin/env bash
# A node clearing one large CDR file (BENCHMARKS.md, issue 13 deliverable 4): beta's file of
# `fixtures generate --records EVENTS` (60000000 makes its 5,127,240,002-byte, 59,219,715-row
# payee.csv) submitted through `iclear up` — the orderer, both peers and both read models
# in one process — with `cdr submit`. Prints the file, the seconds, the peak RSS (VmHWM) of
# `up` when the submission returns, its RSS every 30 s (to WORK/rss.log), how far each read
# model got, and the disk each part took.
#
#   scripts/bench-node-file.sh [EVENTS] [ORDERER_DIR]
#
# The network needs about 12 bytes of disk per byte of file, about a fifth of it the
# orderer's blocks: ORDERER_DIR (e.g. a directory on tmpfs) takes those elsewhere. The run
# stops the node when less than 2.5 GB is left where the network or ORDERER_DIR is.
# Builds and uses the release binary wherever cargo puts it (or ICLEAR_BIN); works in
# ICLEAR_BENCH_DIR (default /tmp/nodebench), which it empties first.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${ICLEAR_BIN:-$(bash scripts/built-bin.sh --release)}
W=${ICLEAR_BENCH_DIR:-/tmp/nodebench}
N=${1:-60000000}
ORD=${2:-}
rm -rf "$W"; mkdir -p "$W"
UP=""
MON=""
cleanup() {
  [ -n "$MON" ] && kill "$MON" 2>/dev/null || true
  [ -n "$UP" ] && kill "$UP" 2>/dev/null || true
}
trap cleanup EXIT

"$B" fixtures generate --records "$N" --seed 5 --out "$W/data" >/dev/null
rm -f "$W/data/payer.csv"  # only beta's file is cleared
F="$W/data/payee.csv"
echo "file bytes $(stat -c %s "$F") rows $(($(wc -l < "$F") - 1))"

D="$W/net"
"$B" network init --dir "$D" --carriers alpha,beta >/dev/null
if [ -n "$ORD" ]; then
  rm -rf "$ORD"; mkdir -p "$ORD"
  ln -s "$(realpath "$ORD")" "$D/orderer"
fi
"$B" --dir "$D" --as beta ratesheet publish --file "$W/data/ratesheet.csv" --service voice --currency EUR >/dev/null
"$B" --dir "$D" up > "$W/up.log" 2>&1 &
UP=$!
for _ in $(seq 1 300); do [ -S "$D/up/control.sock" ] && break; sleep 0.2; done
[ -S "$D/up/control.sock" ] || { echo "up did not start: $(cat "$W/up.log")" >&2; exit 1; }

free_mb() { df -BM --output=avail "$1" | tail -1 | tr -dc 0-9; }
(
  while kill -0 "$UP" 2>/dev/null; do
    echo "$(date -u +%T) rss_kb $(awk '/VmRSS/ {print $2}' "/proc/$UP/status") hwm_kb $(awk '/VmHWM/ {print $2}' "/proc/$UP/status")"
    for where in "$D" ${ORD:+"$ORD"}; do
      if [ "$(free_mb "$where")" -lt 2500 ]; then
        echo "less than 2.5 GB left beside $where: stopping the node" >&2
        kill "$UP"
      fi
    done
    sleep 30
  done
) > "$W/rss.log" &
MON=$!

S=$(date +%s.%N)
"$B" --dir "$D" --as beta cdr submit --file "$F" --rejects "$W/rejects.csv"
E=$(date +%s.%N)
echo "seconds $(python3 -c "print(round($E - $S, 1))") peak_rss_kb $(awk '/VmHWM/ {print $2}' "/proc/$UP/status")"
kill "$UP"; wait "$UP" 2>/dev/null || true; UP=""
# How far each read model and each peer got (savepoints), read straight from their files.
for o in alpha beta; do
  python3 - "$D" "$o" <<'PY'
import sqlite3, sys
d, o = sys.argv[1], sys.argv[2]
def one(path, sql):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(sql).fetchone()[0]
rm = one(f"{d}/readmodel/{o}.sqlite", "SELECT block FROM rm_savepoint WHERE channel = 'alpha.beta'")
peer = one(f"{d}/peers/{o}/alpha.beta/state.sqlite", "SELECT block_num FROM savepoint")
print(f"read model {o} at block {rm}, its peer at block {peer}")
PY
done
du -sm "$D/peers" "$D/readmodel" "$D/orderer/"
