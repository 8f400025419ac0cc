# Sourced by the benchmark scripts: `tansu_start DIR` installs tansu if missing
# (scripts/install-tansu.sh), starts a broker on a free loopback port with its SQLite storage
# in DIR, waits until it listens, and sets `tansu_pid` (to kill afterwards) and
# `tansu_brokers` (HOST:PORT).
tansu_start() {
  local dir="$1" port url
  bash scripts/install-tansu.sh >&2
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  url="tcp://127.0.0.1:$port"
  (cd "$dir" && exec "${ICLEAR_TANSU:-/opt/tansu/bin/tansu}" broker --listener-url "$url" \
    --advertised-listener-url "$url" --storage-engine sqlite://tansu.db >"$dir/broker.log" 2>&1) &
  tansu_pid=$!
  tansu_brokers="127.0.0.1:$port"
  for _ in $(seq 1 600); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "the tansu broker never listened on $tansu_brokers (see $dir/broker.log)" >&2
  return 1
}
