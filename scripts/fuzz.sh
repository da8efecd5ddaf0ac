#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs one.
#   scripts/fuzz.sh fuzz_codec 60
#   scripts/fuzz.sh fuzz_frame_decoder 60 [extra libFuzzer flags...]
# The corpus grows in build-fuzz/fuzz-corpus/TARGET (kept between runs); seeds
# are regenerated from tests/wire/sample_messages.h each run. A crash leaves
# its input in build-fuzz/fuzz-artifacts/; replay it with
#   build-fuzz/tests/fuzz/TARGET build-fuzz/fuzz-artifacts/TARGET-crash-...
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 fuzz_codec|fuzz_frame_decoder SECONDS [libFuzzer flags...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
case "$target" in
  fuzz_codec|fuzz_frame_decoder) ;;
  *) echo "unknown fuzz target: $target" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
jobs=${JOBS:-2}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DSTARLING_FUZZ=ON -DSTARLING_TESTS=OFF -DSTARLING_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g >/dev/null
cmake --build "$build" -j"$jobs" --target "$target" fuzz_seeds

"$build/tests/fuzz/fuzz_seeds" "$build/fuzz-seeds"
mkdir -p "$build/fuzz-corpus/$target" "$build/fuzz-artifacts"
exec "$build/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 -max_len=8192 \
  -artifact_prefix="$build/fuzz-artifacts/$target-" "$@" \
  "$build/fuzz-corpus/$target" "$build/fuzz-seeds/$target"
