#!/usr/bin/env bash
# Swarm benchmark (issue 5): starling with 2 and 4 peers and each compressor
# against PyTorch DDP over gloo (2 and 4 processes) and single-process PyTorch,
# same MLP 784-256-128-10 on Fashion-MNIST, one thread per process, side by
# side in one run on this machine. Measures time to 88% test accuracy (every
# live peer) and bytes sent per peer per step; prints a table with both targets
# checked and plots accuracy against time and against bytes.
#
#   bench/swarm_vs_ddp.sh                 # everything, one round
#   ROUNDS=3 DURATION=60 bench/swarm_vs_ddp.sh
#   CONFIGS="pytorch-1 starling-2-none ddp-2" bench/swarm_vs_ddp.sh
#
# Environment:
#   CONFIGS      subset, space-separated (default: all, interleaved):
#                pytorch-1 ddp-2 ddp-4 starling-1 starling-N-COMPRESSOR
#                (N = 2 or 4 peers, COMPRESSOR = none topk:0.01 int8 sign ...;
#                a suffix +FLAG+FLAG adds peer flags to that configuration only,
#                e.g. starling-2-int8+--round-floor=50)
#   DURATION     per-run limit in seconds (default 90): training clock for
#                PyTorch, wall since launch for starling
#   ROUNDS       rounds over all configurations (default 1); the table shows medians
#   BATCH, LR    per process / peer (default 64 and 0.02, the same for both systems)
#   DATA         starling's --data (default fashion-mnist; e.g. a folder of the
#                same IDX files unzipped, to see what the start-up's load costs)
#   EVAL_EVERY   PyTorch: seconds of training clock between evaluations (default 1)
#   PEER_EVAL_STEPS  starling peers: --eval-every STEPS (default 500)
#   PEER_LOCAL_AVERAGE_EVERY  starling peers: --local-average-every N (default 0:
#                never evaluate the local average; the measure reads each peer's own
#                model, and starling train evaluates its one model; 1 = the peer's default)
#   POLL         seconds between status polls of every peer (default 0.5: a peer
#                evaluating every 500 steps at ~900 steps/s is seen at each evaluation)
#   TARGET       accuracy target (default 0.88)
#   PEER_ARGS    extra flags for every starling peer, e.g. "--gossip-interval=50"
#                (use the --flag=value form; default: the peer's own defaults,
#                since session 12 pairwise mixing under a 1 MB/s upload budget:
#                starling-N-C+--mixing=neighbourhood+--max-upload=0 is the old default
#                mixing without a budget)
#   STARLING_BUILD_DIR  build folder (default ./build)
#   SKIP_INSTALL=1, SKIP_BUILD=1  skip those steps
# Each run's file ends with the 1-minute load average before and after it:
# other work on the machine slows every configuration, the multi-process ones most.
# Output: bench/results/swarm/runs/*.jsonl (one per run), peer logs in
# bench/results/swarm/work/, bench/results/swarm/summary.json, and the plot
# bench/results/swarm_vs_ddp.png (+ .svg). Runs use a private network namespace
# per run when allowed (root), so loopback byte counts hold only that run.
set -euo pipefail
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
[[ $# -eq 0 ]] || { echo "usage: bench/swarm_vs_ddp.sh (options via environment; --help)" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
build=${STARLING_BUILD_DIR:-$root/build}
out=$root/bench/results/swarm
py=/usr/bin/python3
duration=${DURATION:-90}
rounds=${ROUNDS:-1}
batch=${BATCH:-64}
lr=${LR:-0.02}
data=${DATA:-fashion-mnist}
eval_every=${EVAL_EVERY:-1}
peer_eval_steps=${PEER_EVAL_STEPS:-500}
peer_local_average_every=${PEER_LOCAL_AVERAGE_EVERY:-0}
poll=${POLL:-0.5}
target=${TARGET:-0.88}
# Interleaved so that drift in the machine's load touches both systems alike.
all="pytorch-1 starling-2-none ddp-2 starling-2-topk:0.01 starling-1 starling-2-int8 ddp-4 starling-2-sign
     starling-4-none starling-4-topk:0.01 starling-4-int8 starling-4-sign"
configs=${CONFIGS:-$all}
peer_args=()
for a in ${PEER_ARGS:-}; do peer_args+=("--peer-arg=$a"); done
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  STARLING_WITH_BENCH=1 "$root/scripts/install-deps.sh"
fi
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target starling -j "$(nproc)" >/dev/null
fi
starling=$build/apps/starling
[[ -x "$starling" ]] || { echo "swarm_vs_ddp: no $starling" >&2; exit 1; }

rm -rf "$out/runs" "$out/work"
mkdir -p "$out/runs" "$out/work"

# Every run is one process group led by `timeout` (bounded); on exit or Ctrl-C
# the current group gets SIGTERM (the drivers stop their peers / ranks), then
# SIGKILL if anything is left after a bounded wait.
current=""
cleanup() {
  if [[ -n "$current" ]] && kill -0 "$current" 2>/dev/null; then
    kill -TERM -- "-$current" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$current" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$current" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run() {  # run NAME FILE -- COMMAND...: bounded, in its own process group, output to FILE
  local name=$1 file=$2
  shift 3
  echo "swarm_vs_ddp: round $round: $name" >&2
  # The machine's load before and after, so a reader can tell a quiet run from a contended one.
  local load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  timeout --kill-after=15 "$((duration + 90))" "$@" > "$file" &
  current=$!
  local rc=0
  wait "$current" || rc=$?
  current=""
  echo "{\"event\": \"load\", \"loadavg_1min_before\": $load_before, \"loadavg_1min_after\": $(cut -d' ' -f1 /proc/loadavg), \"cores\": $(getconf _NPROCESSORS_ONLN)}" >> "$file"
  if [[ $rc -ne 0 ]]; then
    echo "swarm_vs_ddp: $name failed (exit $rc); its partial output stays in $file" >&2
  fi
  grep '"event": "summary"' "$file" | tail -1 | "$py" -c '
import json, sys
line = sys.stdin.read().strip()
if line:
    s = json.loads(line)
    t = s.get("time_to_target")
    b = s.get("bytes_per_proc_per_step", s.get("bytes_per_peer_per_step"))
    a = s.get("final_accuracy")
    print("  -> time to target:", t if t is None else round(t, 2), "s, final accuracy", a,
          ", bytes/step", b if b is None else round(b), file=sys.stderr)' || true
}

for round in $(seq "$rounds"); do
  for config in $configs; do
    file=$out/runs/r$round-${config//:/_}.jsonl
    case $config in
      pytorch-1)
        run "$config" "$file" -- "$py" "$root/bench/pytorch_ddp_reference.py" --procs 1 --batch "$batch" --lr "$lr" \
          --target "$target" --time-limit "$duration" --eval-every "$eval_every" --seed "$round" ;;
      ddp-*)
        run "$config" "$file" -- "$py" "$root/bench/pytorch_ddp_reference.py" --procs "${config#ddp-}" \
          --batch "$batch" --lr "$lr" --target "$target" --time-limit "$duration" --eval-every "$eval_every" \
          --seed "$round" ;;
      starling-1)
        run "$config" "$file" -- "$py" "$root/bench/starling_swarm.py" --starling "$starling" --peers 1 --data "$data" \
          --batch "$batch" --lr "$lr" --target "$target" --time-limit "$duration" --random-seed "$round" ;;
      starling-*-*)
        # CONFIG+ARG+ARG...: extra peer flags for this configuration only, so
        # variants run interleaved in one run (e.g. starling-2-int8+--round-floor=50).
        extra=()
        if [[ $config == *+* ]]; then
          IFS=+ read -ra more <<< "${config#*+}"
          for a in "${more[@]}"; do extra+=("--peer-arg=$a"); done
        fi
        rest=${config%%+*}
        rest=${rest#starling-}
        peers=${rest%%-*}
        compress=${rest#*-}
        run "$config" "$file" -- "$py" "$root/bench/starling_swarm.py" --starling "$starling" --peers "$peers" --data "$data" \
          --compress "$compress" --batch "$batch" --lr "$lr" --target "$target" --time-limit "$duration" \
          --eval-every "$peer_eval_steps" --local-average-every "$peer_local_average_every" \
          --poll "$poll" --random-seed "$round" \
          --workdir "$out/work/r$round-${config//:/_}" ${peer_args[@]+"${peer_args[@]}"} ${extra[@]+"${extra[@]}"} ;;
      *) echo "swarm_vs_ddp: unknown configuration '$config'" >&2; exit 2 ;;
    esac
  done
done

echo
"$py" "$root/bench/plot_swarm.py" "$out" --target "$target" --out "$root/bench/results/swarm_vs_ddp"
