#!/usr/bin/env bash
# Output that cannot be written is an error in every command: `--help`,
# `--version` and each command's own answer onto a full disk (/dev/full) or a
# closed stdout exit 1 with `starling[ CMD]: error: cannot write the output:
# REASON` on stderr. `--help > /dev/full` used to exit 0 and say nothing.
# Usage: output_errors.sh /path/to/starling
set -u
starling=${1:?usage: output_errors.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

# expect_write_error DESCRIPTION PROGRAM REASON REDIRECTION ARGS...: exit 1
# and one "PROGRAM: error: cannot write the output: REASON" line (REASON: an
# extended regular expression).
expect_write_error() {
  local what=$1 program=$2 reason=$3 redirection=$4; shift 4
  local rc=0
  case $redirection in
    full) "$starling" "$@" >/dev/full 2>"$work/err" || rc=$? ;;
    closed) "$starling" "$@" >&- 2>"$work/err" || rc=$? ;;
  esac
  ((rc == 1)) || fail "$what: exit $rc, want 1 ($(cat "$work/err"))"
  grep -qEx "$program: error: cannot write the output: $reason" "$work/err" ||
    fail "$what: no write error on stderr: $(cat "$work/err")"
}

full="No space left on device"
expect_write_error "--help onto /dev/full" starling "$full" full --help
expect_write_error "--version onto /dev/full" starling "$full" full --version
# A command's help (peer's is larger than stdio's buffer, so it fails before
# the final flush) names the command.
for command in peer status top train eval export keygen init scenario simulate; do
  expect_write_error "$command --help onto /dev/full" "starling $command" "$full" full "$command" --help
done
expect_write_error "--help onto a closed stdout" starling "Bad file descriptor" closed --help
expect_write_error "peer --help onto a closed stdout" "starling peer" "Bad file descriptor" closed peer --help

# A command's own answer, through the same check (the answer is small: the
# reason is known; a larger one failing before the end says "write error").
expect_write_error "keygen onto /dev/full" "starling keygen" "$full" full keygen --swarm "$work/swarm.key"
[[ -s "$work/swarm.key" ]] || fail "keygen onto /dev/full did not write its key file"
expect_write_error "keygen --check onto a closed stdout" "starling keygen" "Bad file descriptor" closed \
  keygen --check "$work/swarm.key"
expect_write_error "peer --print-config onto /dev/full" "starling peer" "(No space left on device|write error)" full \
  peer --listen 127.0.0.1:7000 --print-config

# A reader that left wanted no more: exit 1, no message (as SIGPIPE would).
# The pipe's read end is closed before the command starts, so its first
# write fails (`| head -1` would race the 64 KiB pipe buffer).
rc=$(/usr/bin/python3 -c '
import os, subprocess, sys
read_end, write_end = os.pipe()
os.close(read_end)
done = subprocess.run([sys.argv[1], "peer", "--help"], stdout=write_end, stderr=open(sys.argv[2], "wb"))
print(done.returncode)' "$starling" "$work/err")
((rc == 1)) || fail "peer --help into a pipe nobody reads: exit $rc, want 1"
[[ ! -s "$work/err" ]] || fail "peer --help into a pipe nobody reads wrote to stderr: $(cat "$work/err")"
# The same for a command's own answer longer than stdio's buffer, whose
# failed write left no reason behind by the end.
rc=$(/usr/bin/python3 -c '
import os, subprocess, sys
read_end, write_end = os.pipe()
os.close(read_end)
done = subprocess.run([sys.argv[1], "peer", "--listen", "127.0.0.1:7000", "--print-config"], stdout=write_end,
                      stderr=open(sys.argv[2], "wb"))
print(done.returncode)' "$starling" "$work/err")
((rc == 1)) || fail "peer --print-config into a pipe nobody reads: exit $rc, want 1"
[[ ! -s "$work/err" ]] || fail "peer --print-config into a pipe nobody reads wrote to stderr: $(cat "$work/err")"

# What reaches stdout is unchanged, and a parse error keeps its own status
# (nothing was written to stdout: no write error is added).
expect_ok "--help" "$starling" --help
grep -q "Usage:" <<<"$out" || fail "--help printed no usage: $out"
expect_ok "--version" "$starling" --version
grep -qx "starling [0-9]*\.[0-9]*\.[0-9]*" <<<"$out" || fail "--version: $out"
rc=0
"$starling" peer --no-such-flag >/dev/full 2>"$work/err" || rc=$?
((rc != 0 && rc != 1)) || fail "a bad flag onto /dev/full: exit $rc, want CLI11's own status"
grep -q "cannot write the output" "$work/err" && fail "a bad flag onto /dev/full reports a write error: $(cat "$work/err")"

finish output_errors.sh
