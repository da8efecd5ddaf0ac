#!/usr/bin/env bash
# Training at scale in the simulator: runs scenarios/sim/training-scale.toml
# with each peer count given (default 1 2 4 8 16) and prints, per N, when the
# swarm's mean test accuracy first passed 80% and 85% (virtual seconds and
# SGD steps per peer at that time), the final mean accuracy, bytes sent per
# peer, and the wall time the run took. Usage:
#   bench/sim_training_scale.sh [N ...]     (binary: build/apps/starling)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
starling="${STARLING:-$root/build/apps/starling}"
out="${OUT:-$root/bench/results/sim_training_scale}"
mkdir -p "$out"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4 8 16)
echo "| peers | mean acc >= 0.80 at (virtual s, steps/peer) | >= 0.85 at | final mean acc | MB sent/peer | wall s |"
echo "|---|---|---|---|---|---|"
for n in "${counts[@]}"; do
  dir="$out/n$n"
  rm -rf "$dir"
  start=$(date +%s.%N)
  "$starling" simulate "$root/scenarios/sim/training-scale.toml" --peers "$n" --out "$dir" > "$dir.log" 2>&1 || true
  end=$(date +%s.%N)
  python3 - "$dir/metrics.csv" "$n" "$(echo "$end - $start" | bc)" <<'PY'
import csv, sys, collections
path, n, wall = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = collections.defaultdict(dict)
for r in csv.DictReader(open(path)):
    if r["accuracy"]:
        rows[float(r["time_s"])][r["peer"]] = (float(r["accuracy"]), int(r["step"] or 0), int(r["bytes_sent"] or 0))
def first(level):
    for t in sorted(rows):
        v = rows[t]
        if len(v) == n and sum(a for a, _, _ in v.values()) / n >= level:
            return f"{t:.0f} s, {sum(s for _, s, _ in v.values()) / n:.0f}"
    return "not reached"
last = rows[max(rows)]
acc = sum(a for a, _, _ in last.values()) / len(last)
mb = sum(b for _, _, b in last.values()) / len(last) / 1e6
print(f"| {n} | {first(0.80)} | {first(0.85)} | {acc:.3f} | {mb:.1f} | {wall:.0f} |")
PY
done
