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
# FACTOR (1e-3), STARLING, OUT (default bench/results/consensus_scale), GAMMA (optional),
# MIXING (optional: [swarm] mixing, e.g. on-delta; unset = the peer's default).
# --help prints this.
set -euo pipefail
name=consensus_scale default_peers="2 20 200 1000" default_compress="none int8 topk:0.01 randk:0.01 sign" default_seeds=1
source "$(dirname "$0")/lib/sim_sweep.sh"
duration="${DURATION:-60}"
dim="${DIM:-1000}"
clip="${CLIP:-off}"
factor="${FACTOR:-1e-3}"

for n in $peers_list; do
  for c in $compress_list; do
    for ((seed = 1; seed <= seeds; seed++)); do
      dir=$(run_dir "$n" "$c" "$seed")
      cat > "$dir/scenario.toml" <<EOF
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
$gamma_line
${MIXING:+mixing = \"$MIXING\"}

[[expect]]
kind = "no_crash"
EOF
      simulate "$dir" spread.csv --seed "$seed"
      python3 "$parse" consensus "$dir" --peers "$n" --compress "$c" --seed "$seed" --factor "$factor" \
        --wall "$wall" | tee -a "$lines"
    done
  done
done
