#!/usr/bin/env bash
# Two examples/embed.cpp processes (the C++ embedding API around a user's own
# training loop) on loopback: the second joins through the first, downloads
# its model (so it starts far above chance), and both end above 75% test
# accuracy with consensus corrections applied. About 15 s.
set -euo pipefail
example=$1
if [[ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  echo "SKIP: dataset-fashion-mnist is not installed"; exit 77
fi
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
"$example" listen=127.0.0.1:0 data-dir="$dir/a" seconds=14 shard=0/2 >"$dir/a.log" 2>&1 &
first=$!
address=""
for _ in $(seq 100); do
  address=$(grep -m1 '^address ' "$dir/a.log" | cut -d' ' -f2 || true)
  [[ -n "$address" ]] && break
  sleep 0.1
done
[[ -n "$address" ]] || { echo "first example printed no address"; cat "$dir/a.log"; exit 1; }
"$example" listen=127.0.0.1:0 data-dir="$dir/b" seed="$address" seconds=10 shard=1/2 seed-init=2 >"$dir/b.log" 2>&1
wait $first
cat "$dir/a.log" "$dir/b.log"
grep -q "joined: downloaded the swarm's model" "$dir/b.log" || { echo "FAIL: the second did not download"; exit 1; }
field() {  # log, label -> the number after it
  sed -n "s/.*$2 \([0-9.]*\).*/\1/p" "$1" | head -1
}
start=$(field "$dir/b.log" "test accuracy at start")
for log in "$dir/a.log" "$dir/b.log"; do
  final=$(sed -n 's/^final: .*test accuracy \([0-9.]*\), corrections \([0-9]*\).*/\1 \2/p' "$log")
  read -r accuracy corrections <<<"$final"
  echo "$(basename "$log"): final accuracy $accuracy, corrections $corrections"
  awk -v a="$accuracy" 'BEGIN { exit !(a > 0.75) }' || { echo "FAIL: accuracy $accuracy <= 0.75"; exit 1; }
  [[ "$corrections" -gt 10 ]] || { echo "FAIL: only $corrections corrections"; exit 1; }
done
# A downloaded start is the first's model after ~1 s of training (~80%);
# its own initialisation would be near chance (10%).
awk -v a="$start" 'BEGIN { exit !(a > 0.5) }' || { echo "FAIL: the joiner started at $start"; exit 1; }
echo "PASS"
