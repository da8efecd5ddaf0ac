# Shared by the simulator sweeps, bench/swarm_speedup.sh and
# bench/consensus_scale.sh (sourced with the script's arguments, not a bench
# itself): --help, the environment both read, and one run of `starling
# simulate` per (peers, compressor, seed) folder.
# Set before sourcing: name (the script's, for messages and the default OUT),
# default_peers, default_compress, default_seeds.
# Sets: root, starling, out, peers_list, compress_list, seeds, parse, lines
# (OUT/lines.jsonl, emptied), gamma_line; functions run_dir, simulate.

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  # The script's leading comment is its help.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 0
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
starling="${STARLING:-$root/build/apps/starling}"
out="${OUT:-$root/bench/results/$name}"
peers_list="${PEERS:-$default_peers}"
compress_list="${COMPRESS:-$default_compress}"
seeds="${SEEDS:-$default_seeds}"
parse="$root/bench/sim_runs.py"
gamma_line="${GAMMA:+gamma = $GAMMA}"  # for the scenario's [swarm] table
mkdir -p "$out"
lines="$out/lines.jsonl"
: > "$lines"

# run_dir PEERS COMPRESS SEED: a fresh, empty run folder; prints its path.
run_dir() {
  local dir="$out/n$1-${2//[:.]/_}-s$3"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

# simulate DIR RECORD [FLAGS...]: `starling simulate DIR/scenario.toml --out
# DIR FLAGS...`, its log in DIR/simulate.log. Exit status 1 (a failed
# expectation or invariant) still leaves the records; a run without
# DIR/RECORD ends the sweep. Sets wall (seconds, as a decimal).
simulate() {
  local dir=$1 record=$2 start end
  shift 2
  start=$(date +%s.%N)
  "$starling" simulate "$dir/scenario.toml" --out "$dir" "$@" > "$dir/simulate.log" 2>&1 || true
  end=$(date +%s.%N)
  if [ ! -s "$dir/$record" ]; then
    echo "$name: no $record in $dir (see $dir/simulate.log)" >&2
    exit 1
  fi
  wall=$(python3 -c "print($end - $start)")
}
