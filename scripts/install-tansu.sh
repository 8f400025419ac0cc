#!/usr/bin/env bash
# Installs the Kafka-protocol broker the Kafka tests run against (ENVIRONMENT.md): tansu
# 0.6.0 with SQLite storage (it keeps topics, records and group offsets across a restart),
# into /opt/tansu (or $ICLEAR_TANSU_ROOT). Skipped when that version is already there.
# About 15 minutes on two cores the first time.
set -euo pipefail
root="${ICLEAR_TANSU_ROOT:-/opt/tansu}"
if [ -x "$root/bin/tansu" ] && "$root/bin/tansu" --version 2>/dev/null | grep -q '0\.6\.0'; then
  exit 0
fi
echo "== installing tansu 0.6.0 (the Kafka-protocol broker of the Kafka tests; ~15 min once)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
CARGO_TARGET_DIR="$scratch/target" cargo install tansu --version 0.6.0 --locked \
  --features dynostore,libsql --root "$root"
