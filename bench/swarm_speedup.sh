#!/usr/bin/env bash
# Issue 13's swarm speed-up in the simulator (bench/README.md, "Swarm
# speed-up"): fault-free swarms of N MLP 784-256-128-10 peers (batch 64, lr
# 0.02, IID Fashion-MNIST shards), each peer's own model evaluated every 100 of
# its SGD steps (10 ms steps, evaluation every virtual second, no
# heterogeneity), run until every peer's 3-evaluation moving average of test
# accuracy reached TARGET (--stop-at-accuracy) or STEP_CAP steps.
# Prints one JSON object per line:
#   {"peers","compress","seed","steps_to_target","bytes_per_step","reached",...}  per run
#   {"impl":"ddp","peers","bytes_per_step",...}                                    per N
#   {"summary":true,"peers","compress","mean_steps_to_target","speedup","ddp_to_swarm_bytes",...}  per (N, C)
# Environment: PEERS (default "1 2 4 8 16"), SEEDS (a count, default 3),
# SEED_FROM (the first seed, default 1),
# COMPRESS (default "none int8 topk:0.01"), TARGET (0.88), STEP_CAP (10000),
# STARLING (binary, default build/apps/starling), OUT (run folders, default
# bench/results/swarm_speedup), GAMMA, ROUND_STEPS, ROUND_FLOOR_MS (optional:
# [swarm] gamma, round_steps, round_floor_ms for every run; unset = the peer's
# defaults, i.e. the compressor's γ and k under the 50 ms floor).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
starling="${STARLING:-$root/build/apps/starling}"
out="${OUT:-$root/bench/results/swarm_speedup}"
peers_list="${PEERS:-1 2 4 8 16}"
seeds="${SEEDS:-3}"
seed_from="${SEED_FROM:-1}"
compress_list="${COMPRESS:-none int8 topk:0.01}"
target="${TARGET:-0.88}"
step_cap="${STEP_CAP:-10000}"
step_ms=10
window=3
parse="$root/bench/sim_runs.py"
mkdir -p "$out"
lines="$out/lines.jsonl"
: > "$lines"
emit() { echo "$1" | tee -a "$lines"; }

# The cap in virtual seconds: STEP_CAP steps of step_ms each.
duration=$(python3 -c "print($step_cap * $step_ms / 1000)")
for n in $peers_list; do
  for c in $compress_list; do
    for ((seed = seed_from; seed < seed_from + seeds; seed++)); do
      dir="$out/n$n-${c//[:.]/_}-s$seed"
      rm -rf "$dir"
      mkdir -p "$dir"
      file="$dir/scenario.toml"
      cat > "$file" <<EOF
# Written by bench/swarm_speedup.sh: one fault-free run of the speed-up sweep.
name = "swarm-speedup"
description = "$n MLP peers, $c, seed $seed: until every peer's own model reaches $target (moving average of $window evaluations) or $step_cap steps"
duration = $duration
seed = $seed
poll_interval = 1

[swarm]
peers = $n
model = "mlp:256,128"
compress = "$c"
lr = 0.02
batch = 64
partition = "iid"
eval_every = 100
${GAMMA:+gamma = $GAMMA}
${ROUND_STEPS:+round_steps = $ROUND_STEPS}
${ROUND_FLOOR_MS:+round_floor_ms = $ROUND_FLOOR_MS}

[[expect]]
kind = "no_crash"
EOF
      start=$(date +%s.%N)
      # Exit status 1 (a failed expectation or invariant) still leaves the records.
      "$starling" simulate "$file" --seed "$seed" --out "$dir" --step-ms "$step_ms" \
        --stop-at-accuracy "$target" --stop-window "$window" > "$dir/simulate.log" 2>&1 || true
      end=$(date +%s.%N)
      if [ ! -s "$dir/evaluations.csv" ]; then
        echo "swarm_speedup: no evaluations.csv in $dir (see $dir/simulate.log)" >&2
        exit 1
      fi
      emit "$(python3 "$parse" speedup "$dir" --peers "$n" --compress "$c" --seed "$seed" \
        --target "$target" --window "$window" --wall "$(python3 -c "print($end - $start)")")"
    done
  done
  emit "$(python3 "$parse" ddp --peers "$n")"
done
python3 "$parse" summary "$lines" | tee -a "$lines"
