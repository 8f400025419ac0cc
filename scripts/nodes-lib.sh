# Separate organisations' nodes for the bench scripts (sourced, not run): `bench-nodes.sh`,
# `bench-nodes-postgres.sh` and `bench-nodes-cpu.sh`. The sourcing script sets `bin` (the
# iclear binary) and `work` (where networks go, removed with every node stopped when the
# script exits); `genesis_args` holds extra `channel genesis` arguments and
# `peer_state` the carriers' `node start --state` (default sqlite).

pids=()
pid_orgs=()  # the organisation of each of $pids
genesis_args=()
peer_state=sqlite

# Stops the running network's nodes, so that the next phase has the machine to itself.
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  pid_orgs=()
}

cleanup_nodes() {
  stop_nodes
  rm -rf "$work"
}
trap cleanup_nodes EXIT

wait_for() { # wait_for COMMAND...: until it succeeds (60 s)
  for _ in $(seq 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "never ready: $*" >&2; return 1
}

# A fresh network of separate organisations in $work/$1: the ordering organisation and the
# carriers named after it, founded with the `channel genesis` arguments in $genesis_args,
# each carrier's world state where $peer_state says.
network_of() {
  local net="$work/$1" base_port=$(( 20000 + RANDOM % 20000 ))
  shift
  local orgs=(ordering "$@")
  for i in "${!orgs[@]}"; do
    local org="${orgs[$i]}" flag=()
    [ "$org" = ordering ] && flag=(--orderer)
    "$bin" --dir "$net/$org" org init --org "$org" --address "127.0.0.1:$((base_port + i))" "${flag[@]}" >/dev/null
  done
  "$bin" channel genesis $(for o in "${orgs[@]}"; do echo --org "$net/$o/org.json"; done) --out "$net/genesis.json" "${genesis_args[@]}" >/dev/null
  for org in "${orgs[@]}"; do
    local state=(--state "$peer_state")
    [ "$org" = ordering ] && state=()
    "$bin" --dir "$net/$org" node start --genesis "$net/genesis.json" "${state[@]}" >"$net/$org.log" 2>&1 &
    pids+=($!)
    pid_orgs+=("$org")
    [ "$org" = ordering ] && sleep 1
  done
  for org in "$@"; do wait_for "$bin" --dir "$net/$org" deal list; done
}

# The clearing network: an orderer, alpha, beta, gamma.
nodes_network() { network_of "$1" alpha beta gamma; }

# The end-to-end records/s of a `bench clearing` output.
rate() { sed -n 's/^end to end (submissions and statement): .* = \([0-9]*\) records\/s$/\1/p' "$1"; }

# The CPU seconds each running node has used so far, by its organisation:
# "ordering 1.51 alpha 6.90 …".
nodes_cpu() {
  local tck i
  tck=$(getconf CLK_TCK)
  for i in "${!pids[@]}"; do
    awk -v org="${pid_orgs[$i]}" -v tck="$tck" '{ printf "%s %.2f ", org, ($14 + $15) / tck }' "/proc/${pids[$i]}/stat"
  done
  echo
}
