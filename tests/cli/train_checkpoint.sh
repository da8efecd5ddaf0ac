#!/usr/bin/env bash
# `starling train --checkpoint FILE`: an earlier run's FILE is never replaced
# without --force (it was, in silence). Then the data a run reads: a .gz with
# bytes after its gzip data, an IDX file present twice (X and X.gz).
# Usage: train_checkpoint.sh STARLING_BINARY
set -u
starling=${1:?usage: train_checkpoint.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

toy_csv() {  # ROWS: two separable classes in 4-D, 10% of the rows kept for the test set
  awk -v rows="$1" 'BEGIN { srand(3); print "label,a,b,c,d";
    for (i = 0; i < rows; i++) { c = i % 2; printf "%d", c;
      for (j = 0; j < 4; j++) printf ",%.4f", (j == c ? 2 : 0) + rand() - 0.5; print "" } }'
}
toy_csv 400 > "$work/toy.csv"  # 360 training samples
train=("$starling" train --model mlp:4 -q --data "$work/toy.csv")

# --- An existing checkpoint: --resume continues it, --force replaces it, nothing else touches it.
expect_ok "a first run" "${train[@]}" --batch 16 --epochs 1 --checkpoint "$work/a.ckpt"
cp "$work/a.ckpt" "$work/first.ckpt"
expect_refused "a second run onto it" \
  "--checkpoint $work/a.ckpt already exists \(an earlier run's checkpoint\): pass --resume to continue that run, or --force to replace it" \
  "${train[@]}" --batch 16 --epochs 2 --checkpoint "$work/a.ckpt"
((code_of_last == 2)) || fail "a second run onto a checkpoint: exit $code_of_last, want 2"
cmp -s "$work/first.ckpt" "$work/a.ckpt" || fail "the refused run changed the checkpoint"
expect_ok "--force replaces it" "${train[@]}" --batch 16 --epochs 2 --checkpoint "$work/a.ckpt" --force
cmp -s "$work/first.ckpt" "$work/a.ckpt" && fail "--force left the checkpoint as it was"
expect_ok "the replaced checkpoint is the second run's" "${train[@]}" --batch 16 --epochs 2 --checkpoint "$work/a.ckpt" --resume
grep -q "already holds 2.00 epochs" <<<"$out" || fail "--force did not write the second run: $out"
expect_refused "--force with --resume" "--force and --resume contradict each other" \
  "${train[@]}" --checkpoint "$work/a.ckpt" --force --resume
((code_of_last == 2)) || fail "--force --resume: exit $code_of_last, want 2"
expect_refused "--force without --checkpoint" "--force needs --checkpoint" "${train[@]}" --force
: > "$work/empty.ckpt"
expect_ok "an empty file holds no run to lose" "${train[@]}" --epochs 1 --checkpoint "$work/empty.ckpt"
printf 'not a checkpoint\n' > "$work/notes.txt"
expect_refused "--force still never writes over a file that is not a checkpoint" "not a starling checkpoint" \
  "${train[@]}" --epochs 1 --checkpoint "$work/notes.txt" --force
[[ $(cat "$work/notes.txt") == "not a checkpoint" ]] || fail "--force replaced a file that is not a checkpoint"

# --- Data: a .gz is whole gzip members and nothing after them.
gzip -c "$work/toy.csv" > "$work/toy.csv.gz"
expect_ok "a gzipped CSV" "$starling" train --model mlp:4 -q --epochs 1 --data "$work/toy.csv.gz"
{ head -n 200 "$work/toy.csv" | gzip -c; tail -n +201 "$work/toy.csv" | gzip -c; } > "$work/members.csv.gz"
expect_ok "two gzip members back to back (cat a.gz b.gz)" "$starling" train --model mlp:4 -q --epochs 1 \
  --data "$work/members.csv.gz"
cp "$work/toy.csv.gz" "$work/junk.csv.gz"
printf 'JUNK' >> "$work/junk.csv.gz"
expect_refused "bytes after the gzip data" "$work/junk.csv.gz: bytes after the end of its gzip data" \
  "$starling" train --model mlp:4 -q --epochs 1 --data "$work/junk.csv.gz"
expect_refused "eval: bytes after the gzip data" "$work/junk.csv.gz: bytes after the end of its gzip data" \
  "$starling" eval "$work/a.ckpt" --data "$work/junk.csv.gz"

# --- An IDX folder holding a file twice: which one is meant is not guessed.
mkdir -p "$work/idx"
for split in train t10k; do
  printf '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01' | gzip > "$work/idx/$split-labels-idx1-ubyte.gz"
  printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x02\x01\x02\x03\x04' |
    gzip > "$work/idx/$split-images-idx3-ubyte.gz"
done
expect_ok "an IDX folder" "$starling" train --model linear -q --epochs 1 --data "$work/idx"
gunzip -k "$work/idx/train-images-idx3-ubyte.gz"
expect_refused "an IDX file and its .gz" \
  "$work/idx holds $work/idx/train-images-idx3-ubyte and $work/idx/train-images-idx3-ubyte.gz, 2 copies of one IDX file" \
  "$starling" train --model linear -q --epochs 1 --data "$work/idx"
((code_of_last == 2)) || fail "an IDX file and its .gz: exit $code_of_last, want 2"

finish "cli train_checkpoint"
