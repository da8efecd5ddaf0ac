#!/usr/bin/env bash
# Output files that are not files: every command that writes atomically
# (train's checkpoint, eval --dump-logits, export --onnx, keygen) given
# /dev/stdout, /dev/stderr, /proc/self/fd/N or /dev/fd/N. Into a pipe, train
# blocked for ever (the check followed /proc's links by their text,
# "pipe:[123]", took the pipe for a file not made yet, then opened it to read
# its magic), and eval and export failed on a temporary file named after the
# pipe. Onto a regular file, the rename replaced it, and what the command
# printed next went to the unlinked file: lost, exit 0. Each is now refused at
# once, naming the reason (docs/cli.md; docs/errors.md, the
# write_file_atomically row).
# Usage: output_targets.sh STARLING_BINARY
set -u
starling=${1:?usage: output_targets.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"
toy_csv "$work/toy.csv"
data=(--data "$work/toy.csv")
"$starling" train "${data[@]}" --model linear --epochs 1 -q --checkpoint "$work/a.ckpt" >/dev/null 2>&1 ||
  { fail "train a checkpoint to read"; finish output_targets.sh; }

not_a_file="it exists and is not a regular file \(a device, FIFO or socket\)"

# into_pipe DESCRIPTION WANT_EXIT PATTERN COMMAND...: COMMAND runs with stdout,
# stderr and fd 3 one pipe (read by cat), stdin /dev/null, under a timeout:
# it must end at once with exit WANT_EXIT and PATTERN in what it printed.
into_pipe() {
  local what=$1 want=$2 pattern=$3; shift 3
  timeout -k 5 15 "$@" </dev/null 2>&1 3>&1 | cat >"$work/out"
  local code=${PIPESTATUS[0]}
  if ((code == 124 || code == 137)); then fail "$what: still running after 15 s (blocked on the pipe)"; return; fi
  ((code == want)) || fail "$what: exit $code, want $want: $(cat "$work/out")"
  grep -qE -e "$pattern" "$work/out" || fail "$what: output does not match /$pattern/: $(cat "$work/out")"
}

train=("$starling" train "${data[@]}" --model linear --epochs 1 -q)
for target in /dev/stdout /dev/stderr /proc/self/fd/1 /proc/self/fd/2 /dev/fd/3; do
  into_pipe "train --checkpoint $target into a pipe" 2 "cannot write $target: $not_a_file" \
    "${train[@]}" --checkpoint "$target"
  into_pipe "train --resume --checkpoint $target into a pipe" 2 "cannot write $target: $not_a_file" \
    "${train[@]}" --resume --checkpoint "$target"
done
ln -s /dev/stdout "$work/to-stdout"
into_pipe "train --checkpoint through a link to /dev/stdout" 2 "$not_a_file" \
  "${train[@]}" --checkpoint "$work/to-stdout"
for target in /dev/stdout /proc/self/fd/1 /dev/fd/3; do
  into_pipe "eval --dump-logits $target into a pipe" 1 "cannot write $target: $not_a_file" \
    "$starling" eval "$work/a.ckpt" "${data[@]}" --limit 3 --dump-logits "$target"
  into_pipe "export --onnx $target into a pipe" 1 "cannot write $target: $not_a_file" \
    "$starling" export "$work/a.ckpt" --onnx "$target"
done
into_pipe "keygen --swarm /dev/stdout --force into a pipe" 1 "not a regular file" \
  "$starling" keygen --swarm /dev/stdout --force
[[ -z $(find "$work" -name '.*tmp*') ]] || fail "temporary files left behind: $(ls -A "$work")"

# onto_stdout DESCRIPTION WANT_EXIT PATTERN COMMAND...: COMMAND runs with
# stdout the regular file $work/stdout.txt (holding "before"); an empty
# PATTERN checks nothing.
onto_stdout() {
  local what=$1 want=$2 pattern=$3; shift 3
  echo before >"$work/stdout.txt"
  timeout -k 5 30 "$@" </dev/null >"$work/stdout.txt" 2>"$work/err"
  local code=$?
  ((code == want)) || fail "$what: exit $code, want $want: $(cat "$work/err")"
  [[ -z $pattern ]] || grep -qE -e "$pattern" "$work/err" || fail "$what: stderr does not match /$pattern/: $(cat "$work/err")"
}
stdout_file="it is this command's standard output or error"
for target in /dev/stdout /proc/self/fd/1 "$work/stdout.txt"; do
  onto_stdout "eval --dump-logits $target onto a file" 1 "cannot write $target: $stdout_file" \
    "$starling" eval "$work/a.ckpt" "${data[@]}" --limit 3 --dump-logits "$target"
  onto_stdout "export --onnx $target onto a file" 1 "cannot write $target: $stdout_file" \
    "$starling" export "$work/a.ckpt" --onnx "$target"
  onto_stdout "train --checkpoint $target onto a file" 2 "cannot write $target: $stdout_file" \
    "${train[@]}" --force --checkpoint "$target"
done
# Not standard output: written as ever, and the summary reaches stdout.
onto_stdout "eval --dump-logits FILE with stdout another file" 0 "" \
  "$starling" eval "$work/a.ckpt" "${data[@]}" --limit 3 --dump-logits "$work/logits.json"
grep -q '"predictions"' "$work/logits.json" || fail "eval --dump-logits FILE wrote no logits"
grep -q "accuracy" "$work/stdout.txt" || fail "eval's summary did not reach stdout: $(cat "$work/stdout.txt")"

finish output_targets.sh
