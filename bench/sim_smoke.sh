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

# A reference from an "earlier run": three 1-peer runs.
for seed in 1 2 3; do
  echo "{\"peers\": 1, \"compress\": \"none\", \"seed\": $seed, \"steps_to_target\": 3000, \"reached\": true, \"bytes_per_step\": 0.0}"
done > "$work/reference.jsonl"
OUT="$work/speedup" PEERS=2 SEEDS=1 COMPRESS=int8 TARGET=0.6 STEP_CAP=1500 REFERENCE="$work/reference.jsonl" \
  bash "$root/bench/swarm_speedup.sh" > "$work/speedup.jsonl"
# A REFERENCE that is not there stops the sweep before it runs anything.
if OUT="$work/bad" PEERS=2 SEEDS=1 REFERENCE="$work/missing.jsonl" bash "$root/bench/swarm_speedup.sh" \
    > /dev/null 2> "$work/bad.err"; then
  echo "swarm_speedup.sh ran with a missing REFERENCE" >&2; exit 1
fi
if ! grep -q "REFERENCE=.*not a readable file" "$work/bad.err" || [ -e "$work/bad" ]; then
  echo "swarm_speedup.sh: no clear error for a missing REFERENCE, or it started the sweep" >&2; exit 1
fi
OUT="$work/consensus" PEERS=2 SEEDS=1 COMPRESS=int8 DURATION=10 DIM=100 \
  bash "$root/bench/consensus_scale.sh" > "$work/consensus.jsonl"
OUT="$work/scale" PEERS="1 3" MODEL=mlp:8 DURATION=4 TARGET=0.5 \
  bash "$root/bench/learning_scale.sh" > "$work/scale.jsonl"

python3 - "$work/speedup.jsonl" "$work/consensus.jsonl" "$root/bench/sim_runs.py" "$work" "$work/scale.jsonl" <<'PY'
import json, subprocess, sys

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
summary = [l for l in speedup if l.get("summary") and l["peers"] == 2]
assert len(runs) == 1 and len(ddp) == 1 and len(summary) == 1, speedup
fields(runs[0], {"peers": int, "compress": str, "seed": int, "steps_to_target": number, "bytes_per_step": number,
                 "reached": bool})
assert runs[0]["peers"] == 2 and runs[0]["compress"] == "int8" and runs[0]["reached"], runs[0]
assert 0 < runs[0]["steps_to_target"] <= 1500 and runs[0]["bytes_per_step"] > 0, runs[0]
fields(ddp[0], {"impl": str, "peers": int, "bytes_per_step": number})
assert ddp[0]["bytes_per_step"] == 2 * (2 - 1) / 2 * 4 * 235146, ddp[0]
fields(summary[0], {"peers": int, "compress": str, "mean_steps_to_target": number, "ddp_to_swarm_bytes": number,
                    "speedup": number})
# REFERENCE's three runs are the reference; one swarm seed gives no interval.
assert summary[0]["reference_mean_steps"] == 3000.0 and summary[0]["speedup_ci90"] is None, summary[0]

consensus = lines(sys.argv[2])
assert len(consensus) == 1, consensus
fields(consensus[0], {"peers": int, "compress": str, "seed": int, "spread_start": number, "spread_end": number,
                      "converged": bool, "average_moved": number})
assert consensus[0]["spread_end"] < consensus[0]["spread_start"], consensus[0]

# Learning at scale: one replica and 3 peers at the peer's defaults.
scale = lines(sys.argv[5])
assert [l["peers"] for l in scale] == [1, 3], scale
for l in scale:
    fields(l, {"model": str, "compress": str, "mixing": str, "own_mean": number, "own_min": number,
               "local_average_mean": number, "peers_reached": int, "stream_bytes_per_s": number,
               "datagram_bytes_per_s": number, "wall_s": number})
    assert l["model"] == "mlp:8" and l["compress"] == "sign" and l["mixing"] == "pairwise", l
    assert l["peers_seen"] == l["peers"] and 0.5 < l["own_min"] <= l["own_mean"] < 1.0, l
one, swarm = scale
assert one["stream_bytes_per_s"] == 0 and one["consensus_distance"] is None, one
# Three peers gossip: deltas on the streams, SWIM on datagrams, a distance measured.
assert swarm["stream_bytes_per_s"] > 0 and swarm["datagram_bytes_per_s"] > 0, swarm
assert swarm["consensus_distance"] is not None and swarm["consensus_distance"] > 0, swarm
# summary over two files (a reference and a swarm run apart): the speed-up is
# the ratio of the means, with a bootstrap interval over the reached runs.
def run(peers, seed, steps):
    return {"peers": peers, "compress": "none" if peers == 1 else "sign", "seed": seed,
            "steps_to_target": steps, "reached": steps is not None, "bytes_per_step": 0.0 if peers == 1 else 10.0}

def summarize(ref_runs, own_runs):
    files = []
    for name, runs_ in (("ref", ref_runs), ("own", own_runs)):
        path = f"{sys.argv[4]}/{name}.jsonl"
        with open(path, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in runs_))
        files.append(path)
    out = subprocess.run([sys.executable, sys.argv[3], "summary", *files], check=True, capture_output=True, text=True)
    return [json.loads(t) for t in out.stdout.splitlines() if json.loads(t)["peers"] == 4][0]

# No spread on either side: every draw is the same ratio.
line = summarize([run(1, s, 400) for s in range(1, 7)], [run(4, s, 200) for s in (1, 2, 3, 4)])
assert line["speedup"] == 2.0 and line["speedup_ci90"] == [2.0, 2.0], line
assert line["reference_mean_steps"] == 400.0 and line["reference_seeds_reached"] == 6, line
# Spread: the interval holds the ratio of means and lies between the extreme ratios.
line = summarize([run(1, s, t) for s, t in ((1, 400), (2, 600), (3, 500), (4, 900))],
                 [run(4, s, t) for s, t in ((1, 200), (2, 200), (3, 250), (4, 300))])
lo, hi = line["speedup_ci90"]
assert lo < line["speedup"] < hi and lo > 400 / 300 and hi < 900 / 200, line
# A reference seed that never reached is left out of the mean and the interval.
line = summarize([run(1, 1, 400), run(1, 2, None), run(1, 3, 500), run(1, 4, 600)],
                 [run(4, s, 100) for s in (1, 2, 3, 4)])
assert line["reference_mean_steps"] == 500.0 and line["reference_seeds_reached"] == 3, line
lo, hi = line["speedup_ci90"]
assert 4.0 <= lo < hi <= 6.0, line
# Fewer than three reached runs on a side: no interval.
line = summarize([run(1, 1, 400), run(1, 2, 500)], [run(4, s, 100) for s in (2, 3, 4)])
assert line["speedup_ci90"] is None, line
print("sim benchmark scripts: output well-formed")
PY
