#!/usr/bin/env bash
# A swarm across hosts: four network namespaces on one bridge, each its own
# 10.x address; the fourth host's firewall (nftables) refuses every inbound
# connection and datagram, and its peer runs --outbound-only. The swarm must
# form across the namespaces, train Fashion-MNIST, survive the SIGKILL of
# one host's peer, and the outbound-only peer must learn with the rest
# (accuracy above the bar, training links up). Root only (ip netns, nft);
# skipped with a message otherwise. Every wait is bounded; namespaces and
# processes are removed on every exit path (trap).
# Usage: swarm_netns.sh STARLING_BINARY
set -u
starling=${1:?usage: swarm_netns.sh STARLING_BINARY}
starling=$(readlink -f "$starling")
skip() { echo "SKIP: $*"; exit 0; }
source "$(dirname "$0")/../cli/lib/helpers.sh"  # wait_until, at_least
poll_seconds=0.5
((EUID == 0)) || skip "needs root (ip netns, nft)"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
command -v nft >/dev/null || skip "nftables (nft) not installed"
command -v jq >/dev/null || skip "jq not installed"
[[ -d /usr/share/datasets/fashion-mnist || -d /usr/share/dataset-fashion-mnist ]] ||
  skip "dataset-fashion-mnist not installed"

# Unique names: two runs (or two users) never share a namespace.
tag="stl$$"
sw="$tag-sw"
hosts=("$tag-h0" "$tag-h1" "$tag-h2" "$tag-h3")
addr=(10.77.0.10 10.77.0.11 10.77.0.12 10.77.0.13)
port=7946
work=$(mktemp -d)
declare -a pids=()
created=()

cleanup() {
  local pid ns
  for pid in "${pids[@]}"; do [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  for ns in "${created[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ ${keep_logs:-0} == 1 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  keep_logs=1
  local i
  for i in "${!hosts[@]}"; do
    echo "--- peer $i (${addr[$i]}, pid ${pids[$i]:-gone}) log tail:" >&2
    tail -n 20 "$work/p$i.log" >&2 2>/dev/null
  done
  exit 1
}

# The switch: a namespace holding one bridge; each host a namespace with one
# end of a veth pair, the other end on the bridge.
ip netns add "$sw" 2>"$work/netns.err" || skip "ip netns add fails here: $(cat "$work/netns.err")"
created+=("$sw")
ip -n "$sw" link add br0 type bridge || fail "cannot make a bridge"
ip -n "$sw" link set br0 up
ip -n "$sw" link set lo up
for i in "${!hosts[@]}"; do
  ns=${hosts[$i]}
  ip netns add "$ns" || fail "cannot add namespace $ns"
  created+=("$ns")
  ip -n "$sw" link add "p$i" type veth peer name eth0 || fail "cannot make a veth pair"
  ip -n "$sw" link set eth0 netns "$ns" || fail "cannot move a veth end"
  ip -n "$sw" link set "p$i" master br0
  ip -n "$sw" link set "p$i" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${addr[$i]}/24" dev eth0
  ip -n "$ns" link set eth0 up
done

# Host 3 refuses everything inbound: only its own loopback and the replies of
# TCP connections it opened get in. UDP replies too are dropped (no
# connection-tracking pass for datagrams), the strictest NAT there is.
ip netns exec "${hosts[3]}" nft -f - <<'EOF' || fail "cannot load the firewall"
table inet starling_fw {
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    meta l4proto tcp ct state established,related accept
  }
}
EOF

in_ns() { local i=$1; shift; ip netns exec "${hosts[$i]}" "$@"; }
# The bridge has STP off, so its ports forward at once; the swarm's formation
# below is the reachability check (bounded).

"$starling" keygen --swarm "$work/swarm.key" >/dev/null 2>&1 || fail "keygen"
key=(--swarm-key "$work/swarm.key")
train=(--compress topk:0.01 --eval-every 200 --batch 64 --lr 0.02 --checkpoint-every 0)

# start_peer INDEX FLAGS...: the peer of host INDEX, listening on its address.
start_peer() {
  local i=$1; shift
  : >"$work/p$i.log"
  # Not through in_ns: `ip netns exec` execs the peer, so $! is the peer
  # itself (a function would put a subshell between, and kill -9 would miss it).
  ip netns exec "${hosts[$i]}" "$starling" peer --listen "${addr[$i]}:$port" --data-dir "$work/d$i" "${key[@]}" "${train[@]}" "$@" \
    2>>"$work/p$i.log" &
  pids[$i]=$!
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    grep -q "listening on" "$work/p$i.log" && return 0
    kill -0 "${pids[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "peer $i did not start"
}
# status INDEX: `starling status --json` of peer INDEX, asked from its own
# host (host 3 answers nobody else).
status() { in_ns "$1" "$starling" status "${addr[$1]}:$port" "${key[@]}" --json --timeout 3 2>/dev/null; }
state_of() {  # state_of OBSERVER SUBJECT
  status "$1" | jq -r --arg a "${addr[$2]}:$port" '[.members[] | select(.address == $a) | .state][0] // "unknown"'
}
accuracy() { status "$1" | jq -r '.training.test_accuracy // 0'; }
everyone_sees() {  # everyone_sees STATE SUBJECT OBSERVERS...
  local state=$1 subject=$2 o; shift 2
  for o in "$@"; do [[ $(state_of "$o" "$subject") == "$state" ]] || return 1; done
}
formed() {
  local s o
  for s in 0 1 2 3; do
    for o in 0 1 2 3; do
      ((s == o)) && continue
      # Outbound-only peers need not list each other; there is one here, so
      # every pair must see each other.
      [[ $(state_of "$o" "$s") == alive ]] || return 1
    done
  done
}
all_above() {
  local bar=$1 i; shift
  for i in "$@"; do at_least "$(accuracy "$i")" "$bar" || return 1; done
}

start=$SECONDS
start_peer 0
start_peer 1 --seed "${addr[0]}:$port"
start_peer 2 --seed "${addr[0]}:$port"
start_peer 3 --seed "${addr[0]}:$port" --seed "${addr[1]}:$port" --outbound-only
wait_until 60 formed || fail "the swarm did not form across the namespaces within 60 s"
echo "swarm of 4 formed across namespaces in $((SECONDS - start)) s"

# The firewall really refuses: nobody reaches host 3's peer from outside.
if in_ns 0 "$starling" status "${addr[3]}:$port" "${key[@]}" --timeout 2 >/dev/null 2>&1; then
  fail "host 3's firewall let a status query in"
fi
status 3 | jq -e '.outbound_only == true and .membership_links >= 1 and .membership_links <= 3' >/dev/null ||
  fail "peer 3 is not outbound-only with 1-3 membership links: $(status 3 | jq -c '{outbound_only, membership_links}')"
status 0 | jq -e --arg a "${addr[3]}:$port" '[.members[] | select(.address == $a)][0].outbound_only == true' \
  >/dev/null || fail "peer 0 does not list peer 3 as outbound-only"

wait_until 120 all_above 0.80 0 1 2 3 || fail "not every peer reached 80% test accuracy within 120 s: \
$(accuracy 0) $(accuracy 1) $(accuracy 2) $(accuracy 3)"
echo "all four >= 80% after $((SECONDS - start)) s: $(accuracy 0) $(accuracy 1) $(accuracy 2) $(accuracy 3)"
links_ready() { status 3 | jq -e '[.training.neighbours[] | select(.ready)] | length >= 1' >/dev/null; }
links_ready || fail "peer 3 has no ready training link: $(status 3 | jq -c .training.neighbours)"

# One host's peer crashes (SIGKILL): dead for the others, the outbound-only
# peer included; the rest, and peer 3 for everyone, stay alive.
kill -9 "${pids[1]}"; wait "${pids[1]}" 2>/dev/null; pids[1]=""
wait_until 40 everyone_sees dead 1 0 2 3 || fail "peer 1's crash was not noticed everywhere within 40 s"
echo "crash of peer 1 seen everywhere after $((SECONDS - start)) s"
everyone_sees alive 3 0 2 || fail "peer 3 not alive for peers 0 and 2 after the crash"
everyone_sees alive 0 2 3 || fail "peer 0 not alive for peers 2 and 3 after the crash"

# The outbound-only peer keeps learning with the rest: it keeps stepping,
# keeps a training link, and its accuracy stays at the swarm's level.
before=$(status 3 | jq -r '.training.step')
sleep 8
after=$(status 3 | jq -r '.training.step')
((after > before)) || fail "peer 3 stopped training after the crash ($before -> $after)"
wait_until 20 links_ready || fail "peer 3 lost every training link after the crash"
wait_until 60 all_above 0.82 0 2 3 || fail "accuracy below 82% after the crash: $(accuracy 0) $(accuracy 2) $(accuracy 3)"
everyone_sees alive 3 0 2 || fail "peer 3 not alive for peers 0 and 2 at the end"
s3=$(status 3)
echo "after the crash: accuracy $(accuracy 0) $(accuracy 2) $(jq -r .training.test_accuracy <<<"$s3");" \
  "peer 3 step $(jq -r .training.step <<<"$s3"), incarnation $(jq -r .incarnation <<<"$s3")," \
  "ready links $(jq '[.training.neighbours[] | select(.ready)] | length' <<<"$s3")," \
  "consensus distance $(jq -r '.training.consensus_distance // "n/a"' <<<"$s3")"
echo "PASS in $((SECONDS - start)) s"
