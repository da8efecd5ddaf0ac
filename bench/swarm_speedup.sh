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
# COMPRESS (default "none int8 topk:0.01"), TARGET (0.88), STEP_CAP (10000),
# STARLING (binary, default build/apps/starling), OUT (run folders, default
# bench/results/swarm_speedup), GAMMA (optional: [swarm] gamma for every run),
# SEED_FIRST (first seed, default 1; SEED_FROM is the same), ROUND_STEPS,
# ROUND_FLOOR_MS, MOMENTUM_MODE, MIXING (optional: [swarm] round_steps,
# round_floor_ms, momentum_mode, mixing for every run; unset = the peer's
# defaults, i.e. the compressor's γ and k under the simulator's 50 ms floor,
# neighbourhood mixing; MIXING=pairwise: AD-PSGD style pairings; MIXING=on-delta:
# each link pulls when the neighbour's delta arrives).
# ABSORB_SHARE (optional: [swarm] absorb_share, absorb momentum's cap on the
# velocity's share of a correction; unset = 1 - momentum).
# REFERENCE (optional: a lines.jsonl of an earlier run holding the 1-peer
# reference, e.g. PEERS=1 COMPRESS=none SEEDS=20; the summary then gives each
# swarm's speed-up against it with a 90% bootstrap interval, "speedup_ci90").
# BATCH (per-peer batch, default 64; e.g. PEERS=1 BATCH=256 is what 4-process
# DDP computes per step), NEIGHBOURS ([swarm] neighbours, the links a peer
# dials; unset = the peer's 3; PEERS-1 links every peer to all others, a
# complete graph, where the Metropolis-Hastings weights 1/PEERS and GAMMA=1
# make a round an exact average), MAX_UPLOAD ([swarm] max_upload, bytes per
# virtual second: the upload budget skips deltas that do not fit; at 10 ms
# steps, 100 times the bytes per step).
# Staleness (docs/learning.md, "Stale rounds"): STEP_MS (virtual ms per SGD
# step, default 10), HANDOFF_MS (`starling simulate --handoff-ms`: a round gets
# the parameters of step s this many ms later, as a real peer's trainer-to-loop
# hand-off; default 0), DELAY_MS / JITTER_MS (a `delay` event on every peer
# from t = 0: everything a peer sends arrives that much later, plus a uniform
# 0..JITTER_MS; default none).
# EVAL_EVERY (steps between evaluations, default 100) and EVAL_MS (`starling
# simulate --eval-ms`: virtual ms each evaluation of a peer's own model takes,
# as a real peer's training thread pauses; default 0). A real peer of the
# default MLP takes about 42 ms per evaluation of the 10,000 test samples, so
# EVAL_EVERY=500 EVAL_MS=42 STEP_MS=1 is bench/swarm_vs_ddp.sh's peer.
# HETEROGENEITY (`starling simulate --heterogeneity`: each peer's step time
# times a lognormal(0, SIGMA) factor; default 0, every peer in lockstep, where
# pairwise requests always cross: docs/learning.md, "No floor under a budget?").
# Staggered start (docs/learning.md, "Steps on real 4-peer swarms against the
# simulator"): JOIN_AT (virtual seconds): peer 0 starts alone and the other
# PEERS-1 join through it at that time (a `join` event), as
# bench/swarm_vs_ddp.sh starts real peers once peer 0 answers; default: all
# at t = 0.
# --help prints this.
set -euo pipefail
name=swarm_speedup default_peers="1 2 4 8 16" default_compress="none int8 topk:0.01" default_seeds=3
if [[ ${1:-} != -h && ${1:-} != --help && -n "${REFERENCE:-}" && ! -r "$REFERENCE" ]]; then
  # Found out now, not after the sweep's hours, and before the sweep empties OUT.
  echo "swarm_speedup: REFERENCE=$REFERENCE is not a readable file (an earlier run's lines.jsonl)" >&2
  exit 2
fi
source "$(dirname "$0")/lib/sim_sweep.sh"
seed_from="${SEED_FIRST:-${SEED_FROM:-1}}"
target="${TARGET:-0.88}"
step_cap="${STEP_CAP:-10000}"
step_ms="${STEP_MS:-10}"
handoff_ms="${HANDOFF_MS:-0}"
heterogeneity="${HETEROGENEITY:-0}"
eval_every="${EVAL_EVERY:-100}"
eval_ms="${EVAL_MS:-0}"
window=3
emit() { echo "$1" | tee -a "$lines"; }

# The cap in virtual seconds: STEP_CAP steps of step_ms each.
duration=$(python3 -c "print($step_cap * $step_ms / 1000)")
for n in $peers_list; do
  for c in $compress_list; do
    for ((seed = seed_from; seed < seed_from + seeds; seed++)); do
      dir=$(run_dir "$n" "$c" "$seed")
      initial=$n
      [[ -n "${JOIN_AT:-}" && $n -gt 1 ]] && initial=1
      cat > "$dir/scenario.toml" <<EOF
# Written by bench/swarm_speedup.sh: one fault-free run of the speed-up sweep.
name = "swarm-speedup"
description = "$n MLP peers, $c, seed $seed: until every peer's own model reaches $target (moving average of $window evaluations) or $step_cap steps"
duration = $duration
seed = $seed
poll_interval = 1

[swarm]
peers = $initial
model = "mlp:256,128"
compress = "$c"
lr = 0.02
batch = ${BATCH:-64}
partition = "iid"
eval_every = $eval_every
$gamma_line
${ROUND_STEPS:+round_steps = $ROUND_STEPS}
${ROUND_FLOOR_MS:+round_floor_ms = $ROUND_FLOOR_MS}
${MOMENTUM_MODE:+momentum_mode = \"$MOMENTUM_MODE\"}
${ABSORB_SHARE:+absorb_share = $ABSORB_SHARE}
${MIXING:+mixing = \"$MIXING\"}
${NEIGHBOURS:+neighbours = $NEIGHBOURS}
${MAX_UPLOAD:+max_upload = $MAX_UPLOAD}

[[expect]]
kind = "no_crash"
EOF
      if [[ $initial -ne $n ]]; then
        printf '\n[[events]]\nat = %s\nkind = "join"\ncount = %s\n' "$JOIN_AT" "$((n - 1))" >> "$dir/scenario.toml"
      fi
      if [[ -n "${DELAY_MS:-}" ]]; then
        printf '\n[[events]]\nat = 0\nkind = "delay"\npeers = "all"\nms = %s\njitter_ms = %s\n' \
          "$DELAY_MS" "${JITTER_MS:-0}" >> "$dir/scenario.toml"
      fi
      simulate "$dir" evaluations.csv --seed "$seed" --step-ms "$step_ms" --handoff-ms "$handoff_ms" \
        --heterogeneity "$heterogeneity" --eval-ms "$eval_ms" --stop-at-accuracy "$target" --stop-window "$window"
      emit "$(python3 "$parse" speedup "$dir" --peers "$n" --compress "$c" --seed "$seed" \
        --target "$target" --window "$window" --wall "$wall")"
    done
  done
  emit "$(python3 "$parse" ddp --peers "$n")"
done
summary_lines=$(python3 "$parse" summary "$lines" ${REFERENCE:+"$REFERENCE"})
echo "$summary_lines" | tee -a "$lines"
