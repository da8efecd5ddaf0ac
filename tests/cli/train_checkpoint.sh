#!/usr/bin/env bash
# `starling train --checkpoint FILE`: an earlier run's FILE is never replaced
# without --force (it was, in silence), and --resume refuses a run whose
# batches, shard, partition, seed or training set differ from the ones FILE
# was written with (its epochs were miscounted). Then the data a run reads: a
# .gz with bytes after its gzip data, an IDX file present twice (X and X.gz).
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

# --- One run per checkpoint: two wrote it in turns and one silently won.
"${train[@]}" --batch 16 --epochs 100000 --checkpoint "$work/held.ckpt" 2>"$work/held.err" &
held_pid=$!
for _ in $(seq 100); do [[ -s $work/.held.ckpt.lock ]] && break; sleep 0.1; done
[[ $(cat "$work/.held.ckpt.lock" 2>/dev/null) == "$held_pid" ]] || fail "a running train holds no .held.ckpt.lock"
expect_refused "a second run on a checkpoint a run is writing" \
  "checkpoint $work/held.ckpt is being written by another starling train \(pid $held_pid\): wait for that run to end" \
  "${train[@]}" --epochs 1 --checkpoint "$work/held.ckpt" --force
((code_of_last == 2)) || fail "a second run on a held checkpoint: exit $code_of_last, want 2"
ln -s held.ckpt "$work/held-link.ckpt"
expect_refused "a second run through a link to it" "checkpoint $work/held.ckpt is being written by another starling train" \
  "${train[@]}" --epochs 1 --checkpoint "$work/held-link.ckpt" --force
kill -INT "$held_pid"
for _ in $(seq 100); do kill -0 "$held_pid" 2>/dev/null || break; sleep 0.1; done
wait "$held_pid"
held_code=$?
((held_code == 130)) || fail "the held run ended with exit $held_code at Ctrl-C, want 130: $(cat "$work/held.err")"
[[ -e $work/.held.ckpt.lock ]] && fail "the lock file stayed after its run ended"
expect_ok "the next run on it, once the first has ended" "${train[@]}" --epochs 1 --checkpoint "$work/held.ckpt" --force

# --- --resume: the run must be laid out as the checkpoint's was.
expect_ok "two epochs in batches of 16" "${train[@]}" --batch 16 --epochs 2 --checkpoint "$work/b.ckpt"
cp "$work/b.ckpt" "$work/b-before.ckpt"
expect_refused "resume with another --batch" \
  "checkpoint $work/b.ckpt was written by a run with --batch 16; this run has --batch 64\. A resumed run continues" \
  "${train[@]}" --batch 64 --epochs 3 --checkpoint "$work/b.ckpt" --resume
((code_of_last == 2)) || fail "resume with another --batch: exit $code_of_last, want 2"
expect_refused "resume with another --shard" \
  "with --shard 0/1, 360 training samples; this run has --shard 1/2, 180 training samples" \
  "${train[@]}" --batch 16 --epochs 3 --shard 1/2 --checkpoint "$work/b.ckpt" --resume
expect_refused "resume with another --partition" "with --partition iid; this run has --partition dirichlet:0.5" \
  "${train[@]}" --batch 16 --epochs 3 --partition dirichlet:0.5 --checkpoint "$work/b.ckpt" --resume
expect_refused "resume with another --seed" "with --seed 1; this run has --seed 2" \
  "${train[@]}" --batch 16 --epochs 3 --seed 2 --checkpoint "$work/b.ckpt" --resume
toy_csv 500 > "$work/more.csv"
expect_refused "resume on a training set that grew" "with 360 training samples; this run has 450 training samples" \
  "$starling" train --model mlp:4 -q --data "$work/more.csv" --batch 16 --epochs 3 --checkpoint "$work/b.ckpt" --resume
# Another training set of the same shape and size: resumed in silence, its
# model fed features standardised for another data set.
toy_csv 400 >"$work/other.csv"  # the same samples, then scaled: the same shape and size
awk -F, -v OFS=, 'NR > 1 { for (i = 2; i <= NF; i++) $i = $i * 3 + 1 } { print }' "$work/other.csv" >"$work/scaled.csv"
expect_refused "resume on another training set" \
  "holds a model trained on $work/toy.csv \(features of mean .* this run has another training set" \
  "$starling" train --model mlp:4 -q --data "$work/scaled.csv" --batch 16 --epochs 3 --checkpoint "$work/b.ckpt" --resume
expect_refused "resume with another optimizer" "holds the state of --optimizer sgd; this run has --optimizer adam" \
  "${train[@]}" --batch 16 --epochs 3 --optimizer adam --checkpoint "$work/b.ckpt" --resume
expect_refused "resume with another model" "holds --model mlp:4 \(4 inputs, 2 classes\); this run has --model mlp:8" \
  "$starling" train --model mlp:8 -q --data "$work/toy.csv" --batch 16 --epochs 3 --checkpoint "$work/b.ckpt" --resume
cmp -s "$work/b-before.ckpt" "$work/b.ckpt" || fail "a refused resume changed the checkpoint"
: >"$work/empty.ckpt"  # an empty file is no checkpoint, as for a peer (it was refused as corrupt)
expect_ok "resume from an empty file" "${train[@]}" --batch 16 --epochs 1 --checkpoint "$work/empty.ckpt" --resume
grep -q "no checkpoint at $work/empty.ckpt (an empty file): starting from scratch" <<<"$out" ||
  fail "resume from an empty file: $out"
head -c 5000 /dev/zero >"$work/.b.ckpt.tmp.999999999"  # a killed write's leftover: it stayed for ever
expect_ok "resume as written" "${train[@]}" --batch 16 --epochs 3 --checkpoint "$work/b.ckpt" --resume
[[ -e $work/.b.ckpt.tmp.999999999 ]] && fail "train left a killed write's temporary file"
grep -q "resumed from $work/b.ckpt at step 46" <<<"$out" || fail "resume as written: $out"
# --batch past the training set is cut to it: the same batches either way.
expect_ok "one batch of everything" "${train[@]}" --batch 100000 --epochs 1 --checkpoint "$work/c.ckpt"
expect_ok "resume with another batch cut to the same size" \
  "${train[@]}" --batch 200000 --epochs 2 --checkpoint "$work/c.ckpt" --resume
grep -q "resumed from $work/c.ckpt at step 1" <<<"$out" || fail "resume of a cut batch: $out"

# A run resumed is the run that never stopped: its batches go on in the order
# that run's would (they started the first epoch's order again).
loss_of() { "$starling" eval "$1" --data "$work/toy.csv" --json | sed -E -n 's/.*"test_loss":([-0-9.e+]+).*/\1/p'; }
expect_ok "two epochs at once" "${train[@]}" --batch 16 --epochs 2 --lr-decay none --checkpoint "$work/whole.ckpt"
expect_ok "one epoch" "${train[@]}" --batch 16 --epochs 1 --lr-decay none --checkpoint "$work/halves.ckpt"
expect_ok "and one more" "${train[@]}" --batch 16 --epochs 2 --lr-decay none --checkpoint "$work/halves.ckpt" --resume
whole=$(loss_of "$work/whole.ckpt")
halves=$(loss_of "$work/halves.ckpt")
[[ -n $whole && $whole == "$halves" ]] || fail "resumed run differs from the whole one: test loss $halves, want $whole"

# A checkpoint from before the layout was recorded: this run's is taken, and said.
if command -v python3 > /dev/null; then
  python3 - "$work/b-before.ckpt" "$work/old.ckpt" <<'PY'
import json, sys, zlib
data = open(sys.argv[1], 'rb').read()
l1 = data.index(b'\n'); l2 = data.index(b'\n', l1 + 1)
n = int(data[l1 + 1:l2].split()[0])
header = json.loads(data[l2 + 1:l2 + 1 + n])
for key in ('batch', 'shard', 'partition', 'shard_samples'):
    del header['metadata'][key]
text = json.dumps(header, separators=(',', ':')).encode()
open(sys.argv[2], 'wb').write(data[:l1 + 1] + b'%d %x\n' % (len(text), zlib.crc32(text)) + text + data[l2 + 1 + n:])
PY
  expect_ok "resume an older checkpoint" "${train[@]}" --batch 16 --epochs 3 --checkpoint "$work/old.ckpt" --resume
  grep -q "warning: checkpoint $work/old.ckpt does not record its run's batch, shard, partition, shard_samples (an older starling wrote it): taking this run's" \
    <<<"$out" || fail "an older checkpoint resumed without a word: $out"
  grep -q "resumed from" <<<"$out" || fail "an older checkpoint was not resumed: $out"
else
  echo "train_checkpoint: no python3, the older checkpoint is skipped"
fi

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
