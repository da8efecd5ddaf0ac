#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the default test
# suite (everything but the "slow" label). Pass -L slow to run only the slow tests,
# or STARLING_TEST_ALL=1 to run everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
build=${STARLING_BUILD_DIR:-$root/build}
cd "$build"
if [[ $# -gt 0 ]]; then
  ctest --output-on-failure -j "$(nproc)" "$@"
elif [[ "${STARLING_TEST_ALL:-0}" == 1 ]]; then
  ctest --output-on-failure -j "$(nproc)"
else
  ctest --output-on-failure -j "$(nproc)" -LE slow
fi
