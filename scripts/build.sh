#!/usr/bin/env bash
# Configures and builds starling in ./build (or $STARLING_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DSTARLING_SANITIZE=address,undefined
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${STARLING_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
