#!/usr/bin/env bash
# Prints the workspace's target directory as cargo resolves it (CARGO_TARGET_DIR, relative
# or absolute, .cargo/config.toml, or ./target), for scripts that run a built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --locked --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
