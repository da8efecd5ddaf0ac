#!/usr/bin/env bash
# The metrics endpoint read by the real tools: Debian's `prometheus` server
# (started here on loopback with a generated scrape config and its own
# storage in a temp dir) scrapes a 2-peer swarm; its HTTP API then returns
# starling_ series for both targets; `promtool check metrics` accepts a
# scrape. Skipped with a message when prometheus/promtool are missing
# (scripts/install-deps.sh installs them).
# Every wait is bounded. Usage: metrics_prometheus.sh STARLING_BINARY
set -u
starling=${1:?usage: metrics_prometheus.sh STARLING_BINARY}
for tool in prometheus promtool curl jq; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (apt-get install prometheus curl jq)"; exit 77; }
done
source "$(dirname "$0")/lib/peers.sh"

toy_csv "$work/toy.csv"
peer_flags=(--data "$work/toy.csv" --model mlp:8 --batch 16 --eval-every 200 --checkpoint-every 0)
mport=("$(free_port)" "$(free_port)")
pport=$(free_port)
poll_seconds=0.5

start_peer 0 -- --metrics "127.0.0.1:${mport[0]}"
start_peer 1 0 -- --metrics "127.0.0.1:${mport[1]}"

# promtool lints one scrape (format, HELP/TYPE, counter names, units).
curl -sf --max-time 3 "http://127.0.0.1:${mport[0]}/metrics" > "$work/scrape.txt" || fail "no scrape from peer 0"
(($(grep -c '^starling_' "$work/scrape.txt") > 50)) || fail "a scrape with few samples: $(head -c 300 "$work/scrape.txt")"
promtool check metrics < "$work/scrape.txt" > "$work/promtool.txt" 2>&1 ||
  fail "promtool check metrics: $(cat "$work/promtool.txt")"
echo "promtool check metrics: ok ($(grep -vc '^#' "$work/scrape.txt") samples)"

cat > "$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: starling
    static_configs:
      - targets: ["127.0.0.1:${mport[0]}", "127.0.0.1:${mport[1]}"]
EOF
promtool check config "$work/prometheus.yml" > "$work/promtool-config.txt" 2>&1 ||
  fail "promtool check config: $(cat "$work/promtool-config.txt")"
prometheus --config.file "$work/prometheus.yml" --storage.tsdb.path "$work/tsdb" \
  --web.listen-address "127.0.0.1:$pport" > "$work/prometheus.log" 2>&1 &
prometheus_pid=$!
pids+=("$prometheus_pid")  # killed on exit with the peers
api() { curl -s --max-time 3 "http://127.0.0.1:$pport/api/v1/$1"; }
ready() { curl -s --max-time 1 "http://127.0.0.1:$pport/-/ready" | grep -q Ready; }
wait_until 30 ready || fail "prometheus not ready within 30 s: $(tail -5 "$work/prometheus.log")"

# query EXPR: the result vector as compact JSON ([] while none).
query() { api "query?query=$(jq -rn --arg q "$1" '$q | @uri')" | jq -c '.data.result // []'; }
series_count() { query "$1" | jq length; }
both_up() { [[ $(query 'up{job="starling"} == 1' | jq length) == 2 ]]; }
both_steps() { [[ $(series_count 'starling_training_steps_total > 0') == 2 ]]; }
wait_until 30 both_up || fail "prometheus does not see both targets up: $(api targets | jq -c '.data.activeTargets[] | {scrapeUrl, health, lastError}')"
wait_until 30 both_steps || fail "no starling_training_steps_total for both peers: $(query starling_training_steps_total)"
result=$(query 'starling_members{state="alive"}')
[[ $(jq '[.[] | select(.value[1] == "1")] | length' <<<"$result") == 2 ]] || fail "members alive: $result"
# The counters grow between scrapes, as Prometheus sees them.
grows() { [[ $(series_count 'increase(starling_training_steps_total[5s]) > 0') == 2 ]]; }
wait_until 20 grows || fail "no increase of steps over 5 s: $(query 'increase(starling_training_steps_total[5s])')"
delta=$(query 'sum by (instance) (starling_bytes_sent_total{channel="training",kind="delta"})')
[[ $(jq length <<<"$delta") == 2 ]] || fail "delta bytes by instance: $delta"
echo "prometheus sees $(series_count '{__name__=~"starling_.+"}') starling series from 2 peers;" \
  "steps: $(query starling_training_steps_total | jq -c '[.[].value[1]]')"
echo "metrics_prometheus: ok"
