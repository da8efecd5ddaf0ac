#!/usr/bin/env bash
# Pure consensus at scale in the simulator (issue 13; bench/README.md,
# "Consensus at scale"): membership + delta gossip, no SGD (lr 0 on the
# synthetic objective: every replica starts at its own N(0,1) point of
# dimension DIM and moves only by consensus), for each peer count and every
# compressor at its defaults (gamma, rounds, neighbours: the peer's). Prints
# one JSON object per line:
#   {"peers","compress","seed","spread_start","spread_end","converged","average_moved",...}
# spread = mean over replicas of ||x_i - mean||^2, from the first poll round
# that saw every replica training to the end of the run; converged = the
# spread fell below FACTOR (1e-3) of its start within DURATION virtual s;
# average_moved = ||mean_end - mean_start|| / ||mean_start|| (and
# average_moved_rms: the same over the initial RMS distance sqrt(spread_start)).
# Environment: PEERS (default "2 20 200 1000"), COMPRESS (default "none int8
# topk:0.01 randk:0.01 sign"), SEEDS (a count, default 1), DURATION (virtual
# s, default 60), DIM (default 1000), CLIP (default "off": corrections applied
# as they come, so the swarm average is what consensus alone makes of it),
# FACTOR (1e-3), STARLING, OUT (default bench/results/consensus_scale), GAMMA (optional).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
starling="${STARLING:-$root/build/apps/starling}"
out="${OUT:-$root/bench/results/consensus_scale}"
peers_list="${PEERS:-2 20 200 1000}"
compress_list="${COMPRESS:-none int8 topk:0.01 randk:0.01 sign}"
seeds="${SEEDS:-1}"
duration="${DURATION:-60}"
dim="${DIM:-1000}"
clip="${CLIP:-off}"
factor="${FACTOR:-1e-3}"
parse="$root/bench/sim_runs.py"
mkdir -p "$out"
lines="$out/lines.jsonl"
: > "$lines"

for n in $peers_list; do
  for c in $compress_list; do
    for ((seed = 1; seed <= seeds; seed++)); do
      dir="$out/n$n-${c//[:.]/_}-s$seed"
      rm -rf "$dir"
      mkdir -p "$dir"
      file="$dir/scenario.toml"
      cat > "$file" <<EOF
# Written by bench/consensus_scale.sh: consensus only (lr 0), no faults.
name = "consensus-scale"
description = "$n synthetic:$dim replicas, $c, lr 0: does the spread vanish while the average stays?"
duration = $duration
seed = $seed
poll_interval = 1

[swarm]
peers = $n
data = "synthetic:$dim"
compress = "$c"
lr = 0
clip = "$clip"
${GAMMA:+gamma = $GAMMA}

[[expect]]
kind = "no_crash"
EOF
      start=$(date +%s.%N)
      # Exit status 1 (e.g. the known swarm-average invariant) still leaves the records.
      "$starling" simulate "$file" --seed "$seed" --out "$dir" > "$dir/simulate.log" 2>&1 || true
      end=$(date +%s.%N)
      if [ ! -s "$dir/spread.csv" ]; then
        echo "consensus_scale: no spread.csv in $dir (see $dir/simulate.log)" >&2
        exit 1
      fi
      python3 "$parse" consensus "$dir" --peers "$n" --compress "$c" --seed "$seed" --factor "$factor" \
        --wall "$(python3 -c "print($end - $start)")" | tee -a "$lines"
    done
  done
done
