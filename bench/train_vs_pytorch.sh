#!/usr/bin/env bash
# Single-replica training: starling vs PyTorch (Debian's python3-torch with
# OpenBLAS), same MLP 784-256-128-10, SGD momentum 0.9, one thread, measured
# side by side in this one run. Prints a table and writes bench/results/*.json.
#
#   bench/train_vs_pytorch.sh            # throughput at batch 32/64/256 + accuracy runs
#   EPOCHS=10 ROUNDS=3 bench/train_vs_pytorch.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
STARLING_WITH_BENCH=1 "$root/scripts/install-deps.sh"
"$root/scripts/build.sh" >/dev/null
build=${STARLING_BUILD_DIR:-$root/build}
out=$root/bench/results
mkdir -p "$out"
rounds=${ROUNDS:-3}
epochs=${EPOCHS:-10}
py=/usr/bin/python3
# One thread for the reference too: torch.set_num_threads does not bind
# OpenBLAS's own pool, which would otherwise take the second core.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

echo "== step throughput (samples/s, best of $rounds interleaved rounds, 1 thread) =="
: > "$out/throughput.jsonl"
for round in $(seq "$rounds"); do
  for batch in 32 64 256; do
    "$py" "$root/bench/pytorch_reference.py" --mode throughput --batch "$batch" --seconds 2 >> "$out/throughput.jsonl"
    "$build/bench/bench_ml" --benchmark_filter="BM_TrainStep/$batch/" --benchmark_format=json 2>/dev/null |
      "$py" -c "import json,sys; d=json.load(sys.stdin)['benchmarks'][0]; print(json.dumps({'impl':'starling','batch':$batch,'samples_per_second':d['items_per_second']}))" \
      >> "$out/throughput.jsonl"
  done
done
"$py" - "$out/throughput.jsonl" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["impl"], r["batch"])
    best[key] = max(best.get(key, 0), r["samples_per_second"])
print(f"{'batch':>6} {'starling':>12} {'pytorch':>12} {'ratio':>7}")
for b in (32, 64, 256):
    s, p = best[("starling", b)], best[("pytorch", b)]
    print(f"{b:>6} {s:>12.0f} {p:>12.0f} {s / p:>6.2f}x")
PY

echo "== accuracy: $epochs epochs, batch 64, lr 0.02 =="
"$py" "$root/bench/pytorch_reference.py" --mode accuracy --epochs "$epochs" --batch 64 --lr 0.02 > "$out/accuracy_pytorch.jsonl"
"$build/apps/starling" train --epochs "$epochs" --batch 64 --lr 0.02 --json -q > "$out/accuracy_starling.jsonl"
"$py" - "$out/accuracy_pytorch.jsonl" "$out/accuracy_starling.jsonl" <<'PY'
import json, sys
def curve(path):
    rows = [json.loads(l) for l in open(path)]
    return [(r["epoch"], r["test_accuracy"], r["train_seconds"]) for r in rows if "test_accuracy" in r and r.get("event", "evaluation") == "evaluation"]
for name, path in (("pytorch", sys.argv[1]), ("starling", sys.argv[2])):
    c = curve(path)
    first = c[0]
    hit = next((r for r in c if r[1] >= 0.88), None)
    t88 = f"{hit[2]:.2f} s (epoch {hit[0]:.0f})" if hit else "not reached"
    print(f"{name:>9}: epoch 1 {100*first[1]:.2f}%  final {100*c[-1][1]:.2f}% after {c[-1][0]:.0f} epochs  "
          f"time to 88%: {t88}")
PY
