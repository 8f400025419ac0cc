#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on loopback and
# ICLEAR_TEST_PG_URL pointing at its `test` database; the cluster is stopped and
# removed when the command ends, however it ends.
#   bash scripts/with-postgres.sh env ICLEAR_REQUIRE_PG=1 cargo test -p ledger
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/initdb" ] || { echo "PostgreSQL 15 is not installed: apt-get install -y postgresql" >&2; exit 1; }

port=${ICLEAR_PG_PORT:-54329}
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

dir=$(mktemp -d /tmp/iclear-pg.XXXXXX)
chown postgres: "$dir"
stop() {
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off" start >/dev/null
runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test

export ICLEAR_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/test"
echo "with-postgres: $ICLEAR_TEST_PG_URL" >&2
set +e
"$@"
status=$?
exit $status
