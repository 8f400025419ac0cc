#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, and every test of the workspace,
# the PostgreSQL ones against a real server started (and stopped) by scripts/with-postgres.sh,
# then every fuzz target briefly (fuzz/smoke.sh; set ICLEAR_FUZZ_SECONDS, default 10).
# Installs what it needs on a fresh machine of this project's kind (Debian, Rust via rustup).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust 1.94 or later (https://rustup.rs) and run this again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

# Debian packages: openssl headers for the ledger's cryptography, PostgreSQL for the
# world-state suite run against a real server, protoc for the gRPC services of node/,
# Chromium and its driver for the portal's browser test (Debian's: a test tool's own
# browser download cannot work offline).
missing=()
for pkg in pkg-config libssl-dev postgresql protobuf-compiler chromium chromium-driver; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export CARGO_TERM_COLOR=never
# One build from scratch: incremental caches would add gigabytes to the target directory
# and make nothing faster on a fresh clone.
export CARGO_INCREMENTAL=0
# The Kafka-protocol broker of tests/kafka.rs (skipped when already installed).
bash scripts/install-tansu.sh
export ICLEAR_TANSU="${ICLEAR_TANSU_ROOT:-/opt/tansu}/bin/tansu" ICLEAR_REQUIRE_KAFKA=1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
# The portal's browser test runs for real here; only ICLEAR_SKIP_BROWSER=1 skips it.
export ICLEAR_SKIP_BROWSER=0
echo "== cargo test (with a throwaway PostgreSQL; the portal's browser test in headless Chromium)"
ICLEAR_REQUIRE_PG=1 bash scripts/with-postgres.sh cargo test --locked --workspace
echo "== the portal's API against its own OpenAPI document (schemathesis; no 5xx)"
bash scripts/api-check.sh

# Fuzz targets (fuzz/): nightly and cargo-fuzz, installed when missing.
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "== installing the nightly toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "== fuzz smoke run (every target ${ICLEAR_FUZZ_SECONDS:-10} s)"
bash fuzz/smoke.sh "${ICLEAR_FUZZ_SECONDS:-10}"
