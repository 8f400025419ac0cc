#!/usr/bin/env bash
# Builds the `iclear` binary and prints its path as cargo reports it (so it is right
# whatever CARGO_TARGET_DIR, .cargo/config.toml or --target say); cargo's own output goes
# to stderr.
#   scripts/built-bin.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --bin iclear "$@" --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
found = None
for line in sys.stdin:  # read to the end, so that cargo never writes to a closed pipe
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "iclear":
        found = m["executable"]
if found is None:
    sys.exit("cargo built no iclear binary")
print(found)
'
