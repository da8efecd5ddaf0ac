#!/usr/bin/env bash
# Log volume of `starling peer` at the default level (info): a 3-peer swarm on
# loopback trains Fashion-MNIST for SECONDS (default 60), once with
# --log-format human and once with json; prints bytes and lines per peer per
# minute. Usage: bench/log_volume.sh path/to/starling [SECONDS]
set -u
starling=${1:?usage: log_volume.sh STARLING_BINARY [SECONDS]}
seconds=${2:-60}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
base=$((30000 + ($$ * 7) % 20000))
"$starling" keygen --swarm "$work/swarm.key" >/dev/null
for format in human json; do
  pids=()
  for i in 0 1 2; do
    seed=(); ((i > 0)) && seed=(--seed "127.0.0.1:$base")
    "$starling" peer --listen "127.0.0.1:$((base + i))" --data-dir "$work/$format$i" --swarm-key "$work/swarm.key" \
      --shard "$i/3" --threads 1 --log-format "$format" "${seed[@]}" 2>"$work/$format$i.log" &
    pids+=($!)
    sleep 0.3
  done
  sleep "$seconds"
  for i in 0 1 2; do
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "$format peer $i exited early:"; tail -3 "$work/$format$i.log"; }
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait
  for i in 0 1 2; do
    bytes=$(wc -c <"$work/$format$i.log"); lines=$(wc -l <"$work/$format$i.log")
    awk -v f="$format" -v i="$i" -v b="$bytes" -v l="$lines" -v s="$seconds" \
      'BEGIN { printf "%s peer %d: %d bytes, %d lines in %d s = %.0f bytes/min, %.1f lines/min\n", f, i, b, l, s, b*60/s, l*60/s }'
  done
  [[ $format == json ]] && echo "json events seen: $(cat "$work"/json*.log | jq -r .event 2>/dev/null | sort | uniq -c | tr '\n' ';')"
  base=$((base + 10))
done
