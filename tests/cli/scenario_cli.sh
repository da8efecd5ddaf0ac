#!/usr/bin/env bash
# `starling scenario`: bad input (exit 2, file:line, no peer started), a
# failed expectation (exit 1, what failed, the replay seed, the report), and
# cleanup: after Ctrl-C, and after the runner itself is killed (-9), no peer
# process is left. Every wait is bounded. Usage: scenario_cli.sh STARLING
set -u
starling=${1:?usage: scenario_cli.sh STARLING_BINARY}
work=$(mktemp -d)
runner=""
cleanup() {
  [[ -n $runner ]] && kill -9 "$runner" 2>/dev/null
  # Anything still running with our folder on its command line is ours.
  local pid
  for pid in $(pgrep -f -- "$work/"); do kill -9 "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
peers_left() { pgrep -f -- "peer --listen .*--data-dir $1" | wc -l; }

header='name = "t"
duration = 4
poll_interval = 0.5
[swarm]
peers = 2
train = false
'
# expect_bad NAME PATTERN BODY: exit 2, message matching PATTERN, no peers dir.
expect_bad() {
  local name=$1 pattern=$2 body=$3
  printf '%s' "$body" >"$work/$name.toml"
  out=$("$starling" scenario "$work/$name.toml" --out "$work/out-$name" 2>&1)
  local rc=$?
  [[ $rc == 2 ]] || fail "$name: exit $rc, want 2: $out"
  grep -Eq -- "$pattern" <<<"$out" || fail "$name: message does not match '$pattern': $out"
  [[ ! -e $work/out-$name/peers ]] || fail "$name: peers were started"
  echo "ok: $name -> $(head -n 1 <<<"$out")"
}
expect_bad unknown-event "unknown-event.toml:10:8: unknown event kind 'explode'" "$header
[[events]]
at = 1
kind = \"explode\"
peer = 0
"
expect_bad out-of-range "out-of-range.toml:8:1: kill event at 1 s names peer 5, but only peers 0..1 exist" "$header
[[events]]
at = 1
kind = \"kill\"
peer = 5
"
expect_bad past "past.toml:9:6: event time -3 s is in the past" "$header
[[events]]
at = -3
kind = \"kill\"
peer = 1
"
expect_bad out-of-order "out-of-order.toml:12:1: event at 1 s comes after one at 2 s \(line 8\)" "$header
[[events]]
at = 2
kind = \"kill\"
peer = 1
[[events]]
at = 1
kind = \"kill\"
peer = 0
"
expect_bad malformed "malformed.toml:3:.*malformed TOML" 'name = "t"
duration = 4
[swarm
peers = 2
'
out=$("$starling" scenario "$work/missing.toml" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "not found" <<<"$out" || fail "missing file: exit $rc: $out"
for path in "$work" /dev/zero; do  # said "not found"
  out=$("$starling" simulate "$path" 2>&1); rc=$?
  [[ $rc == 2 ]] && grep -q "scenario file $path is not a regular file" <<<"$out" || fail "simulate $path: exit $rc: $out"
done
# [swarm] values a peer refuses: a bad file (exit 2, FILE:LINE:COL), not a run
# that fails with "no_crash: no observations" (these all used to start).
expect_bad profile "profile.toml:8:11: 'profile': unknown membership profile 'mars'" "$header
profile = \"mars\"
"
expect_bad clip "clip.toml:8:8: 'clip': want auto, off or a positive radius, got '-3'" "$header
clip = \"-3\"
"
expect_bad batch "batch.toml:8:9: 'batch' must be 1..1048576 \(100000000 is too large\)" "$header
batch = 100000000
"
expect_bad gamma "gamma.toml:8:9: 'gamma' must be 0..1 \(2 is too large\)" "$header
gamma = 2
"

# The default report folder stays under scenario-runs/ whatever the file's
# name says: "../../escaped" wrote to scenario-runs/../../escaped-sim-...,
# an absolute name to that path.
mkdir -p "$work/cwd/deep"
for name in "../../escaped" "$work/absolute"; do
  printf 'name = "%s"\nduration = 2\n[swarm]\npeers = 2\ntrain = false\nextra_args = ["--lr", "nan"]\n' "$name" \
    >"$work/named.toml"
  out=$(cd "$work/cwd/deep" && timeout 60 "$starling" simulate "$work/named.toml" 2>&1); rc=$?
  [[ $rc == 0 ]] || fail "simulate name=$name: exit $rc: $out"
  for escaped in "$work"/*escaped* "$work"/cwd/*escaped* "$work"/absolute*; do
    [[ -e $escaped ]] && fail "name=$name: a report folder outside scenario-runs/: $escaped"
  done
  [[ $(ls "$work/cwd/deep/scenario-runs" | wc -l) == 1 ]] || fail "name=$name: no one folder under scenario-runs/: $out"
  rm -rf "$work/cwd/deep/scenario-runs"
  # extra_args reach only `starling scenario`'s peer processes: said, not silently dropped.
  grep -q "warning: .*extra_args (--lr nan) are ignored" <<<"$out" || fail "simulate did not warn about extra_args: $out"
done
# Runs started in the same second each get their own default folder (the
# second and third were refused: "already holds a run's report").
printf 'name = "twin"\nduration = 2\n[swarm]\npeers = 2\ntrain = false\n' >"$work/twin.toml"
mkdir -p "$work/twins"
(cd "$work/twins" && for k in 1 2 3; do timeout 60 "$starling" simulate "$work/twin.toml" >"$work/twin-$k.out" 2>&1 &
  done; wait)
for k in 1 2 3; do grep -q "PASSED" "$work/twin-$k.out" || fail "twin run $k: $(cat "$work/twin-$k.out")"; done
[[ $(ls "$work/twins/scenario-runs" | wc -l) == 3 ]] || fail "3 runs, not 3 folders: $(ls "$work/twins/scenario-runs")"
echo "ok: default report folders stay under scenario-runs/, one per run, simulate warns about extra_args"

# --peer-log writes what each simulated peer logs, with its virtual time and
# index, and leaves the run (its trace) unchanged; an unwritable path is a
# clear error before anything runs.
printf 'name = "logged"\nduration = 6\n[swarm]\npeers = 3\ntrain = false\n[[events]]\nat = 3\nkind = "kill"\npeer = 2\n' \
  >"$work/logged.toml"
plain=$(timeout 60 "$starling" simulate "$work/logged.toml" --out "$work/logged-plain" 2>&1) || fail "simulate: $plain"
logged=$(timeout 60 "$starling" simulate "$work/logged.toml" --out "$work/logged-log" --peer-log "$work/peers.log" 2>&1) ||
  fail "simulate --peer-log: $logged"
[[ $(grep -o 'trace: [0-9a-f]*' <<<"$plain") == $(grep -o 'trace: [0-9a-f]*' <<<"$logged") ]] ||
  fail "--peer-log changed the trace: $plain / $logged"
for peer in 0 1 2; do
  grep -Eq "^[0-9]+\.[0-9]{6} seed=1 peer=$peer (info|warning|error) " "$work/peers.log" ||
    fail "no log line of peer $peer in --peer-log: $(head -5 "$work/peers.log")"
done
# The survivors saw peer 2 die after the kill at 3 s.
awk '$3 ~ /^peer=[01]$/ && $1 >= 3 && /member (suspected|died|dead)/' "$work/peers.log" | grep -q . ||
  fail "--peer-log shows no survivor suspecting the killed peer: $(grep -c . "$work/peers.log") lines"
out=$("$starling" simulate "$work/logged.toml" --peer-log "$work/no/such/dir/peers.log" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "cannot write --peer-log .*No such file or directory" <<<"$out" ||
  fail "unwritable --peer-log: exit $rc: $out"
# It never writes over the scenario, a FIFO or a file a refused run names: it
# used to truncate FILE before anything was checked (the scenario itself
# came out empty) and to block on a FIFO.
cp "$work/logged.toml" "$work/kept.toml"
out=$("$starling" simulate "$work/kept.toml" --out "$work/self-log" --peer-log "$work/kept.toml" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "is the scenario file itself" <<<"$out" && cmp -s "$work/kept.toml" "$work/logged.toml" ||
  fail "--peer-log naming the scenario: exit $rc, $(wc -c < "$work/kept.toml") bytes left: $out"
mkfifo "$work/peers.fifo"
out=$(timeout 20 "$starling" simulate "$work/logged.toml" --out "$work/fifo-log" --peer-log "$work/peers.fifo" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "not a regular file" <<<"$out" || fail "--peer-log on a FIFO: exit $rc: $out"
# Nor over the run's own report files: it replaced events.jsonl, and PASSED.
mkdir -p "$work/in-out/run-1"
for inside in "$work/in-out/events.jsonl" "$work/in-out/run-1/x.log"; do
  out=$("$starling" simulate "$work/logged.toml" --out "$work/in-out" --peer-log "$inside" 2>&1); rc=$?
  [[ $rc == 2 ]] && grep -q "is inside the report folder" <<<"$out" || fail "--peer-log $inside: exit $rc: $out"
done
echo "keep me" > "$work/old.log"
printf 'name = "broken"\n' > "$work/broken.toml"
out=$("$starling" simulate "$work/broken.toml" --out "$work/broken-log" --peer-log "$work/old.log" 2>&1); rc=$?
[[ $rc == 2 && $(cat "$work/old.log") == "keep me" ]] || fail "a refused run emptied --peer-log: exit $rc: $out"
echo "ok: simulate --peer-log writes every peer's log lines and leaves the trace alone"

# --out: checked before anything runs (a regular file is bad input, exit 2,
# not a failure after the whole run), and a folder holding an earlier run's
# report is refused, naming the file, instead of mixing two runs in it. An
# existing empty folder is fine.
touch "$work/a-file"
for command in "simulate $work/logged.toml" "simulate --random --seeds 1" "scenario $work/logged.toml"; do
  out=$(timeout 20 "$starling" $command --out "$work/a-file" 2>&1); rc=$?
  [[ $rc == 2 ]] && grep -q "error: the report folder $work/a-file exists and is not a folder" <<<"$out" ||
    fail "$command --out FILE: exit $rc, want 2: $out"
  grep -Eq "PASSED|FAILED|report:" <<<"$out" && fail "$command --out FILE ran or printed a report: $out"
done
out=$(timeout 20 "$starling" simulate "$work/logged.toml" --out "$work/logged-plain" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "already holds a run's report ($work/logged-plain/evaluations.csv exists).*another --out DIR, or remove" <<<"$out" ||
  fail "simulate into an earlier report: exit $rc, want 2: $out"
printf 'name = "half"\nduration = 0.5\n[swarm]\npeers = 2\ntrain = false\n' >"$work/half.toml"
mkdir "$work/empty-out" "$work/scenario-again" && touch "$work/scenario-again/swarm.key"
out=$(timeout 20 "$starling" simulate "$work/half.toml" --out "$work/empty-out" 2>&1) || fail "simulate into an empty folder: $out"
# The banner keeps a duration's decimals.
grep -q "2 peers, 0.5 virtual s" <<<"$out" || fail "banner without 0.5 s: $out"
out=$(timeout 20 "$starling" scenario "$work/half.toml" --out "$work/scenario-again" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "($work/scenario-again/swarm.key exists)" <<<"$out" ||
  fail "scenario into an earlier run's folder: exit $rc, want 2: $out"
out=$(timeout 60 "$starling" simulate --random --seeds 1 --peers 3 --out "$work/random-out" 2>&1) || fail "random: $out"
out=$(timeout 20 "$starling" simulate --random --seeds 1 --peers 3 --out "$work/random-out" 2>&1); rc=$?
[[ $rc == 2 ]] && grep -q "($work/random-out/run-1 exists)" <<<"$out" || fail "random into an earlier run: exit $rc: $out"
echo "ok: --out is checked before the run and never mixes two runs"

# A peer that refuses its extra_args ends at start; the runner quotes the
# peer's error, not CLI11's "Run with --help for more information." below it.
printf '%s' "$header
extra_args = [\"--lr\", \"nan\"]
" >"$work/refused.toml"
out=$(timeout 90 "$starling" scenario "$work/refused.toml" --out "$work/out-refused" 2>&1); rc=$?
[[ $rc == 1 ]] || fail "refused extra_args: exit $rc, want 1: $out"
grep -q "did not start .*: --lr: 'nan' is not a finite number" <<<"$out" || fail "the runner does not quote the peer's error: $out"
echo "ok: a peer that ends at start is quoted by its error line"

# A restarted peer that cannot start fails the run, quoted by its error
# line: it counted as a crash only, and a run without no_crash PASSED.
printf 'name = "t"\nduration = 7\npoll_interval = 0.5\n[swarm]\npeers = 2\ntrain = false\n%s' \
  '[[events]]
at = 1
kind = "kill"
peer = 1
[[events]]
at = 4
kind = "restart"
peer = 1
[[expect]]
kind = "membership_converged"
within = 3
' >"$work/norestart.toml"
timeout 90 "$starling" scenario "$work/norestart.toml" --out "$work/out-norestart" >"$work/norestart.out" 2>&1 &
runner=$!
# Peer 1 up, then killed at 1 s (its process gone): damage its identity file.
peer1="--data-dir $work/out-norestart/peers/peer-1"
for _ in $(seq 200); do pgrep -f -- "$peer1" >/dev/null && break; sleep 0.05; done
for _ in $(seq 200); do pgrep -f -- "$peer1" >/dev/null || break; sleep 0.05; done
pgrep -f -- "$peer1" >/dev/null && fail "peer 1 still runs 10 s in: $(cat "$work/norestart.out")"
echo "not a key" >"$work/out-norestart/peers/peer-1/identity.key"  # before the restart at 4 s
wait "$runner"; rc=$?; runner=""
out=$(cat "$work/norestart.out")
[[ $rc == 1 ]] || fail "a restart that cannot start: exit $rc, want 1: $out"
grep -q "peer 1.*did not start .*identity" <<<"$out" || fail "the runner does not say why peer 1 did not start: $out"
echo "ok: a restarted peer that cannot start fails the run"

# A restart of a running peer records its old process's exit: the runner
# reaped it itself, and events.jsonl had no peer_exited line for it.
printf 'name = "t"\nduration = 5\npoll_interval = 0.5\n[swarm]\npeers = 2\ntrain = false\n%s' \
  '[[events]]
at = 2
kind = "restart"
peer = 1
[[expect]]
kind = "no_crash"
' >"$work/restart.toml"
out=$(timeout 90 "$starling" scenario "$work/restart.toml" --out "$work/out-restart" 2>&1); rc=$?
[[ $rc == 0 ]] || fail "a restart of a running peer: exit $rc: $out"
/usr/bin/python3 -c '
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
kinds = [(e["event"], e.get("peer"), e.get("life")) for e in events if e["event"] in ("start", "peer_exited")]
exit_at = kinds.index(("peer_exited", 1, None))
assert kinds.index(("start", 1, 0)) < exit_at < kinds.index(("start", 1, 1)), kinds
assert [e["expected"] for e in events if e["event"] == "peer_exited"] == [True], events
' "$work/out-restart/events.jsonl" || fail "no peer_exited line for the restarted peer 1: $(head -c 2000 "$work/out-restart/events.jsonl")"
echo "ok: a restart records the old process's exit"

# A failed expectation: membership-only peers report no accuracy.
printf '%s' "$header
[[expect]]
kind = \"min_accuracy\"
value = 0.5
[[expect]]
kind = \"no_crash\"
" >"$work/fails.toml"
out=$(timeout 60 "$starling" scenario "$work/fails.toml" --out "$work/out-fails" --seed 42 2>&1); rc=$?
[[ $rc == 1 ]] || fail "failed expectation: exit $rc, want 1: $out"
grep -q "FAIL  min_accuracy" <<<"$out" || fail "no FAIL line: $out"
grep -q "ok    no_crash" <<<"$out" || fail "no ok line: $out"
grep -q "replay: starling scenario $work/fails.toml --seed 42" <<<"$out" || fail "no replay line: $out"
for f in report.html metrics.csv events.jsonl; do [[ -s $work/out-fails/$f ]] || fail "no $f"; done
grep -q "<svg" "$work/out-fails/report.html" || fail "report without plots"
[[ $(peers_left "$work/out-fails") == 0 ]] || fail "peers left after a normal run"
echo "ok: failed expectation -> exit 1, report written"

# --peers replaces the file's count before the file is checked; --json ends stdout with one summary object.
expect_bad_peers() {
  out=$("$starling" scenario "$work/out-of-range.toml" --peers 5 --out "$work/out-peers5" 2>&1); local rc=$?
  [[ $rc == 2 ]] || fail "--peers 5: exit $rc, want 2: $out"
  grep -q "names peer 5, but only peers 0..4 exist" <<<"$out" || fail "--peers 5: $out"
  out=$("$starling" scenario "$work/out-of-range.toml" --peers 65 --out "$work/out-peers65" 2>&1); rc=$?
  [[ $rc == 2 ]] && grep -q "must be 1..64" <<<"$out" || fail "--peers 65: exit $rc: $out"
}
expect_bad_peers
out=$(timeout 60 "$starling" scenario "$work/fails.toml" --out "$work/out-json" --seed 42 --peers 3 --json 2>/dev/null); rc=$?
[[ $rc == 1 ]] || fail "--json: exit $rc, want 1: $out"
grep -q "replay: starling scenario $work/fails.toml --seed 42 --peers 3" <<<"$out" || fail "no --peers in replay: $out"
grep -q "FAILED .*seed 42)" <<<"$out" || fail "failing run without its seed: $out"
tail -n 1 <<<"$out" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["seed"] == 42 and s["peers"] == 3 and s["passed"] is False and s["trace_hash"] is None, s
assert 3.5 <= s["virtual_seconds"] <= 6 and s["wall_seconds"] >= s["virtual_seconds"], s
kinds = [(e["kind"], e["ok"]) for e in s["expectations"]]
assert kinds == [("min_accuracy", False), ("no_crash", True)], kinds
assert all(isinstance(e["measured"], str) for e in s["expectations"]), s
' || fail "--json summary: $(tail -n 1 <<<"$out")"
[[ $(grep -c '"peer":2' "$work/out-json/events.jsonl") -ge 1 ]] || fail "--peers 3 did not start peer 2"
echo "ok: --peers checked before the file, --json summary"

# start_long NAME: a 60 s membership scenario in the background; waits until its peers are up.
start_long() {
  printf 'name = "long"\nduration = 60\n[swarm]\npeers = 3\ntrain = false\n[[expect]]\nkind = "no_crash"\n' \
    >"$work/long.toml"
  "$starling" scenario "$work/long.toml" --out "$work/$1" >"$work/$1.log" 2>&1 &
  runner=$!
  local deadline=$((SECONDS + 30))
  until grep -q "peers up" "$work/$1.log" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$1: peers did not come up: $(cat "$work/$1.log")"
    sleep 0.2
  done
  [[ $(peers_left "$work/$1") == 3 ]] || fail "$1: want 3 peer processes, have $(peers_left "$work/$1")"
}

# Ctrl-C: the runner stops every peer, writes the (partial) report, exits 130.
start_long int
kill -INT "$runner"
for _ in $(seq 1 100); do kill -0 "$runner" 2>/dev/null || break; sleep 0.1; done
wait "$runner"; rc=$?; runner=""
[[ $rc == 130 ]] || fail "Ctrl-C: exit $rc, want 130: $(cat "$work/int.log")"
[[ $(peers_left "$work/int") == 0 ]] || fail "Ctrl-C: peers left running"
[[ -s $work/int/report.html ]] || fail "Ctrl-C: no report"
echo "ok: Ctrl-C -> exit 130, no peer left, report written"

# The runner killed outright: the kernel ends its peers (PR_SET_PDEATHSIG).
start_long killed
kill -9 "$runner"; wait "$runner" 2>/dev/null; runner=""
for _ in $(seq 1 50); do [[ $(peers_left "$work/killed") == 0 ]] && break; sleep 0.1; done
[[ $(peers_left "$work/killed") == 0 ]] || fail "runner killed: peers left running"
echo "ok: runner killed -> no peer left"
echo "PASS scenario_cli"
