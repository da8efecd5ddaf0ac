#!/usr/bin/env bash
# CTest smoke test of the simulator benchmarks (label "bench"): runs
# bench/swarm_speedup.sh and bench/consensus_scale.sh in a tiny configuration
# and checks that every line is JSON with the documented fields, so a broken
# script, record file or parser fails CI. Not a measurement. Usage:
#   bench/sim_smoke.sh STARLING_BINARY
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export STARLING="${1:?usage: sim_smoke.sh STARLING_BINARY}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

OUT="$work/speedup" PEERS=2 SEEDS=1 COMPRESS=int8 TARGET=0.6 STEP_CAP=1500 \
  bash "$root/bench/swarm_speedup.sh" > "$work/speedup.jsonl"
OUT="$work/consensus" PEERS=2 SEEDS=1 COMPRESS=int8 DURATION=10 DIM=100 \
  bash "$root/bench/consensus_scale.sh" > "$work/consensus.jsonl"

python3 - "$work/speedup.jsonl" "$work/consensus.jsonl" <<'PY'
import json, sys

def lines(path):
    out = [json.loads(t) for t in open(path) if t.strip()]
    assert out, f"{path}: no output"
    return out

def fields(line, spec):
    for name, kinds in spec.items():
        assert name in line, f"missing {name!r} in {line}"
        assert isinstance(line[name], kinds), f"{name!r} has the wrong type in {line}"

number = (int, float)
speedup = lines(sys.argv[1])
runs = [l for l in speedup if "seed" in l]
ddp = [l for l in speedup if l.get("impl") == "ddp"]
summary = [l for l in speedup if l.get("summary")]
assert len(runs) == 1 and len(ddp) == 1 and len(summary) == 1, speedup
fields(runs[0], {"peers": int, "compress": str, "seed": int, "steps_to_target": number, "bytes_per_step": number,
                 "reached": bool})
assert runs[0]["peers"] == 2 and runs[0]["compress"] == "int8" and runs[0]["reached"], runs[0]
assert 0 < runs[0]["steps_to_target"] <= 1500 and runs[0]["bytes_per_step"] > 0, runs[0]
fields(ddp[0], {"impl": str, "peers": int, "bytes_per_step": number})
assert ddp[0]["bytes_per_step"] == 2 * (2 - 1) / 2 * 4 * 235146, ddp[0]
fields(summary[0], {"peers": int, "compress": str, "mean_steps_to_target": number, "ddp_to_swarm_bytes": number})

consensus = lines(sys.argv[2])
assert len(consensus) == 1, consensus
fields(consensus[0], {"peers": int, "compress": str, "seed": int, "spread_start": number, "spread_end": number,
                      "converged": bool, "average_moved": number})
assert consensus[0]["spread_end"] < consensus[0]["spread_start"], consensus[0]
print("sim benchmark scripts: output well-formed")
PY
