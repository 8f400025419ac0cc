#!/usr/bin/env bash
# The main job: a settlement month on a fresh embedded network of three carriers, with a
# report of what happened and where the data is (iclear demo). Builds what it needs.
# Works from any working directory and with CARGO_TARGET_DIR set: the network goes in
# ./iclear-demo of the caller's working directory (or --dir DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.94 or later (https://rustup.rs) and run this again" >&2
  exit 1
fi
# Debian packages the build needs: openssl's headers for the ledger's cryptography, and
# protoc for the gRPC services of node/ (its build script runs it).
missing=()
for pkg in pkg-config libssl-dev protobuf-compiler; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
dir=iclear-demo
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
exec cargo run --locked --release --quiet --manifest-path "$root/Cargo.toml" --bin iclear -- \
  demo --dir "$dir" "${args[@]+"${args[@]}"}"
