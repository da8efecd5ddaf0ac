#!/usr/bin/env bash
# The fault layer's TCP model against the kernel's own TCP (issue 13, session
# 28). A scenario's `loss` does not drop a connection's frames: it delays them
# as TCP's repairs would (docs/runtime.md, "Fault layer"). This checks that
# model against real TCP: the same swarm of real `starling peer` processes
# runs in a private network namespace whose loopback drops PERCENT% of every
# TCP and UDP packet (nftables `numgen random`, no fault layer involved: the
# kernel retransmits), and in the simulator with a `loss` event of PERCENT on
# every peer. Prints one JSON line per run (bench/loss_runs.py): own accuracy
# at the end (mean, lowest), links_up, the median consensus distance over the
# second half, the share of status polls answered, the busiest peer's bytes/s.
#
#   sudo bench/kernel_loss.sh
#   PERCENTS="0 20" DURATION=60 bench/kernel_loss.sh
#
# Environment: PERCENTS (default "0 10 20 30 50"), PEERS (4), DURATION
# (virtual and wall seconds, 60), COMPRESS (topk:0.01, as scenarios/lossy.toml),
# SEED (1), BACKENDS ("kernel sim"), STARLING (default build/apps/starling),
# OUT (default bench/results/kernel_loss).
# Needs root (a network namespace) and nftables (`apt-get install nftables`);
# netem is not needed, so delay cannot be added: the kernel runs are at
# loopback round trips, and the simulator's runs have no delay either.
# Under kernel loss the runner's status polls lose packets too, so some polls
# go unanswered ("answered").
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 0
fi
[[ $# -eq 0 ]] || { echo "usage: bench/kernel_loss.sh (options via environment; --help)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
starling="${STARLING:-$root/build/apps/starling}"
out="${OUT:-$root/bench/results/kernel_loss}"
percents="${PERCENTS:-0 10 20 30 50}"
backends="${BACKENDS:-kernel sim}"
[[ -x "$starling" ]] || { echo "kernel_loss: no starling binary at $starling (build first)" >&2; exit 2; }
if [[ " $backends " == *" kernel "* ]]; then
  command -v nft > /dev/null || { echo "kernel_loss: needs nftables (apt-get install nftables)" >&2; exit 2; }
  unshare -n true 2> /dev/null || { echo "kernel_loss: cannot make a network namespace (run as root)" >&2; exit 2; }
fi
mkdir -p "$out"
lines="$out/lines.jsonl"
: > "$lines"

# scenario FILE PERCENT: the swarm, with a loss event on every peer when PERCENT > 0.
scenario() {
  cat > "$1" <<TOML
# Written by bench/kernel_loss.sh.
name = "kernel-loss"
description = "${PEERS:-4} peers, ${COMPRESS:-topk:0.01}, $2% loss ($(basename "$1" .toml))"
duration = ${DURATION:-60}
seed = ${SEED:-1}

[swarm]
peers = ${PEERS:-4}
compress = "${COMPRESS:-topk:0.01}"
lr = 0.02
batch = 64
eval_every = 1000

[[expect]]
kind = "no_crash"
TOML
  if [[ $2 != 0 ]]; then
    cat >> "$1" <<TOML

[[events]]
at = 0
kind = "loss"
peers = "all"
percent = $2
TOML
  fi
}

for p in $percents; do
  for backend in $backends; do
    dir="$out/$backend-$p"
    rm -rf "$dir"
    mkdir -p "$dir"
    case $backend in
      kernel)
        scenario "$dir/scenario.toml" 0
        # The rule drops on output, so each packet crosses it once.
        unshare -n bash -c "set -e; ip link set lo up; nft add table inet loss
          nft add chain inet loss out '{ type filter hook output priority 0; }'
          nft add rule inet loss out meta l4proto '{ tcp, udp }' numgen random mod 100 '<' $p drop
          exec '$starling' scenario '$dir/scenario.toml' --out '$dir/run'" > "$dir/run.log" 2>&1 || true ;;
      sim)
        scenario "$dir/scenario.toml" "$p"
        "$starling" simulate "$dir/scenario.toml" --out "$dir/run" > "$dir/run.log" 2>&1 || true ;;
      *) echo "kernel_loss: unknown backend $backend (kernel or sim)" >&2; exit 2 ;;
    esac
    python3 "$root/bench/loss_runs.py" "$dir/run" --backend "$backend" --percent "$p" | tee -a "$lines"
  done
done
