#!/usr/bin/env bash
# The main job: a settlement month on a fresh embedded network of three carriers, with a
# report of what happened and where the data is (iclear demo). Builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.94 or later (https://rustup.rs) and run this again" >&2
  exit 1
fi
missing=()
for pkg in pkg-config libssl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --locked --release --quiet
exec ./target/release/iclear demo --dir iclear-demo "$@"
