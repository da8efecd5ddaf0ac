#!/usr/bin/env bash
# Resident memory of N training peers over the in-memory network, for the
# figure in docs/learning.md ("Memory per peer"). Appends one JSON line per N
# to OUT (default bench/results/peer_memory/LABEL.jsonl), LABEL naming the
# build measured (e.g. before / after).
#   bench/peer_memory.sh LABEL [BUILD_DIR] [N...]
set -euo pipefail
label=${1:?label}
build=${2:-build}
shift $(( $# >= 2 ? 2 : $# ))
sizes=("${@:-16 32 64 128}")
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/bench/results/peer_memory/$label.jsonl
mkdir -p "$(dirname "$out")"
: > "$out"
for n in ${sizes[@]}; do
  "$build/bench/bench_peer_memory" "$n" 128 5 8 | tee -a "$out"
done
