# Helpers without side effects, shared by the CLI tests (through peers.sh
# and checks.sh) and tests/netns (sourced, not a test itself). The expect_*
# checks call the sourcing script's `fail`.

# toy_csv FILE [ROWS] [SEED]: two separable classes in 4-D, small and quick
# to load (a training peer without the data package).
toy_csv() {
  awk -v rows="${2:-600}" -v seed="${3:-7}" 'BEGIN { srand(seed); print "label,a,b,c,d";
    for (i = 0; i < rows; i++) { c = i % 2; printf "%d", c;
      for (j = 0; j < 4; j++) printf ",%.4f", (j == c ? 2 : 0) + rand() - 0.5; print "" } }' >"$1"
}

# skip_without_fashion_mnist: a SKIP line and exit 0 unless jq and Debian's
# dataset-fashion-mnist are installed (the tests that train on real data).
skip_without_fashion_mnist() {
  command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 0; }
  [[ -d /usr/share/datasets/fashion-mnist || -d /usr/share/dataset-fashion-mnist ]] ||
    { echo "SKIP: dataset-fashion-mnist not installed"; exit 0; }
}

# free_port: a free loopback port (the kernel picks; a race with another
# process is possible but unlikely, and then the start fails loudly).
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_until SECONDS COMMAND...: runs COMMAND every ${poll_seconds:-0.3} s
# until it succeeds (0) or SECONDS pass (1).
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  while ((SECONDS < deadline)); do "$@" && return 0; sleep "${poll_seconds:-0.3}"; done
  return 1
}

# above A B: A > B; at_least A B: A >= B (decimal numbers).
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

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
