#!/usr/bin/env bash
# Volunteers with their own files: two peers on loopback, one whose file holds
# labels 0..3 and one whose file holds only 0 and 1. Without --classes the
# second builds a model of 2 outputs and the first refuses the link, loudly
# (before, it was worse: a file of {2, 3} trained them as outputs 0 and 1 and
# the link averaged models that disagreed on every output). With the same
# --classes on both, the models agree and the link is ready. Every wait is
# bounded. Usage: swarm_labels.sh STARLING_BINARY
set -u
starling=${1:?usage: swarm_labels.sh STARLING_BINARY}
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
source "$(dirname "$0")/lib/peers.sh"

source "$(dirname "$0")/lib/labelled_csv.sh"
labelled_csv "$work/all.csv" 21 0 1 2 3
labelled_csv "$work/low.csv" 22 0 1
peer_flags=(--model mlp:8 --batch 16 --eval-every 100 --checkpoint-every 0 --max-upload 0)
ready_links() {
  "$starling" status "127.0.0.1:${ports[$1]}" --json --timeout 3 2>/dev/null |
    jq -e '[.training.neighbours[]? | select(.ready)] | length >= 1' > /dev/null
}
stop_peers() {
  local i
  for i in "${!pids[@]}"; do kill -9 "${pids[$i]}" 2>/dev/null; wait "${pids[$i]}" 2>/dev/null; pids[$i]=""; done
}

# Without --classes: 4 outputs against 2, refused as a different model.
start_peer 0 -- --data "$work/all.csv"
start_peer 1 0 -- --data "$work/low.csv"
refused() { grep -q "refusing a link with .*: the neighbour trains mlp:8 over 4 inputs and 2 classes" "$work/p0.log"; }
wait_until 30 refused || fail "peers with 4 and 2 classes did not refuse their link within 30 s"
ready_links 0 && fail "a link between models of 4 and 2 classes is ready"
grep -q "and its --classes" "$work/p1.log" || fail "the peer that cannot download the model does not mention --classes"
stop_peers
echo "without --classes: the link between 4 and 2 classes is refused"

# With --classes 4 on both: one model, a ready link, and the low peer trains
# outputs 0 and 1 of the swarm's four.
start_peer 2 -- --data "$work/all.csv" --classes 4
start_peer 3 2 -- --data "$work/low.csv" --classes 4
wait_until 30 ready_links 2 || fail "peers with --classes 4 have no ready link within 30 s"
wait_until 30 ready_links 3 || fail "the low-label peer has no ready link within 30 s"
grep -q "refus" "$work/p2.log" "$work/p3.log" && fail "a link was refused with --classes 4 on both"
grep -q "classes have an example" "$work/p3.log" && fail "the low-label peer warned with --classes given"
echo "with --classes 4: the link is ready"
exit 0
