#!/usr/bin/env bash
# End-to-end: `starling export --onnx` on checkpoints trained on Fashion-MNIST.
# onnx_check.py checks each file with onnx.checker and runs its graph with a
# small numpy evaluator on the first test images; the logits must match what
# `starling eval --dump-logits` computes. Then every bad input fails cleanly
# and leaves no output file. Skips (exit 77) without python3-onnx/numpy or
# the Fashion-MNIST package.
set -euo pipefail
starling=$1
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3  # Debian's interpreter: the one that imports python3-onnx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! "$python" -c 'import onnx, numpy' 2>/dev/null; then
  echo "SKIP: $python cannot import onnx and numpy (apt-get install python3-onnx python3-numpy)"
  exit 77
fi
fmnist=/usr/share/datasets/fashion-mnist
if [[ ! -f $fmnist/t10k-images-idx3-ubyte.gz ]]; then
  echo "SKIP: $fmnist is missing (apt-get install dataset-fashion-mnist)"
  exit 77
fi

samples=256
for spec in linear mlp:32,16; do
  name=${spec//[:,]/_}
  # A small shard and one epoch: a real trained model in a few seconds.
  "$starling" train --data fashion-mnist --model "$spec" --shard 0/20 --epochs 1 --batch 32 --lr 0.05 \
    --checkpoint "$work/$name.ckpt" -q > /dev/null
  "$starling" eval "$work/$name.ckpt" --data fashion-mnist --limit $samples --dump-logits "$work/$name.json" > /dev/null
  "$starling" export "$work/$name.ckpt" --onnx "$work/$name.onnx" > "$work/export.out"
  grep -q "$name.onnx" "$work/export.out" || fail "export did not report its file: $(cat "$work/export.out")"
  "$starling" export "$work/$name.ckpt" --onnx "$work/$name.raw.onnx" --raw-pixels > /dev/null
  "$python" "$here/onnx_check.py" "$work/$name.onnx" "$work/$name.json" "$fmnist" loader_features "$spec"
  "$python" "$here/onnx_check.py" "$work/$name.raw.onnx" "$work/$name.json" "$fmnist" raw_pixels "$spec"
done

# Bad input: clear message, non-zero exit, no crash, no output file.
expect_error() {
  local pattern=$1 output=$2; shift 2
  set +e
  "$@" > "$work/err.out" 2>&1
  local code=$?
  set -e
  [[ $code -ne 0 && $code -lt 128 ]] || fail "expected a clean failure (got exit $code) from: $*"
  grep -qi -- "$pattern" "$work/err.out" || fail "expected '$pattern' from: $* ; got: $(cat "$work/err.out")"
  [[ ! -e $output ]] || fail "a failed export left $output behind"
}
ckpt=$work/mlp_32_16.ckpt
expect_error "cannot open checkpoint" "$work/a.onnx" "$starling" export "$work/missing.ckpt" --onnx "$work/a.onnx"
printf 'garbage' > "$work/bad.ckpt"
expect_error "corrupt" "$work/b.onnx" "$starling" export "$work/bad.ckpt" --onnx "$work/b.onnx"
head -c 2000 "$ckpt" > "$work/cut.ckpt"
expect_error "corrupt" "$work/c.onnx" "$starling" export "$work/cut.ckpt" --onnx "$work/c.onnx"
expect_error "cannot create" "$work/no-folder/d.onnx" "$starling" export "$ckpt" --onnx "$work/no-folder/d.onnx"
expect_error "cannot create" "$work/no-folder/g.json" \
  "$starling" eval "$ckpt" --data fashion-mnist --limit 4 --dump-logits "$work/no-folder/g.json"
# Valid checkpoints (checksums recomputed) naming a model kind or a spec this starling does not know.
"$python" "$here/onnx_check.py" --rewrite "$ckpt" "$work/mystery.ckpt" metadata.model=mystery
expect_error "unknown model kind 'mystery'" "$work/e.onnx" "$starling" export "$work/mystery.ckpt" --onnx "$work/e.onnx"
"$python" "$here/onnx_check.py" --rewrite "$ckpt" "$work/cnn.ckpt" model=cnn:3
expect_error "unknown model spec 'cnn:3'" "$work/f.onnx" "$starling" export "$work/cnn.ckpt" --onnx "$work/f.onnx"
# A failed export over an existing file keeps the old file intact.
cp "$work/linear.onnx" "$work/keep.onnx"
expect_error "corrupt" "$work/none" "$starling" export "$work/bad.ckpt" --onnx "$work/keep.onnx"
cmp -s "$work/keep.onnx" "$work/linear.onnx" || fail "a failed export changed the existing output file"
leftovers=$(find "$work" -name '*.tmp.*' | wc -l)
[[ $leftovers -eq 0 ]] || fail "temporary files left behind: $(find "$work" -name '*.tmp.*')"
echo "cli onnx_export: all checks passed"
