#!/usr/bin/env bash
# Hostile input to the starling binary (session 9 audit): numbers CLI11 used
# to misread, checkpoints whose checksums are valid but whose contents are
# not, output paths that are directories, and Ctrl-C during training. Each
# must give a one-line reason and an exit code below 128 (never an abort), or
# for a signal, a whole checkpoint. Usage: hostile_args.sh STARLING_BINARY
set -u
starling=${1:?usage: hostile_args.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

awk 'BEGIN { srand(3); print "label,a,b,c,d";
  for (i = 0; i < 400; i++) { c = i % 2; printf "%d", c;
    for (j = 0; j < 4; j++) printf ",%.4f", (j == c ? 2 : 0) + rand() - 0.5; print "" } }' > "$work/toy.csv"
train_on=("$starling" train --model mlp:4 --batch 16 -q --data)  # then the data
train=("${train_on[@]}" "$work/toy.csv")

# Numbers: NaN passed CLI::Range, -1 wrapped in unsigned options, 010 was octal.
expect_refused "train --lr nan" "--lr: 'nan' is not a finite number" "${train[@]}" --lr nan
expect_refused "train --momentum nan" "--momentum" "${train[@]}" --momentum nan
expect_refused "train --seed -1" "--seed: '-1' is negative" "${train[@]}" --seed -1
expect_refused "train --seed 2^64" "--seed: .* out of range" "${train[@]}" --seed 18446744073709551616
expect_refused "peer --max-upload -1" "--max-upload" "$starling" peer --listen 127.0.0.1:7000 --max-upload -1 --print-config
expect_refused "peer --round-cpu-share nan" "--round-cpu-share" "$starling" peer --listen 127.0.0.1:7000 --round-cpu-share nan --print-config
expect_refused "scenario --speed nan (was an assertion)" "--speed" "$starling" scenario "$work/none.toml" --speed nan
# --checkpoint-every is seconds: 1e-300 was accepted and wrote a checkpoint at
# every step boundary. 0 (only at stop) or 1 to 1e7, on the command line and
# in a --config file, exit 105 like every other bad flag value.
peer_print=("$starling" peer --listen 127.0.0.1:7000 --print-config)
for interval in 1e-300 0.5 -1 nan 1e8; do
  expect_refused "peer --checkpoint-every $interval" "--checkpoint-every: '$interval' is (out of range: give 0 \\(only at stop\\) or 1 to|not a finite)" \
    "${peer_print[@]}" --checkpoint-every "$interval"
done
"${peer_print[@]}" --checkpoint-every 1e-300 > /dev/null 2>&1
(($? == 105)) || fail "peer --checkpoint-every 1e-300: want exit 105"
printf 'checkpoint-every = 1e-300\n' > "$work/tiny-interval.toml"
expect_refused "checkpoint-every = 1e-300 in --config" "tiny-interval.toml:1: 'checkpoint-every'.* out of range" \
  "${peer_print[@]}" --config "$work/tiny-interval.toml"
# A float in --config that underflows to 0 (1e-400) was read as 0.0 (a peer
# with lr 0 never learns), one that overflows as inf: refused with FILE:LINE.
printf '\nlr = 1e-400\n' > "$work/tiny-lr.toml"
expect_refused "lr = 1e-400 in --config" "tiny-lr.toml:2: 'lr': '1e-400' is out of range" \
  "${peer_print[@]}" --config "$work/tiny-lr.toml"
printf 'momentum = 1e400\n' > "$work/huge-momentum.toml"
expect_refused "momentum = 1e400 in --config" "huge-momentum.toml:1: " \
  "${peer_print[@]}" --config "$work/huge-momentum.toml"
for interval in 0 1 3600; do expect_ok "peer --checkpoint-every $interval" "${peer_print[@]}" --checkpoint-every "$interval"; done
# Combinations of simulate flags where one was silently ignored: refused, exit 2.
expect_refused "simulate --random FILE" "--random draws its own scenarios and would ignore $work/none.toml" \
  "$starling" simulate --random "$work/none.toml" --out "$work/sim-random"
"$starling" simulate --random "$work/none.toml" --out "$work/sim-random" > /dev/null 2>&1
(($? == 2)) || fail "simulate --random FILE: want exit 2"
expect_refused "simulate FILE --seeds" "--seeds counts the runs of --random" \
  "$starling" simulate "$work/none.toml" --seeds 3 --out "$work/sim-seeds"
[[ -e "$work/sim-random" || -e "$work/sim-seeds" ]] && fail "a refused simulate made its report folder"
expect_ok "peer --batch 010" "$starling" peer --listen 127.0.0.1:7000 --batch 010 --print-config
grep -qx "batch = 10" <<<"$out" || fail "--batch 010 is not 10: $(grep '^batch' <<<"$out")"
# A bad --compress or --clip (flag or config key) is refused while the flags
# are read, before the peer makes its data dir and identity (they were made
# first); a seed at port 0 can never answer (it was dialled for ever); a round
# floor above the gossip interval would never apply (it was lowered silently).
while read -r pattern args; do
  # shellcheck disable=SC2086 # the words of $args are separate arguments
  expect_refused "peer $args" "$pattern" timeout 10 "$starling" peer --listen 127.0.0.1:7000 --data-dir "$work/refused-dir" $args
done <<EOF
--compress:.*fraction --compress topk:2
--compress:.*unknown --compress bogus
--clip: --clip abc
--clip: --clip -1
port.0 --seed 127.0.0.1:0
above.--gossip-interval.100 --round-floor 5000 --gossip-interval 100
above.--gossip-interval.1000 --round-floor 1001
EOF
printf 'compress = "topk:0"\n' > "$work/bad-compress.toml"
expect_refused "compress = topk:0 in --config" "bad-compress.toml:1: 'compress'" \
  timeout 10 "$starling" peer --listen 127.0.0.1:7000 --data-dir "$work/refused-dir" --config "$work/bad-compress.toml"
[[ -e "$work/refused-dir" ]] && fail "a refused peer made its data dir: $(ls "$work/refused-dir")"
# More neighbours to dial than links kept is not an error (scenario files
# raise neighbours alone), but the peer says it keeps only --max-links.
toy_csv "$work/links.csv"
out=$(timeout -s INT 2 "$starling" peer --listen 127.0.0.1:$((20000 + RANDOM % 20000)) --data "$work/links.csv" \
  --data-dir "$work/links-dir" --neighbours 5 --max-links 2 2>&1 </dev/null)
grep -q -e "--neighbours 5 is above --max-links 2: this peer keeps at most 2 links" <<<"$out" ||
  fail "--neighbours above --max-links: no warning in $(head -c 2000 <<<"$out")"

# A single-value option given twice is an error in every command (train took
# the last one in silence); options meant to repeat still do.
while read -r option args; do
  # shellcheck disable=SC2086 # the words of $args are separate arguments
  expect_refused "$args" "$option: At Most 1 required but received 2" "$starling" $args
done <<EOF
--lr train --data $work/toy.csv --lr 0.1 --lr 0.2
--data eval $work/none.ckpt --data a.csv --data b.csv
--lr peer --listen 127.0.0.1:7000 --lr 0.1 --lr 0.2 --print-config
--speed scenario $work/none.toml --speed 1 --speed 2
--seed simulate $work/none.toml --seed 1 --seed 2
--timeout status 127.0.0.1:9 --timeout 1 --timeout 2
--swarm keygen --swarm $work/a.key --swarm $work/b.key
--onnx export $work/none.ckpt --onnx $work/a.onnx --onnx $work/b.onnx
--interval top 127.0.0.1:9 --interval 1 --interval 2
--listen init $work/init-dir --listen 127.0.0.1:7000 --listen 127.0.0.1:7001
EOF
expect_ok "peer --seed twice (a list)" "$starling" peer --listen 127.0.0.1:7000 --seed 127.0.0.1:7001 --seed 127.0.0.1:7002 --print-config
grep -qx "seed = \['127.0.0.1:7001', '127.0.0.1:7002'\]" <<<"$out" || fail "peer --seed twice: $(grep seed <<<"$out")"

# --print-config output read back by --config gives the same configuration:
# a hexadecimal float (strtod read it) and a seed past 2^63-1 (no TOML
# integer holds it) were printed in forms the reader refused.
expect_refused "peer --lr 0x1p-4" "--lr: '0x1p-4' is not a plain decimal number" "${peer_print[@]}" --lr 0x1p-4
expect_ok "print-config with 2^64-1" "${peer_print[@]}" --random-seed 18446744073709551615 --lr +0.30000000000000004
printf '%s\n' "$out" > "$work/printed.toml"
expect_ok "print-config read back" "$starling" peer --config "$work/printed.toml" --print-config
[[ "$out" == "$(cat "$work/printed.toml")" ]] || fail "print-config does not round-trip: $(diff <(echo "$out") "$work/printed.toml")"
grep -qx "random-seed = '18446744073709551615'" "$work/printed.toml" || fail "seed 2^64-1 printed as: $(grep '^random-seed' "$work/printed.toml")"

# Labels: a feature read as the label (a CSV with its label last) made one
# class per distinct value, and a column of ids one class per sample, in
# silence. The first is refused, the second trains with a warning (even -q).
awk 'BEGIN { srand(5); for (i = 0; i < 60; i++) printf "%.2f,%.3f,%d\n", 4 + rand(), rand(), i % 2 }' > "$work/label-last.csv"
expect_refused "train on a CSV with its label last" "label-last.csv:1: label '[0-9.]+' is not a whole number" \
  "${train_on[@]}" "$work/label-last.csv"
awk 'BEGIN { srand(5); for (i = 0; i < 60; i++) printf "%d,%.3f,%.3f\n", 1000 + i, rand(), rand() }' > "$work/ids.csv"
expect_ok "train on a CSV whose labels are ids" "${train_on[@]}" "$work/ids.csv" --epochs 1
grep -q "warning: $work/ids.csv: 60 of the 60 classes have a single example" <<<"$out" ||
  fail "no warning for a class per sample: $out"
expect_ok "train on contiguous labels" "${train[@]}" --epochs 1
[[ -z "$out" ]] || fail "contiguous labels are not quiet: $out"

# --fault-control-from takes a node id only (64 hex digits), checked as read.
expect_refused "peer --fault-control-from not hex" "--fault-control-from: not a node id" \
  "$starling" peer --listen 127.0.0.1:7000 --fault-control-from nothex --print-config

# More shards than samples: the split sized its tables by N (0/100000000 took
# 2.3 GB and 10 s, 0/2000000000 ran out of memory) before saying "empty".
expect_refused "train --shard 0/2000000000" "2000000000 shards of [0-9]+ training samples" \
  timeout 20 "${train[@]}" --shard 0/2000000000 --epochs 1

# Output paths that cannot be written fail before any work, naming the path.
expect_refused "train --checkpoint DIR" "cannot write $work: it is a directory" "${train[@]}" --checkpoint "$work"
expect_refused "train --checkpoint DIR/" "it is a directory" "${train[@]}" --checkpoint "$work/"
expect_refused "train --checkpoint in a missing folder" "no directory $work/missing" \
  "${train[@]}" --checkpoint "$work/missing/x.ckpt"
ls -a "$work" | grep -q '\.tmp\.' && fail "a temporary file was left in $work"

# Not regular files: a directory read as an empty --config (the peer started
# with none of its keys) and /dev/zero was read forever (eval, export, peer
# --config, train --data).
expect_refused "peer --config DIR" "not a regular file" "$starling" peer --listen 127.0.0.1:7000 --config "$work" --print-config
expect_refused "peer --config /dev/zero" "not a regular file" "$starling" peer --listen 127.0.0.1:7000 --config /dev/zero --print-config
expect_refused "eval /dev/zero" "not a regular file" timeout 20 "$starling" eval /dev/zero --data "$work/toy.csv"
ln -s /dev/zero "$work/zero.csv"
expect_refused "train --data a device" "not a regular file" timeout 20 "${train_on[@]}" "$work/zero.csv"

# --resume with no checkpoint to resume from: never silent (a mistyped path
# looked like a resumed run), and refused when no --checkpoint is named at all.
expect_refused "train --resume without --checkpoint" "--resume needs --checkpoint" "${train[@]}" --resume
expect_ok "train --resume from a missing checkpoint" "${train[@]}" --epochs 1 --checkpoint "$work/typo.ckpt" --resume
grep -q "warning: --resume: no checkpoint at $work/typo.ckpt: starting from scratch" <<<"$out" ||
  fail "--resume from a missing checkpoint did not say so: $out"
[[ -f "$work/typo.ckpt" ]] || fail "--resume from a missing checkpoint wrote none"

# An empty --data-dir (an unset variable) fell back to the default folder
# without a word: refused like a bad flag, and as a --config key.
expect_refused "peer --data-dir ''" "--data-dir: an empty path" \
  "$starling" peer --listen 127.0.0.1:7000 --data-dir "" --print-config
[[ $code_of_last == 105 ]] || fail "peer --data-dir '': exit $code_of_last, want 105 (a bad flag)"
# `--data-dir=` took the next argument as its value: `--data-dir= --print-config`
# started a peer whose data dir was a folder named "--print-config".
expect_refused "peer --data-dir= --print-config" "--data-dir: an empty path" \
  timeout 20 "$starling" peer --listen 127.0.0.1:7000 --data-dir= --print-config
[[ $code_of_last == 105 ]] || fail "peer --data-dir=: exit $code_of_last, want 105 (a bad flag)"
expect_refused "train --lr= --epochs 1" "--lr" "${train[@]}" --lr= --epochs 1
# An empty --swarm-key was an OPEN swarm, an empty --identity the default one.
for flag in --swarm-key --identity; do
  expect_refused "peer $flag ''" "$flag: an empty path" \
    "$starling" peer --listen 127.0.0.1:7000 "$flag" "" --print-config
  [[ $code_of_last == 105 ]] || fail "peer $flag '': exit $code_of_last, want 105 (a bad flag)"
done
expect_refused "status --swarm-key ''" "--swarm-key: an empty path" "$starling" status 127.0.0.1:7000 --swarm-key ""
printf 'data-dir = ""\n' > "$work/empty-data-dir.toml"
expect_refused "peer --config with data-dir = ''" "empty-data-dir.toml:1: 'data-dir'.*empty path" \
  "$starling" peer --listen 127.0.0.1:7000 --config "$work/empty-data-dir.toml" --print-config

# A swarm key file of 64 zeros is the open swarm's public key: it was taken
# for a closed swarm (no warning), now peer and status refuse it.
printf 'starling-swarm-key v1\n%064d\n' 0 > "$work/zero.key"
chmod 600 "$work/zero.key"
expect_refused "peer with an all-zero swarm key" "zero.key: the key is all zeros" \
  timeout 20 "$starling" peer --listen 127.0.0.1:7000 --no-train --swarm-key "$work/zero.key" \
  --data-dir "$work/zero-key-peer"
expect_refused "status with an all-zero swarm key" "all zeros" \
  "$starling" status 127.0.0.1:7000 --swarm-key "$work/zero.key"
# Any byte typed 32 times is as guessable.
printf 'starling-swarm-key v1\n%s\n' "$(printf 'f%.0s' $(seq 64))" > "$work/typed.key"
chmod 600 "$work/typed.key"
expect_refused "keygen --check with a typed swarm key" "typed.key: the key was typed rather than drawn at random \\(the byte ff repeated\\)" \
  "$starling" keygen --check "$work/typed.key"
# So are a short pattern of bytes and a run of steps: 00112233... (16
# distinct values, where random bytes have about 30) and 00 01 02 ... 1f.
printf 'starling-swarm-key v1\n%s%s\n' 00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff > "$work/typed.key"
expect_refused "peer with a swarm key of 16 byte values" "the key was typed rather than drawn at random \\(only 16 distinct byte values" \
  timeout 20 "$starling" peer --listen 127.0.0.1:7000 --no-train --swarm-key "$work/typed.key" \
  --data-dir "$work/typed-key-peer"
printf 'starling-swarm-key v1\n%s\n' "$(printf '%02x' $(seq 0 31))" > "$work/typed.key"
expect_refused "keygen --check with a counting swarm key" "\\(a pattern: only 1 distinct steps" \
  "$starling" keygen --check "$work/typed.key"

# A damaged incarnation file was read as incarnation 0 (the peer could rejoin
# at an old one): now it stops the peer before it listens, naming the file.
peer=("$starling" peer --listen 127.0.0.1:7000 --no-train)
for bad in garbage -1 18446744073709551616 ""; do
  mkdir -p "$work/incarnation-dir"
  printf '%s' "$bad" > "$work/incarnation-dir/incarnation"
  expect_refused "peer with incarnation file '$bad'" "incarnation file $work/incarnation-dir/incarnation" \
    timeout 20 "${peer[@]}" --data-dir "$work/incarnation-dir"
done
rm -f "$work/incarnation-dir/incarnation"
mkdir "$work/incarnation-dir/incarnation"
expect_refused "peer with a folder as its incarnation file" "incarnation file .* is not a regular file" \
  timeout 20 "${peer[@]}" --data-dir "$work/incarnation-dir"

expect_ok "train a checkpoint" "${train[@]}" --epochs 1 --checkpoint "$work/good.ckpt"
expect_refused "eval --dump-logits DIR" "it is a directory" "$starling" eval "$work/good.ckpt" --data "$work/toy.csv" \
  --dump-logits "$work"

# Features that overflow float once standardised (3e38 minus the mean): train
# failed with "loss is -nan at step 0 (try a smaller --lr)", eval blamed the
# checkpoint. Refused at load, naming the data file.
printf '1,3e38,3e38\n0,-3e38,-3e38\n1,3e38,3e38\n0,-3e38,-3e38\n' > "$work/huge.csv"
expect_refused "train on features too large to standardise" "--data '$work/huge.csv': feature values too large to standardise in float" \
  "$starling" train --data "$work/huge.csv" --model linear --lr 1e-9 -q
printf '0,3.4e38,3.4e38,3.4e38,3.4e38\n1,-3.4e38,0,0,0\n' > "$work/huge4.csv"
expect_refused "eval on features too large to standardise" "--data '$work/huge4.csv': feature values too large to standardise in float" \
  "$starling" eval "$work/good.ckpt" --data "$work/huge4.csv"

# Outputs that would destroy an input or a special file (session 26 sweep).
cp "$work/good.ckpt" "$work/keep.ckpt"
expect_refused "export onto its own checkpoint" "which this command reads" \
  "$starling" export "$work/keep.ckpt" --onnx "$work/./keep.ckpt"
expect_refused "eval --dump-logits onto its data" "which this command reads" \
  "$starling" eval "$work/keep.ckpt" --data "$work/toy.csv" --dump-logits "$work/toy.csv"
cmp -s "$work/good.ckpt" "$work/keep.ckpt" || fail "export or eval changed the checkpoint it read"
cp "$work/toy.csv" "$work/data-copy.csv"
expect_refused "train --checkpoint onto a data file" "not a starling checkpoint" \
  "${train_on[@]}" "$work/data-copy.csv" --checkpoint "$work/data-copy.csv"
cmp -s "$work/toy.csv" "$work/data-copy.csv" || fail "train --checkpoint replaced its data file"
mkfifo -m 600 "$work/fifo"
expect_refused "train --checkpoint onto a FIFO" "not a regular file" "${train[@]}" --checkpoint "$work/fifo"
expect_refused "keygen --force onto a FIFO" "not a regular file" "$starling" keygen --swarm "$work/fifo" --force
expect_refused "keygen --check of a FIFO (hung before)" "not a regular file" timeout 20 "$starling" keygen --check "$work/fifo"
[[ -p "$work/fifo" ]] || fail "the FIFO was replaced"

# Checkpoints with valid checksums and bad contents.
if command -v python3 > /dev/null; then
  craft() {  # craft OUT JSON_EDITS: good.ckpt with header fields replaced, checksums recomputed
    python3 - "$work/good.ckpt" "$work/$1" "$2" <<'PY'
import json, struct, sys, zlib
src, dst, edits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
data = open(src, 'rb').read()
l1 = data.index(b'\n'); l2 = data.index(b'\n', l1 + 1)
n = int(data[l1 + 1:l2].split()[0])
header = json.loads(data[l2 + 1:l2 + 1 + n]); payload = data[l2 + 1 + n:]
scale = edits.pop('payload_scale', None)
if scale is not None:
    count = len(payload) // 4
    payload = struct.pack('<%df' % count, *[x * scale for x in struct.unpack('<%df' % count, payload)])
header.update(edits)
header['payload_crc32'] = zlib.crc32(payload)
text = json.dumps(header, separators=(',', ':')).encode()
open(dst, 'wb').write(data[:l1 + 1] + b'%d %x\n' % (len(text), zlib.crc32(text)) + text + payload)
PY
  }
  craft negative.ckpt '{"step": -100, "samples": -5}'
  expect_refused "negative step" "corrupt: negative step" "$starling" eval "$work/negative.ckpt" --data "$work/toy.csv"
  expect_refused "resume from a negative step" "corrupt: negative step" \
    "${train[@]}" --epochs 2 --checkpoint "$work/negative.ckpt" --resume
  # Fields that disagree, which no run writes: a header version 0 (never
  # read) evaluated and resumed; steps without samples resumed, and the run
  # then said "1.00 epochs" after two (docs/checkpoints.md).
  craft version0.ckpt '{"version": 0}'
  craft no-samples.ckpt '{"samples": 0}'
  craft many-samples.ckpt '{"samples": 100000000}'
  for crafted in "version0.ckpt:'version' is 0, not 1" "no-samples.ckpt:with 0 samples: every step trains at least one" \
    "many-samples.ckpt:samples makes that epoch"; do
    file=${crafted%%:*} why=${crafted#*:}
    expect_refused "eval $file" "corrupt: bad header: $why|corrupt: step .*$why" \
      "$starling" eval "$work/$file" --data "$work/toy.csv"
    ((code_of_last == 1)) || fail "eval $file: exit $code_of_last, want 1"
    expect_refused "resume from $file" "corrupt: bad header: $why|corrupt: step .*$why" \
      "${train[@]}" --epochs 2 --checkpoint "$work/$file" --resume
    ((code_of_last == 1)) || fail "resume from $file: exit $code_of_last, want 1"
  done
  craft spread.ckpt '{"data_std": -1.0}'
  expect_refused "negative data_std" "bad feature standardisation" "$starling" eval "$work/spread.ckpt" --data "$work/toy.csv"
  craft overflow.ckpt '{"payload_scale": 1e30}'
  expect_refused "parameters that overflow" "not finite" "$starling" eval "$work/overflow.ckpt" --data "$work/toy.csv"
else
  echo "hostile_args: no python3, crafted checkpoints skipped"
fi

# Ctrl-C, SIGTERM and SIGHUP (a closed terminal) during training: a whole
# checkpoint, exit 128 + signal.
for signal in INT TERM HUP; do
  rm -f "$work/signal.ckpt"
  "${train[@]}" --epochs 100000 --checkpoint "$work/signal.ckpt" 2> "$work/signal.err" &
  pid=$!
  # Wait for the first per-epoch checkpoint, so the signal lands mid-training.
  for _ in $(seq 100); do [[ -s "$work/signal.ckpt" ]] && break; sleep 0.1; done
  kill -"$signal" "$pid"
  wait "$pid"
  code=$?
  want=$((128 + $(kill -l "$signal")))
  ((code == want)) || fail "SIG$signal: exit $code, want $want ($(cat "$work/signal.err"))"
  grep -q "stopped by signal" "$work/signal.err" || fail "SIG$signal: no message ($(cat "$work/signal.err"))"
  expect_ok "SIG$signal: checkpoint evaluates" "$starling" eval "$work/signal.ckpt" --data "$work/toy.csv"
  ls -a "$work" | grep -q '\.tmp\.' && fail "SIG$signal: a temporary file was left"
done

# An empty path ("$UNSET_VARIABLE") names nothing: every file option refuses
# it as a bad flag. `train --checkpoint ""` trained without a checkpoint, and
# keygen said "key file  does not exist" for a file it was asked to write.
for args in "keygen --swarm" "keygen --identity" "keygen --check" "eval" "export $work/signal.ckpt --onnx" \
  "scenario" "simulate --random --out" "train --data $work/toy.csv --checkpoint" "peer --config"; do
  read -ra words <<<"$args"
  expect_refused "$args ''" "an empty path names nothing" "$starling" "${words[@]}" ""
  ((code_of_last == 105)) || fail "$args '': exit $code_of_last, want 105 (a bad flag)"
done

# User text quoted in an error or a log line is made printable: a NUL in a
# --config value cut the error at it ("--data 'a") after a log line holding a
# raw NUL; an escape sequence in a flag reached the terminal.
printf 'listen = "127.0.0.1:7000"\ndata = "a\\u0000b"\n' > "$work/nul.toml"
timeout 20 "$starling" peer --config "$work/nul.toml" --data-dir "$work/nul-dir" > "$work/nul.out" 2>&1
grep -q "error: --data 'a\\\\x00b' is neither" "$work/nul.out" || fail "NUL in --config data: $(cat -A "$work/nul.out")"
grep -q "loading a\\\\x00b" "$work/nul.out" || fail "NUL in the log line: $(cat -A "$work/nul.out")"
for file in nul.out; do
  LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$work/$file" && fail "a raw control byte in $file: $(cat -A "$work/$file")"
done
"$starling" train --data $'x\e[31m\001y.csv' --lr $'1\e' > "$work/esc.out" 2>&1
"$starling" train --data $'x\e[31m\001y.csv' > "$work/esc2.out" 2>&1
grep -qF "'x\\x1b[31m\\x01y.csv'" "$work/esc2.out" || fail "escape in --data: $(cat -A "$work/esc2.out")"
grep -qF "'1\\x1b'" "$work/esc.out" || fail "escape in --lr: $(cat -A "$work/esc.out")"
LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$work/esc.out" "$work/esc2.out" && fail "a raw control byte reached stderr"

finish "cli hostile_args"
