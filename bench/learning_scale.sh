#!/usr/bin/env bash
# Learning at scale in the simulator (bench/README.md, "Learning at scale"):
# fault-free swarms of N peers at `starling peer`'s defaults (scaled sign,
# pairwise mixing, a 1 MB/s upload budget, the compressor's γ and k under the
# 50 ms floor), each on its own IID shard of Fashion-MNIST (60,000 / N
# images), for DURATION virtual seconds (10 ms steps, an evaluation every
# 100 steps). Does every peer learn, at every size, and what does it cost?
# Prints one JSON object per line, per (N, compressor, seed):
#   {"peers","model","compress","mixing","seed","own_mean","own_min",
#    "local_average_mean","consensus_distance","steps_to_target",
#    "peers_reached","stream_bytes_per_s","datagram_bytes_per_s","wall_s",...}
# own_*: the peers' own models at their last evaluation; local_average_mean:
# the model a peer serves by default (its own averaged with its neighbours'
# copies) at the last poll; consensus_distance and the byte rates: means over
# the second half of the run; steps_to_target: mean over peers of the first
# step at which a peer's 3-evaluation moving average reached TARGET (null
# unless every peer did). N = 1 is one replica on all the data: the
# reference.
# Environment: PEERS (default "1 2 8 32 128"), SEEDS (a count, default 1),
# SEED_FIRST (default 1), MODEL (default mlp:32, a small MLP, so that hundreds
# of peers run in minutes; mlp:256,128 is the speed-up sweep's), COMPRESS
# (default sign), MIXING (default pairwise), MAX_UPLOAD (bytes per virtual
# second, default 1000000; 0: none), DURATION (virtual s, default 30), TARGET
# (default 0.83), STARLING (binary, default build/apps/starling), OUT (run
# folders, default bench/results/learning_scale), GAMMA (optional: [swarm]
# gamma for every run).
# --help prints this.
set -euo pipefail
name=learning_scale default_peers="1 2 8 32 128" default_compress="sign" default_seeds=1
source "$(dirname "$0")/lib/sim_sweep.sh"
seed_from="${SEED_FIRST:-1}"
model="${MODEL:-mlp:32}"
mixing="${MIXING:-pairwise}"
max_upload="${MAX_UPLOAD:-1000000}"
duration="${DURATION:-30}"
target="${TARGET:-0.83}"

for n in $peers_list; do
  for c in $compress_list; do
    for ((seed = seed_from; seed < seed_from + seeds; seed++)); do
      dir=$(run_dir "$n" "$c" "$seed")
      cat > "$dir/scenario.toml" <<SCENARIO
# Written by bench/learning_scale.sh: one fault-free run of the learning-at-scale sweep.
name = "learning-scale"
description = "$n $model peers, $c, $mixing mixing, upload budget $max_upload B/s, seed $seed, $duration virtual s"
duration = $duration
seed = $seed
poll_interval = 1

[swarm]
peers = $n
model = "$model"
compress = "$c"
mixing = "$mixing"
max_upload = $max_upload
lr = 0.02
batch = 64
partition = "iid"
eval_every = 100
$gamma_line

[[expect]]
kind = "no_crash"
SCENARIO
      simulate "$dir" evaluations.csv --seed "$seed"
      python3 "$parse" scale "$dir" --peers "$n" --model "$model" --compress "$c" --mixing "$mixing" \
        --seed "$seed" --target "$target" --wall "$wall" | tee -a "$lines"
    done
  done
done
