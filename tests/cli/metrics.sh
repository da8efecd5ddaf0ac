#!/usr/bin/env bash
# `starling peer --metrics HOST:PORT` end to end on loopback: two training
# peers serve Prometheus text at /metrics; the values move (steps grow, deltas
# flow, both see each other alive); a busy or bad metrics address is a clear
# startup error; a graceful leave closes the endpoint. Also measures the
# scrape time (median of 50 GETs) and the exposition size. Every wait is
# bounded. Usage: metrics.sh STARLING_BINARY
set -u
starling=${1:?usage: metrics.sh STARLING_BINARY}
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 0; }
source "$(dirname "$0")/lib/peers.sh"

toy_csv "$work/toy.csv"
peer_flags=(--data "$work/toy.csv" --model mlp:8 --batch 16 --eval-every 200 --checkpoint-every 0)

mport=("$(free_port)" "$(free_port)")
scrape() { curl -s --max-time 3 "http://127.0.0.1:${mport[$1]}/metrics"; }
# value I NAME_WITH_LABELS: the sample's value, empty when absent.
value() { scrape "$1" | awk -v n="$2" '$1 == n { print $2; exit }'; }
ready_link() { above "$(value "$1" 'starling_links{state="ready"}')" 0; }

start_peer 0 -- --metrics "127.0.0.1:${mport[0]}"
start_peer 1 0 -- --metrics "127.0.0.1:${mport[1]}"
grep -q "metrics at http://127.0.0.1:${mport[0]}/metrics" "$work/p0.log" || fail "peer 0 does not say where its metrics are"

wait_until 30 ready_link 0 || fail "peer 0's metrics show no ready link within 30 s: $(scrape 0 | grep starling_links)"
wait_until 30 ready_link 1 || fail "peer 1's metrics show no ready link within 30 s"

text=$(scrape 0)
for family in starling_members starling_training_steps_total starling_bytes_sent_total starling_handshake_failures_total \
  starling_membership_events_total starling_links starling_neighbours starling_upload_rate_bytes_per_second; do
  grep -q "^# HELP $family " <<<"$text" || fail "no HELP for $family"
  grep -q "^# TYPE $family " <<<"$text" || fail "no TYPE for $family"
done
for i in 0 1; do
  [[ $(value "$i" 'starling_members{state="alive"}') == 1 ]] || fail "peer $i does not count the other alive"
  [[ $(value "$i" 'starling_joined') == 1 ]] || fail "peer $i not joined"
done
[[ $(value 1 'starling_membership_events_total{event="member_joined"}') -ge 1 ]] || fail "peer 1 counted no member_joined"
# `starling status --json` carries the same counters; peer_info names the version.
joined_json=$("$starling" status "127.0.0.1:${ports[1]}" --json --timeout 3 |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["membership_events"]["member_joined"])') ||
  fail "no membership_events in peer 1's status --json"
((joined_json >= 1)) || fail "status --json counts member_joined $joined_json"
version=$("$starling" --version | awk '{ print $2 }')
scrape 0 | grep -q "^starling_peer_info{.*,version=\"$version\"} 1$" || fail "peer_info without version=\"$version\""

# The values move: steps, deltas and their bytes grow between two scrapes.
steps1=$(value 0 starling_training_steps_total)
bytes1=$(value 0 'starling_bytes_sent_total{channel="training",kind="delta"}')
sleep 1.5
steps2=$(value 0 starling_training_steps_total)
bytes2=$(value 0 'starling_bytes_sent_total{channel="training",kind="delta"}')
above "$steps2" "$steps1" || fail "steps did not grow: $steps1 -> $steps2"
above "$bytes2" "$bytes1" || fail "delta bytes did not grow: $bytes1 -> $bytes2"
above "$(value 0 starling_training_samples_per_second)" 0 || fail "no samples per second"
echo "steps $steps1 -> $steps2, delta bytes $bytes1 -> $bytes2 in 1.5 s"
has_accuracy() { [[ -n $(value 0 'starling_test_accuracy_ratio{model="own"}') ]]; }
wait_until 20 has_accuracy || fail "no test accuracy in the metrics after 20 s"
has_ping() { above "$(value 0 'starling_messages_received_total{channel="membership",kind="ping"}')" 0; }
wait_until 10 has_ping || fail "no membership pings counted"

# Figures: scrape time (median of 50 GETs; one connection each, since the
# endpoint closes every connection after its answer) and the exposition's size.
urls=()
for _ in $(seq 50); do urls+=(-o /dev/null "http://127.0.0.1:${mport[0]}/metrics"); done
median_ms=$(curl -s --max-time 20 -w '%{time_total}\n' "${urls[@]}" | sort -n |
  awk '{ t[NR] = $1 } END { if (NR != 50) exit 1; printf "%.3f", (t[25] + t[26]) / 2 * 1000 }') ||
  fail "50 scrapes did not all answer"
size=$(scrape 0 | wc -c)
echo "scrape time median ${median_ms} ms over 50 GETs; exposition ${size} bytes, $(scrape 0 | grep -vc '^#') samples"

# A busy metrics port and a bad address fail at start, saying why.
rc=0
out=$("$starling" peer --listen "127.0.0.1:$(free_port)" --data-dir "$work/busy" --no-train \
  --metrics "127.0.0.1:${mport[0]}" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "a busy metrics port exited $rc, expected 1"
grep -q "metrics on 127.0.0.1:${mport[0]}: address in use" <<<"$out" || fail "busy port message: $out"
rc=0
out=$("$starling" peer --listen "127.0.0.1:$(free_port)" --data-dir "$work/bad" --no-train --metrics nonsense 2>&1) || rc=$?
[[ $rc == 1 ]] && grep -q -- "--metrics: " <<<"$out" || fail "a bad metrics address (rc $rc): $out"

# A graceful leave stops the endpoint with the peer.
kill -INT "${pids[1]}"
wait_until 10 bash -c "! kill -0 ${pids[1]} 2>/dev/null" || fail "peer 1 did not exit within 10 s of SIGINT"
wait "${pids[1]}"; rc=$?
[[ $rc == 0 ]] || fail "peer 1 exited $rc after SIGINT"
pids[1]=""
scrape 1 >/dev/null && fail "peer 1's endpoint still answers after it left"
echo "metrics: ok"
