#!/usr/bin/env bash
# RSS over a whole `bench clearing` run, by phase (BENCHMARKS.md, issue 13's memory goal).
#
#   scripts/rss-trace.sh BIN RECORDS [LOGDIR]
#
# Runs `BIN bench clearing --records RECORDS` in a scratch directory (removed afterwards),
# stamps each line the bench prints with the seconds since the start (LOGDIR/run.log), and
# samples the process's VmRSS every 0.5 s (LOGDIR/rss.log: seconds, KB). Prints the bench's
# phase lines and the largest sample of each phase: the offline engine (which runs first and
# holds every record), the submissions, and the statement.
set -euo pipefail

bin=${1:?usage: rss-trace.sh BIN RECORDS [LOGDIR]}
records=${2:?usage: rss-trace.sh BIN RECORDS [LOGDIR]}
logs=${3:-$(mktemp -d)}
mkdir -p "$logs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
start=$(now)
since() { awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

"$bin" bench clearing --records "$records" --dir "$work" > "$work/out" 2>&1 &
pid=$!
: > "$logs/rss.log"
seen=0
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(since) $rss" >> "$logs/rss.log"
    # Stamp the lines printed since the last sample.
    lines=$(wc -l < "$work/out")
    if [ "$lines" -gt "$seen" ]; then
        tail -n +"$((seen + 1))" "$work/out" | head -n "$((lines - seen))" |
            sed "s/^/$(since) /" >> "$logs/run.log"
        seen=$lines
    fi
    sleep 0.5
done
status=0
wait "$pid" || status=$?
tail -n +"$((seen + 1))" "$work/out" | sed "s/^/$(since) /" >> "$logs/run.log"

# Phase ends, by the bench's own lines.
at() { awk -v p="$1" 'index($0, p) { print $1; exit }' "$logs/run.log"; }
offline=$(at "offline engine):")
submitted=$(at "submit beta's file")
peak() { awk -v a="${1:-0}" -v b="${2:-1e12}" '$1 > a && $1 <= b && $2 > m { m = $2; t = $1 } END { if (m) printf "%s KB at %s s", m, t; else printf "no sample" }' "$logs/rss.log"; }
grep -v ' voice ' "$logs/run.log" | cut -c1-160
echo "largest RSS sample: offline engine $(peak 0 "$offline"); submissions $(peak "$offline" "$submitted"); statement $(peak "$submitted")"
echo "logs: $logs"
exit "$status"
