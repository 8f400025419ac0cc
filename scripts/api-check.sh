#!/usr/bin/env bash
# Checks the portal's API against its own OpenAPI document with schemathesis (PyPI): a
# demo network serving the portal on loopback, a bearer token of alpha's analyst, and
# every operation of /api/v1/openapi.json fuzzed; any 5xx fails. Installs schemathesis
# into /opt/schemathesis (a venv) when missing. Usage: scripts/api-check.sh [MAX_EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
st=/opt/schemathesis/bin/schemathesis
if ! [ -x "$st" ]; then
  echo "== installing schemathesis into /opt/schemathesis"
  dpkg -s python3-venv >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv /opt/schemathesis
  /opt/schemathesis/bin/pip install -q schemathesis
fi
bin="$(bash scripts/built-bin.sh)"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" demo --dir "$work/demo" --records 500 --portal "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  grep -q 'the portal: ' "$work/demo.log" && break
  kill -0 "$demo" 2>/dev/null || { cat "$work/demo.log"; exit 1; }
  sleep 0.5
done
grep -q 'the portal: ' "$work/demo.log" || { echo "the demo's portal did not start" >&2; cat "$work/demo.log"; exit 1; }
token=$("$bin" --dir "$work/demo" --as alpha user token --name alpha-analyst)
echo "== schemathesis against http://127.0.0.1:$port/api/v1/openapi.json ($examples examples an operation)"
# schemathesis keeps its cache in its working directory: the scratch one, never the repository.
(cd "$work" && "$st" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --max-examples "$examples" \
  --request-timeout 60 \
  --generation-deterministic)
