#!/usr/bin/env bash
# `starling peer`'s checkpoint DATA_DIR/model.ckpt (docs/checkpoints.md, "A
# peer's checkpoint"). A file it cannot write, or must not replace, is refused
# before the peer joins (exit 2): a folder failed only at the final checkpoint,
# a `train` checkpoint, a newer starling's or any other file was overwritten
# at the first one.
# --resume refuses another model, optimizer, batch, shard or seed (it went on
# and miscounted, or did not train at all while saying it did). Periodic
# checkpoints survive kill -9, a killed write's temporary file is removed,
# SIGHUP writes the final checkpoint as SIGTERM does, and a full disk keeps
# the peer and its last checkpoint.
# Usage: peer_checkpoint.sh STARLING_BINARY
set -u
starling=${1:?usage: peer_checkpoint.sh STARLING_BINARY}
source "$(dirname "$0")/lib/peers.sh"
toy_csv "$work/toy.csv"
common=(--data "$work/toy.csv" --eval-every 0)
peer_flags=("${common[@]}" --model mlp:4)
peer=("$starling" peer --listen "127.0.0.1:$(free_port)" "${common[@]}")

# refused_at_start DESCRIPTION PATTERN FLAGS...: exit 2 with PATTERN, and the
# peer never listened (never joined a swarm).
refused_at_start() {
  local what=$1 pattern=$2; shift 2
  expect_refused "$what" "$pattern" timeout 30 "${peer[@]}" "$@"
  ((code_of_last == 2)) || fail "$what: exit $code_of_last, want 2: $out"
  grep -q "listening on" <<<"$out" && fail "$what: refused only after it joined: $out"
}
stop_peer() {  # INDEX: SIGTERM (final checkpoint), and its exit status
  kill -TERM "${pids[$1]}"; wait "${pids[$1]}"; local rc=$?; pids[$1]=; return $rc
}

# --- What the peer must not write over, refused before it joins.
mkdir -p "$work/a/model.ckpt"
refused_at_start "model.ckpt a folder" "checkpoint file: cannot write $work/a/model.ckpt: it is a directory" \
  --model mlp:4 --data-dir "$work/a"
mkdir -p "$work/b" && echo "my notes" >"$work/b/model.ckpt"
refused_at_start "a file that is no checkpoint" "$work/b/model.ckpt exists and is not a starling checkpoint" \
  --model mlp:4 --data-dir "$work/b"
[[ $(cat "$work/b/model.ckpt") == "my notes" ]] || fail "the peer replaced a file that is no checkpoint"
mkdir -p "$work/d1"
"$starling" train "${common[@]}" --model mlp:4 -q --epochs 1 --checkpoint "$work/d1/model.ckpt" || fail "train"
cp "$work/d1/model.ckpt" "$work/train.ckpt"
refused_at_start "a train checkpoint without --resume" \
  "$work/d1/model.ckpt holds a checkpoint .starling train. wrote .*pass --resume to start the peer from it" \
  --model mlp:4 --data-dir "$work/d1"
cmp -s "$work/d1/model.ckpt" "$work/train.ckpt" || fail "the peer replaced a train checkpoint"
# A newer starling's checkpoint (a rolled-back upgrade) was taken for a
# damaged one, replaced at the first checkpoint in this version's format.
mkdir -p "$work/v2"
sed '1s/^starling-checkpoint 1$/starling-checkpoint 2/' "$work/train.ckpt" >"$work/v2/model.ckpt"
cp "$work/v2/model.ckpt" "$work/v2.ckpt"
refused_at_start "a newer format's checkpoint" "has format version 2; this starling reads version 1: this peer would replace it" \
  --model mlp:4 --data-dir "$work/v2"
cmp -s "$work/v2/model.ckpt" "$work/v2.ckpt" || fail "the peer replaced a newer starling's checkpoint"

# --- --resume from the train checkpoint: the same layout, so it continues it.
start_peer 1 -- --resume --checkpoint-every 0
wait_until 10 grep -q "resuming from $work/d1/model.ckpt at step 9" "$work/p1.log" || fail "no resume from train's"
wait_until 10 grep -q "training started" "$work/p1.log" || fail "the resumed peer does not train"
stop_peer 1 || fail "peer 1 did not stop cleanly"
cp "$work/d1/model.ckpt" "$work/peer.ckpt"

# --- --resume with another layout than the checkpoint's: refused, naming both.
resume=(--data-dir "$work/d1" --resume)
refused_at_start "resume with another --batch" \
  "checkpoint $work/d1/model.ckpt was written by a run with --batch 64; this run has --batch 32\. .*drop --resume" \
  --model mlp:4 --batch 32 "${resume[@]}"
refused_at_start "resume with another --shard" "with --shard 0/1; this run has --shard 1/2" \
  --model mlp:4 --shard 1/2 "${resume[@]}"
refused_at_start "resume with another --random-seed" "with --random-seed 1; this run has --random-seed 2" \
  --model mlp:4 --random-seed 2 "${resume[@]}"
refused_at_start "resume with another --optimizer" \
  "holds the state of --optimizer sgd; this run has --optimizer adam" --model mlp:4 --optimizer adam "${resume[@]}"
refused_at_start "resume with another --model" \
  "holds --model mlp:4 \(4 inputs, 2 classes\); this run has --model mlp:8 \(4 inputs, 2 classes\)" \
  --model mlp:8 "${resume[@]}"
# Another training set of the same shape and size (the toy set scaled): it
# resumed in silence, the model fed features standardised for another.
awk -F, -v OFS=, 'NR > 1 { for (i = 2; i <= NF; i++) $i = $i * 3 + 1 } { print }' "$work/toy.csv" >"$work/scaled.csv"
expect_refused "resume on another training set" "holds a model trained on .*this run has another training set" \
  timeout 30 "$starling" peer --listen "127.0.0.1:$(free_port)" --data "$work/scaled.csv" --eval-every 0 --model mlp:4 \
  "${resume[@]}"
((code_of_last == 2)) || fail "resume on another training set: exit $code_of_last, want 2: $out"
cmp -s "$work/d1/model.ckpt" "$work/peer.ckpt" || fail "a refused resume changed the checkpoint"

# --- Periodic checkpoints; kill -9 leaves the last whole one, and a killed
# write's temporary file goes at the next start.
mkdir -p "$work/d2" && head -c 5000 /dev/zero >"$work/d2/.model.ckpt.tmp.99999"
start_peer 2 -- --checkpoint-every 1
wait_until 10 grep -q "removed 1 temporary file" "$work/p2.log" || fail "no word of the stale temporary file"
[[ -e $work/d2/.model.ckpt.tmp.99999 ]] && fail "the stale temporary file is still there"
wait_until 10 test -s "$work/d2/model.ckpt" || fail "no periodic checkpoint"
sleep 1.5
kill -9 "${pids[2]}"; wait "${pids[2]}" 2>/dev/null; pids[2]=
"$starling" eval "$work/d2/model.ckpt" --data "$work/toy.csv" >/dev/null 2>&1 || fail "kill -9 left no loadable checkpoint"

# --- SIGHUP (a closed terminal or SSH session) leaves as SIGTERM does, with a
# final checkpoint: its default action ended the peer without one.
mkdir -p "$work/d5"
start_peer 5 -- --checkpoint-every 0
wait_until 10 grep -q "training started" "$work/p5.log" || fail "peer 5 does not train"
kill -HUP "${pids[5]}"; wait "${pids[5]}"; rc=$?; pids[5]=
((rc == 0)) || fail "SIGHUP: exit $rc, want 0 (a graceful leave): $(tail -3 "$work/p5.log")"
grep -q "final checkpoint $work/d5/model.ckpt" "$work/p5.log" || fail "SIGHUP: no final checkpoint"
"$starling" eval "$work/d5/model.ckpt" --data "$work/toy.csv" >/dev/null 2>&1 || fail "SIGHUP left no loadable checkpoint"

# --- A full disk: each failed periodic checkpoint is logged, the peer goes on,
# the last checkpoint stays whole; the final one fails with exit 1.
mkdir -p "$work/full"
if mount -t tmpfs -o size=256k tmpfs "$work/full" 2>/dev/null; then
  trap 'umount -l "$work/full"; cleanup' EXIT
  ln -s "$work/full" "$work/d3"
  start_peer 3 -- --checkpoint-every 1
  wait_until 10 test -s "$work/full/model.ckpt" || fail "no checkpoint on the small disk"
  dd if=/dev/zero of="$work/full/filler" bs=4k 2>/dev/null  # until the disk is full
  wait_until 10 grep -q "periodic checkpoint to .*model.ckpt failed (training goes on): .*No space left" \
    "$work/p3.log" || fail "no word of the full disk"
  cp "$work/full/model.ckpt" "$work/before-full.ckpt"
  failed_before=$(grep -c "periodic checkpoint .* failed" "$work/p3.log")
  wait_until 10 eval '(($(grep -c "periodic checkpoint .* failed" "$work/p3.log") > failed_before))' ||
    fail "the peer stopped checkpointing"
  kill -0 "${pids[3]}" || fail "the peer died of the full disk"
  cmp -s "$work/full/model.ckpt" "$work/before-full.ckpt" || fail "a failed write changed the checkpoint"
  "$starling" eval "$work/full/model.ckpt" --data "$work/toy.csv" >/dev/null 2>&1 || fail "the last checkpoint is damaged"
  stop_peer 3; rc=$?
  ((rc == 1)) || fail "a final checkpoint lost to a full disk exited $rc, want 1"
  grep -q "the final checkpoint was not written" "$work/p3.log" || fail "no error for the lost final checkpoint"
  ls -a "$work/full" | grep -q "\.tmp\." && fail "a failed write left its temporary file"
else
  echo "peer_checkpoint: cannot mount a small tmpfs (not root?): the full disk is skipped"
fi

# --- SIGTERM before the data has loaded (an IDX set loads once the peer has
# joined, here some 47 MB): no model to save. It logged "stopping training
# (final checkpoint)", wrote none, said nothing more and exited 0; it now
# says why there is no checkpoint, still exits 0, and an earlier one stays.
mkdir -p "$work/idx" "$work/d4"
/usr/bin/python3 - "$work/idx" <<'PY'
import struct, sys
for split, count in (("train", 60000), ("t10k", 100)):
    with open(f"{sys.argv[1]}/{split}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, 28, 28) + (bytes(range(256)) * (count * 784 // 256 + 1))[:count * 784])
    with open(f"{sys.argv[1]}/{split}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, count) + bytes(i % 2 for i in range(count)))
PY
printf 'starling-checkpoint 1\ncut short\n' >"$work/d4/model.ckpt" && cp "$work/d4/model.ckpt" "$work/d4-before.ckpt"
peer_flags=(--eval-every 0 --data "$work/idx" --model linear)
start_peer 4
wait_until 10 grep -q "training waits for the data to load" "$work/p4.log" || fail "the peer does not wait for its data"
stop_peer 4; rc=$?
((rc == 0)) || fail "stopped before the data loaded: exit $rc, want 0"
if grep -q "training started" "$work/p4.log"; then
  echo "peer_checkpoint: the data loaded before SIGTERM landed (a slow host): the early stop is not checked"
else
  grep -q "no final checkpoint written: training had not started (the data was still loading), .*$work/d4/model.ckpt keeps its earlier checkpoint, untouched" \
    "$work/p4.log" || fail "no word of the checkpoint not written: $(tail -5 "$work/p4.log")"
  grep -q "stopping training (final checkpoint)" "$work/p4.log" && fail "it announced a final checkpoint it cannot write"
  cmp -s "$work/d4/model.ckpt" "$work/d4-before.ckpt" || fail "the earlier checkpoint changed"
fi

grep -hE "Assertion|terminate called|Sanitizer|runtime error" "$work"/*.log && fail "a peer crashed"
echo "PASS peer_checkpoint"
