#!/usr/bin/env bash
# Two examples/embed.cpp processes (the C++ embedding API around a user's own
# training loop) on loopback: the second joins through the first, downloads
# its model (so it starts far above chance), and both end above 75% test
# accuracy with consensus corrections applied. Meanwhile `starling status`
# asks the first for its status: the training object of an embedded peer
# (its step-boundary hand-off's counters and the gossip's), as `starling
# peer` answers. About 15 s. Usage: embed_example_test.sh EXAMPLE STARLING
set -euo pipefail
example=$1
starling=$2
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
"$example" listen=127.0.0.1:0 data-dir="$dir/b" seed="$address" seconds=10 shard=1/2 seed-init=2 >"$dir/b.log" 2>&1 &
second=$!
# While both train: the first's status answer holds a training object.
status_ok=0
for _ in $(seq 40); do
  sleep 0.25
  "$starling" status "$address" --json --timeout 3 >"$dir/status.json" 2>"$dir/status.err" || continue
  if /usr/bin/python3 - "$dir/status.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])).get("training") or {}
ok = (t.get("trainer") == "embedded" and t.get("state") == "training" and t.get("step", 0) > 50
      and t.get("publishes", 0) > 0 and t.get("corrections_applied", 0) > 0 and t.get("rounds", 0) > 0
      and any(n.get("ready") for n in t.get("neighbours", [])))
sys.exit(0 if ok else 1)
PY
  then status_ok=1; break; fi
done
wait $second
wait $first
[[ $status_ok == 1 ]] || { echo "FAIL: the first's status has no embedded training object: $(cat "$dir/status.json" "$dir/status.err")"; exit 1; }
echo "status of the first: $(/usr/bin/python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["training"]; print({k: t[k] for k in ("trainer","state","step","publishes","corrections_applied","rounds")})' "$dir/status.json")"
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
