#!/usr/bin/env bash
# The portal benchmark: a CDR file uploaded through the portal vs `cdr submit` of the same
# file through `iclear up`, each on a fresh network; elapsed time and the peak RSS (VmHWM)
# of the `up` process. Leaves the portal of the second run up for a dashboard load test
# (its port, token and pid in $W). Usage: scripts/bench-portal.sh [EVENTS]; ICLEAR_BIN=…/release/iclear for the release binary.
set -euo pipefail
B=${ICLEAR_BIN:-${CARGO_TARGET_DIR:-target}/debug/iclear}
W=/tmp/pbench; rm -rf $W; mkdir -p $W
N=${1:-50000}
$B fixtures generate --records $N --out $W/data >/dev/null
ls -l $W/data/payer.csv | awk '{print "file bytes", $5}'
wc -l < $W/data/payer.csv | awk '{print "file lines", $1}'
run() { # $1 = mode portal|cli
  D=$W/net-$1
  $B network init --dir $D --carriers alpha,beta >/dev/null
  $B --dir $D --as beta ratesheet publish --file $W/data/ratesheet.csv --service voice --currency EUR >/dev/null
  echo 'a long benchmark password' | $B --dir $D --as alpha user add --name bench --role settlement >/dev/null
  T=$($B --dir $D --as alpha user token --name bench)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $B --dir $D up --portal 127.0.0.1:$PORT > $W/up-$1.log 2>&1 &
  UP=$!
  for i in $(seq 1 200); do grep -q 'serving the network' $W/up-$1.log && break; sleep 0.2; done
  S=$(date +%s.%N)
  if [ $1 = portal ]; then
    ID=$(curl -s -H "Authorization: Bearer $T" -X POST -T $W/data/payer.csv "http://127.0.0.1:$PORT/api/v1/cdr-files?name=payer.csv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    while :; do
      ST=$(curl -s -H "Authorization: Bearer $T" "http://127.0.0.1:$PORT/api/v1/cdr-files/$ID")
      echo "$ST" | grep -q '"state":"running"' || break
      sleep 0.5
    done
    echo "$ST"
  else
    $B --dir $D --as alpha cdr submit --file $W/data/payer.csv --rejects $W/cli.rejects.csv
  fi
  E=$(date +%s.%N)
  echo "$1 seconds $(python3 -c "print(round($E-$S,2))") peak_rss_kb $(grep VmHWM /proc/$UP/status | awk '{print $2}')"
  if [ $1 = portal ]; then
    # dashboard latency, 50 concurrent signed-in users (one session cookie each is the same cost)
    echo "$T" > $W/token
    echo $PORT > $W/port
    echo $UP > $W/up.pid
  else
    kill $UP; wait $UP 2>/dev/null || true
  fi
}
run cli
run portal
