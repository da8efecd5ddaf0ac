#!/usr/bin/env bash
# End-to-end: `starling train` and `starling eval` on a small generated data
# set, and a clear message with a non-zero exit for each kind of bad input.
set -euo pipefail
starling=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Two separable classes in 4-D, as CSV with a header (label first).
awk 'BEGIN { srand(7); print "label,a,b,c,d";
  for (i = 0; i < 600; i++) { c = i % 2; printf "%d", c;
    for (j = 0; j < 4; j++) printf ",%.4f", (j == c ? 2 : 0) + rand() - 0.5; print "" } }' > "$work/toy.csv"

# Training reports JSON lines and a summary with the promised fields.
"$starling" train --data "$work/toy.csv" --model mlp:8 --epochs 3 --batch 16 --lr 0.05 \
  --checkpoint "$work/toy.ckpt" --json -q > "$work/out.jsonl"
summary=$(tail -n 1 "$work/out.jsonl")
for field in test_accuracy epochs samples_per_second wall_seconds; do
  grep -q "\"$field\"" <<<"$summary" || fail "summary lacks $field: $summary"
done
accuracy=$(sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/' <<<"$summary")
awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.95) }' || fail "toy accuracy too low: $accuracy"
[[ $(grep -c '"event":"evaluation"' "$work/out.jsonl") -eq 3 ]] || fail "expected one evaluation per epoch"

# A flag given twice is an error, as in every other command: one of the two
# was taken in silence (the last), so `--lr 0.1 ... --lr 0.2` hid a mistake.
for repeated in "--epochs 3 --epochs 1" "--lr 0.1 --lr 0.2" "--checkpoint a.ckpt --checkpoint b.ckpt"; do
  # shellcheck disable=SC2086 # the words of $repeated are separate arguments
  if out=$("$starling" train --data "$work/toy.csv" --model mlp:8 --batch 16 -q $repeated 2>&1); then
    fail "train $repeated: accepted"
  else
    grep -q "At Most 1 required but received 2" <<<"$out" || fail "train $repeated: $out"
  fi
done

# The checkpoint evaluates to the same accuracy.
eval_out=$("$starling" eval "$work/toy.ckpt" --data "$work/toy.csv" --json)
grep -q "\"test_accuracy\":$accuracy" <<<"$eval_out" || fail "eval disagrees: $eval_out vs $accuracy"
# An answer that cannot be written is an error: on a full disk (/dev/full)
# eval --json exited 0 and left an empty file.
full=$(bash -c '"$0" eval "$1" --data "$2" --json >/dev/full' "$starling" "$work/toy.ckpt" "$work/toy.csv" 2>&1) &&
  fail "eval --json onto a full disk exited 0: $full"
grep -q "eval: error: cannot write the output" <<<"$full" || fail "eval --json onto a full disk: $full"

# Resume continues from the saved step instead of starting over.
"$starling" train --data "$work/toy.csv" --model mlp:8 --epochs 4 --batch 16 --lr 0.05 \
  --checkpoint "$work/toy.ckpt" --resume --json -q > "$work/resumed.jsonl" 2> "$work/resumed.err"
grep -q "resumed from" "$work/resumed.err" || fail "resume did not say so"
[[ $(grep -c '"event":"evaluation"' "$work/resumed.jsonl") -eq 1 ]] || fail "resume re-ran finished epochs"

# A finished checkpoint resumed: nothing is trained and the loaded model is
# evaluated (this printed "test accuracy -100.00%", "test_accuracy":-1.0).
"$starling" train --data "$work/toy.csv" --model mlp:8 --epochs 4 --batch 16 --lr 0.05 \
  --checkpoint "$work/toy.ckpt" --resume --json > "$work/finished.jsonl" 2> "$work/finished.err"
grep -q "already holds 4.00 epochs .* nothing to train" "$work/finished.err" || fail "no note: $(cat "$work/finished.err")"
finished=$(sed -E -n 's/.*"event":"summary".*"test_accuracy":([-0-9.e]+).*/\1/p' "$work/finished.jsonl")
awk -v a="$finished" 'BEGIN { exit !(a >= 0.95) }' || fail "finished checkpoint reports accuracy '$finished'"
grep -q -- "-100" "$work/finished.err" && fail "negative accuracy: $(cat "$work/finished.err")"

# --batch above the training set (540: the 90% of the 600 rows kept for training):
# a step takes all of it, said once (the batch
# buffer was sized by --batch: 784 x 2^20 floats for Fashion-MNIST features).
"$starling" train --data "$work/toy.csv" --model mlp:8 --epochs 2 --batch 1048576 --json -q \
  > "$work/big-batch.jsonl" 2> "$work/big-batch.err" || fail "--batch 1048576: $(cat "$work/big-batch.err")"
[[ $(grep -c "note: --batch 1048576 is more than the 540 training samples: each step takes all 540" \
  "$work/big-batch.err") -eq 1 ]] || fail "no single note on the cut batch: $(cat "$work/big-batch.err")"
grep -q '"event":"summary".*"steps":2' "$work/big-batch.jsonl" || fail "want one step per epoch: $(tail -n 1 "$work/big-batch.jsonl")"

# Matrix kernels: the summary names them. Where Debian's OpenBLAS falls back to
# its SSE3 "Prescott" kernels on a CPU it does not know, starling re-executes
# itself with better ones, unless the user chose (OPENBLAS_CORETYPE).
kernels=$(sed -E 's/.*"blas_kernels":"([^"]*)".*/\1/' <<<"$summary")
[[ $kernels != "$summary" ]] || fail "summary lacks blas_kernels: $summary"
if grep -qw avx2 /proc/cpuinfo && [[ -z ${OPENBLAS_CORETYPE:-} && -n $kernels ]]; then
  [[ $kernels != Prescott* ]] || fail "OpenBLAS runs its Prescott kernels on a CPU with AVX2: $kernels"
fi
if [[ -n $kernels ]]; then
  chosen=$(OPENBLAS_CORETYPE=Prescott "$starling" train --data "$work/toy.csv" --model mlp:8 --epochs 1 --batch 16 --json -q | tail -n 1)
  grep -q '"blas_kernels":"Prescott"' <<<"$chosen" || fail "OPENBLAS_CORETYPE=Prescott was not kept: $chosen"
fi

# Bad input: clear message, non-zero exit, no crash (exit codes 1 or 2, not a signal).
expect_error() {
  local pattern=$1; shift
  set +e
  "$@" > "$work/err.out" 2>&1
  local code=$?
  set -e
  [[ $code -ne 0 && $code -lt 128 ]] || fail "expected a clean failure (got exit $code) from: $*"
  grep -qi -- "$pattern" "$work/err.out" || fail "expected '$pattern' from: $* ; got: $(cat "$work/err.out")"
}
expect_error "unknown model spec" "$starling" train --data "$work/toy.csv" --model cnn:3
# A model too large to build: its size named up front, not "std::bad_alloc" after trying ~34 GB.
expect_error "model mlp:65536,65536 on 4 inputs and 2 classes: 4295491586 parameters, ~17.2 GB per copy" \
  "$starling" train --data "$work/toy.csv" --model mlp:65536,65536
grep -q "bad_alloc" "$work/err.out" && fail "a bare bad_alloc: $(cat "$work/err.out")"
expect_error "neither a known data set" "$starling" train --data "$work/missing-folder"
expect_error "dirichlet\|partition" "$starling" train --data "$work/toy.csv" --partition zipf
expect_error "shard" "$starling" train --data "$work/toy.csv" --shard 4/4
expect_error "diverged" "$starling" train --data "$work/toy.csv" --lr 1e6 --epochs 3
printf 'garbage' > "$work/bad.ckpt"
expect_error "corrupt" "$starling" eval "$work/bad.ckpt" --data "$work/toy.csv"
head -c 300 "$work/toy.ckpt" > "$work/cut.ckpt"
expect_error "corrupt" "$starling" eval "$work/cut.ckpt" --data "$work/toy.csv"
# IDX folder whose label files are fine but whose image header is cut short.
mkdir -p "$work/idx"
for split in train t10k; do
  printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03' | gzip > "$work/idx/$split-labels-idx1-ubyte.gz"
  printf '\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00' | gzip > "$work/idx/$split-images-idx3-ubyte.gz"
done
expect_error "corrupt\|truncated\|header" "$starling" train --data "$work/idx"
echo "cli train: all checks passed"
