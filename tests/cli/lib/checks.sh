# Shared by the CLI tests that check one command after another and start no
# peer (sourced, not a test itself): a work folder removed on exit, `fail`
# that counts and goes on, mode_of, and `finish`; with lib/helpers.sh
# (expect_ok / expect_error / expect_refused, toy_csv, ...).
# Set before sourcing: starling (the binary).
source "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mode_of() { stat -c %a "$1"; }

# finish NAME: the summary line and the exit status.
finish() {
  if ((failures > 0)); then
    echo "$1: $failures failure(s)" >&2
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}
