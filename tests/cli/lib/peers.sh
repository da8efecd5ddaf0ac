# Shared by the CLI swarm tests (sourced, not a test itself): a work folder
# removed on exit, every started peer killed on exit, `fail` with the peers'
# log tails, and `start_peer` on a free port; with lib/helpers.sh (toy_csv,
# free_port, wait_until, above, at_least).
# Set before sourcing: starling (the binary). Optional, any time before use:
# key (array, e.g. --swarm-key FILE), peer_flags (array, flags for every peer),
# start_timeout (seconds a peer may take to listen; default 5).
source "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
work=$(mktemp -d)
declare -a pids=() ports=() key=() peer_flags=()
cleanup() {
  for pid in "${pids[@]}"; do [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  if [[ ${keep_logs:-0} == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  keep_logs=1
  local i
  for i in "${!ports[@]}"; do
    echo "--- peer $i (port ${ports[$i]}, pid ${pids[$i]:-gone}) log tail:" >&2
    tail -n 15 "$work/p$i.log" >&2 2>/dev/null
    [[ -n ${pids[$i]:-} ]] && "$starling" status "127.0.0.1:${ports[$i]}" "${key[@]}" --timeout 2 >&2 2>&1
  done
  exit 1
}
next_port=$((20000 + ($$ * 131) % 39000))

# start_peer INDEX [SEED_INDEX...] [-- EXTRA_FLAGS...]: starts peer INDEX on a
# fresh port with peer_flags (and EXTRA_FLAGS); a port already in use
# (another test, another user) is skipped.
start_peer() {
  local index=$1; shift
  local seeds=() extra=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
    seeds+=(--seed "127.0.0.1:${ports[$1]}"); shift
  done
  for attempt in 1 2 3 4 5; do
    local port=$next_port
    next_port=$((next_port + 1))
    : >"$work/p$index.log"
    "$starling" peer --listen "127.0.0.1:$port" --data-dir "$work/d$index" "${key[@]}" "${seeds[@]}" \
      "${peer_flags[@]}" "${extra[@]}" 2>>"$work/p$index.log" &
    local pid=$!
    local deadline=$((SECONDS + ${start_timeout:-5}))
    while ((SECONDS < deadline)); do
      if grep -q "listening on" "$work/p$index.log"; then pids[$index]=$pid; ports[$index]=$port; return 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    grep -q "in use" "$work/p$index.log" || fail "peer $index did not start: $(tail -3 "$work/p$index.log")"
  done
  fail "no free port for peer $index"
}
