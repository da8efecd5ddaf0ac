# Shared by the CLI tests that check one command after another and start no
# peer (sourced, not a test itself): a work folder removed on exit, `fail`
# that counts and goes on, expect_ok / expect_error / expect_refused, mode_of,
# and `finish`.
# Set before sourcing: starling (the binary).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mode_of() { stat -c %a "$1"; }

# expect_ok DESCRIPTION COMMAND...: the command succeeds; its output is in $out.
expect_ok() {
  local what=$1; shift
  if ! out=$("$@" 2>&1); then fail "$what: exit $? ($out)"; fi
}
# expect_error DESCRIPTION PATTERN COMMAND...: fails, and its output matches
# PATTERN (an extended regular expression, case-insensitive).
expect_error() {
  local what=$1 pattern=$2; shift 2
  if out=$("$@" 2>&1); then fail "$what: succeeded but should fail ($out)"; return; fi
  grep -qiE -e "$pattern" <<<"$out" || fail "$what: error does not match /$pattern/: $out"
}

# expect_refused DESCRIPTION PATTERN COMMAND...: a clean refusal, exit 1..127
# (never 0, never a signal), with PATTERN in the output; stdin is /dev/null.
# The exit code is left in $code_of_last.
expect_refused() {
  local what=$1 pattern=$2; shift 2
  out=$("$@" 2>&1 < /dev/null)
  local code=$?
  code_of_last=$code
  if ((code == 0 || code >= 128)); then fail "$what: exit $code, want a clean failure ($out)"; return; fi
  grep -qiE -e "$pattern" <<<"$out" || fail "$what: output does not match /$pattern/: $out"
}

# finish NAME: the summary line and the exit status.
finish() {
  if ((failures > 0)); then
    echo "$1: $failures failure(s)" >&2
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}
