#!/usr/bin/env bash
# Decentralized training end to end with real processes on loopback: three
# peers learn Fashion-MNIST with topk:0.01 delta gossip; a fourth joins late
# and must start from the swarm's model (downloaded) and catch up; one peer is
# killed (-9) and the others keep improving; a graceful stop writes a
# checkpoint that --resume continues from. Every wait is bounded; every
# started process is killed on exit. Usage: swarm_training.sh STARLING_BINARY
set -u
starling=${1:?usage: swarm_training.sh STARLING_BINARY}
source "$(dirname "$0")/lib/peers.sh"
skip_without_fashion_mnist
peer_flags=(--compress topk:0.01 --eval-every 200 --batch 64 --lr 0.02 --checkpoint-every 0)
start_timeout=20  # loading Fashion-MNIST comes first
training() { "$starling" status "127.0.0.1:${ports[$1]}" --json --timeout 3 2>/dev/null | jq -c '.training'; }
accuracy() { training "$1" | jq -r '.test_accuracy // 0'; }
# wait_until SECONDS COMMAND...: polls every 0.5 s.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.5; done
  return 1
}
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
all_above() {
  local i
  for i in "${@:2}"; do above "$(accuracy "$i")" "$1" || return 1; done
}

start=$SECONDS
start_peer 0
start_peer 1 0
start_peer 2 0
wait_until 60 all_above 0.82 0 1 2 || fail "three peers did not all reach 82% test accuracy within 60 s"
echo "three peers >= 82% test accuracy after $((SECONDS - start)) s"
for i in 0 1 2; do
  t=$(training "$i")
  jq -e '.state == "training" and .link_resets == 0 and .bytes_sent > 0 and ([.neighbours[] | select(.ready)] | length) >= 1' \
    <<<"$t" >/dev/null || fail "peer $i status: $t"
done
grep -q "downloaded the model" "$work/p1.log" || fail "peer 1 did not download the swarm model on join"
# Each peer evaluates its local average (own model and neighbours' copies) on
# the own model's schedule: both accuracies in status.
has_local_average() {
  training "$1" | jq -e '(.local_average_accuracy | type) == "number" and .local_average_neighbours >= 1 and
    .local_average_at_step % 200 == 0 and .evaluated_at_step % 200 == 0 and .export_model == "local-average"' >/dev/null
}
for i in 0 1 2; do
  wait_until 20 has_local_average "$i" || fail "peer $i status has no local average evaluation: $(training "$i")"
done
echo "local average accuracy of peer 0: $(training 0 | jq -r .local_average_accuracy) (own $(accuracy 0))"


# A late joiner starts from the swarm's model: its first evaluation is already
# close to the others (a fresh model scores about 10%).
start_peer 3 1
wait_until 30 grep -q "downloaded the model" "$work/p3.log" || fail "late joiner did not download the model"
wait_until 30 above "$(accuracy 3)" 0.01 || true
wait_until 30 all_above 0.80 3 || fail "late joiner not at 80% within 30 s of joining"
echo "late joiner at $(accuracy 3) (others: $(accuracy 0), $(accuracy 1))"

# Crash one: the rest keep training and improving.
before=$(training 0 | jq -r '.step')
kill -9 "${pids[2]}"; wait "${pids[2]}" 2>/dev/null; pids[2]=""
sleep 6
after=$(training 0 | jq -r '.step')
((after > before)) || fail "peer 0 stopped training after a neighbour crashed ($before -> $after)"
all_above 0.82 0 1 3 || fail "accuracy fell below 82% after the crash"

# Graceful stop writes a checkpoint; --resume continues from its step.
saved_step=$(training 1 | jq -r '.step')
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null; pids[1]=""
[[ -s $work/d1/model.ckpt ]] || fail "no checkpoint after a graceful stop"
"$starling" eval "$work/d1/model.ckpt" --data fashion-mnist --json >"$work/eval.txt" 2>&1 || fail "eval: $(cat "$work/eval.txt")"
above "$(jq -r '.accuracy // .test_accuracy' "$work/eval.txt")" 0.80 || fail "checkpoint evaluates below 80%: $(cat "$work/eval.txt")"
# The default export is the local average, and eval says so.
[[ $(jq -r .holds "$work/eval.txt") == local_average ]] || fail "final checkpoint does not hold the local average: $(cat "$work/eval.txt")"
grep -q "final checkpoint .*local average of our model and" "$work/p1.log" || fail "no local average export logged"

start_peer 1 0 -- --resume
wait_until 20 grep -q "resuming from" "$work/p1.log" || fail "no resume"
# The data loads after the peer listens: its status says "starting" until then.
training_state() { [[ $(training "$1" | jq -r '.state') == "$2" ]]; }
wait_until 20 training_state 1 training || fail "resumed peer not training: $(training 1)"
resumed=$(training 1 | jq -r '.step')
((resumed >= ${saved_step:-0})) || fail "resumed at step $resumed, below the saved $saved_step"
# The old seconds form of --eval-every is refused with a message.
if "$starling" peer --listen 127.0.0.1:1 --eval-every 5s --data-dir "$work/old" >"$work/old.txt" 2>&1; then
  fail "--eval-every 5s was accepted"
fi
grep -q "counts training steps" "$work/old.txt" || fail "--eval-every 5s: no clear message: $(cat "$work/old.txt")"
echo "PASS in $((SECONDS - start)) s"
