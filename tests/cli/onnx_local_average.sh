#!/usr/bin/env bash
# End-to-end: a real peer's `local_average` checkpoint exported to ONNX.
# Two `starling peer` processes train Fashion-MNIST on loopback until peer 1
# has a ready link; a graceful stop (SIGTERM) makes peer 1 write its final
# checkpoint DATA_DIR/model.ckpt holding its model averaged with the
# neighbour's copy (--export-model local-average, the default; docs/checkpoints.md).
# `starling export --onnx` writes it as ONNX, and onnx_check.py (the checker
# and numpy evaluator of onnx_export.sh) checks the file, its metadata
# (starling.model = local_average, >= 1 neighbour copy) and its logits against
# `starling eval --dump-logits` on the first test images.
# Skips (exit 77) without jq, python3-onnx/numpy or the Fashion-MNIST package.
set -u
starling=${1:?usage: onnx_local_average.sh STARLING_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3  # Debian's interpreter: the one that imports python3-onnx
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$python" -c 'import onnx, numpy' 2>/dev/null ||
  { echo "SKIP: $python cannot import onnx and numpy (apt-get install python3-onnx python3-numpy)"; exit 77; }
fmnist=/usr/share/datasets/fashion-mnist
[[ -f $fmnist/t10k-images-idx3-ubyte.gz ]] || { echo "SKIP: $fmnist is missing (apt-get install dataset-fashion-mnist)"; exit 77; }
source "$here/lib/peers.sh"

spec=mlp:32
peer_flags=(--model "$spec" --compress int8 --eval-every 200 --batch 32 --lr 0.05 --checkpoint-every 0)
start_timeout=20  # loading Fashion-MNIST comes first
training() { "$starling" status "127.0.0.1:${ports[$1]}" --json --timeout 3 2>/dev/null | jq -c '.training'; }
# A ready link and some steps since: what the local average is made from.
linked() {
  training "$1" | jq -e '.state == "training" and .step >= 300 and ([.neighbours[] | select(.ready)] | length) >= 1' \
    >/dev/null
}
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.5; done
  return 1
}

start=$SECONDS
start_peer 0
start_peer 1 0
wait_until 60 linked 1 || fail "peer 1 has no ready link after 300 steps within 60 s: $(training 1)"
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null; pids[1]=""
ckpt=$work/d1/model.ckpt
[[ -s $ckpt ]] || fail "no checkpoint after a graceful stop"
grep -q "final checkpoint .*local average of our model and" "$work/p1.log" || fail "no local average export logged"

"$starling" eval "$ckpt" --data fashion-mnist --json >"$work/eval.json" 2>&1 || fail "eval: $(cat "$work/eval.json")"
[[ $(jq -r .holds "$work/eval.json") == local_average ]] ||
  fail "the final checkpoint does not hold the local average: $(cat "$work/eval.json")"
"$starling" eval "$ckpt" --data fashion-mnist --limit 256 --dump-logits "$work/dump.json" >/dev/null 2>&1 ||
  fail "eval --dump-logits failed"
"$starling" export "$ckpt" --onnx "$work/average.onnx" >"$work/export.out" 2>&1 ||
  fail "export --onnx: $(cat "$work/export.out")"
"$python" "$here/onnx_check.py" "$work/average.onnx" "$work/dump.json" "$fmnist" loader_features "$spec" local_average ||
  fail "the ONNX file of the local average does not check"
echo "PASS in $((SECONDS - start)) s: $(jq -c '{holds, test_accuracy, step}' "$work/eval.json" 2>/dev/null)"
