#!/usr/bin/env bash
# `starling peer` / `starling status` on bad input: each a clear message and a
# non-zero exit (or, for a peer that keeps retrying, a clear log line), never a
# crash. Also: a restart rejoins with a higher incarnation, files are 0600.
# Usage: swarm_errors.sh /path/to/starling
set -u
starling=${1:?usage: swarm_errors.sh STARLING_BINARY}
work=$(mktemp -d)
declare -a pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_error DESCRIPTION PATTERN COMMAND...: fails (not by a signal), stderr matches PATTERN.
expect_error() {
  local what=$1 pattern=$2; shift 2
  local out rc
  out=$(timeout 10 "$@" 2>&1); rc=$?
  if ((rc == 0)); then fail "$what: succeeded but should fail ($out)"; return; fi
  ((rc >= 124)) && fail "$what: exit $rc (timeout or crash): $out"
  grep -qiE -- "$pattern" <<<"$out" || fail "$what: error does not match /$pattern/: $out"
}
# wait_log FILE PATTERN SECONDS: FILE gets a line matching PATTERN in time.
wait_log() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

"$starling" keygen --swarm "$work/k1" >/dev/null && "$starling" keygen --swarm "$work/k2" >/dev/null || fail "keygen"

# A listening peer with key k1, on a port free for both TCP and UDP.
port=$((20000 + ($$ * 97) % 39000))
for attempt in 1 2 3 4 5 6 7 8; do
  : >"$work/a.log"
  "$starling" peer --no-train --listen "127.0.0.1:$port" --data-dir "$work/a" --swarm-key "$work/k1" 2>"$work/a.log" &
  pid=$!
  if wait_log "$work/a.log" "listening on|error" 5 && grep -q "listening on" "$work/a.log"; then pids+=("$pid"); break; fi
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  port=$((port + 1))
done
grep -q "listening on" "$work/a.log" || { echo "FAIL: no peer started: $(cat "$work/a.log")" >&2; exit 1; }
address="127.0.0.1:$port"
other=$((port + 1))

[[ $(stat -c %a "$work/a") == 700 ]] || fail "data dir mode $(stat -c %a "$work/a"), want 700"
[[ $(stat -c %a "$work/a/identity.key") == 600 ]] || fail "identity mode $(stat -c %a "$work/a/identity.key"), want 600"
grep -q "swarm key fingerprint" "$work/a.log" || fail "no fingerprint logged"

# A second peer on a data dir in use: refused at once, naming the holder (it
# used to start with the same node id and write the same files).
a_pid=$pid
expect_error "data dir in use" "data dir $work/a is in use by another starling peer \(pid $a_pid\)" \
  "$starling" peer --no-train --listen "127.0.0.1:$other" --data-dir "$work/a" --swarm-key "$work/k1"
[[ $(cat "$work/a/peer.lock") == "$a_pid" ]] || fail "peer.lock holds '$(cat "$work/a/peer.lock")', want $a_pid"
expect_error "address in use" "address already in use.*another" \
  "$starling" peer --no-train --listen "$address" --data-dir "$work/x" --swarm-key "$work/k1"
expect_error "host name" "numeric" "$starling" peer --no-train --listen "localhost:$other" --data-dir "$work/x"
expect_error "bad port" "bad port" "$starling" peer --no-train --listen "127.0.0.1:99999" --data-dir "$work/x"
expect_error "bad seed" "--seed.*HOST:PORT" "$starling" peer --no-train --listen "127.0.0.1:$other" --seed nowhere --data-dir "$work/x"
expect_error "seed host name" "--seed: 'localhost' is not a numeric IP address" \
  "$starling" peer --no-train --listen "127.0.0.1:$other" --seed "localhost:$port" --data-dir "$work/x"
expect_error "missing key" "swarm key.*not found" \
  "$starling" peer --no-train --listen "127.0.0.1:$other" --swarm-key "$work/none" --data-dir "$work/x"
cp "$work/k1" "$work/k_open" && chmod 644 "$work/k_open"
expect_error "world-readable key" "security.*chmod 600" \
  "$starling" peer --no-train --listen "127.0.0.1:$other" --swarm-key "$work/k_open" --data-dir "$work/x"
expect_error "bad profile" "profile" "$starling" peer --no-train --listen "127.0.0.1:$other" --profile moon --data-dir "$work/x"
# Training flags and the data's headers are checked before the network starts.
expect_error "bad compressor" "--compress" "$starling" peer --listen "127.0.0.1:$other" --compress zip:3 --data-dir "$work/x"
expect_error "bad clip" "--clip.*radius" "$starling" peer --listen "127.0.0.1:$other" --clip -1 --data-dir "$work/x"
expect_error "missing data" "nowhere" "$starling" peer --listen "127.0.0.1:$other" --data "$work/nowhere.csv" --data-dir "$work/x"
expect_error "bad model" "model" "$starling" peer --listen "127.0.0.1:$other" --model mlp:abc --data-dir "$work/x"
# IDX files whose headers are sound. Training images cut short: the file's
# size does not bear out the header, so the peer loads before it listens and
# fails there. A gzip file of the right size whose checksum is wrong: the
# headers pass, the load (after the network is up) fails, and the peer exits
# non-zero with the reason rather than training on nothing or crashing.
mkdir -p "$work/short"
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03' >"$work/short/train-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01' >"$work/short/train-labels-idx1-ubyte"
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' >"$work/short/t10k-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x01' >"$work/short/t10k-labels-idx1-ubyte"
expect_error "truncated training images" "truncated IDX body" \
  "$starling" peer --listen "127.0.0.1:$other" --data "$work/short" --data-dir "$work/x"
grep -q "listening on" <<<"$(timeout 10 "$starling" peer --listen "127.0.0.1:$other" --data "$work/short" --data-dir "$work/x" 2>&1)" &&
  fail "truncated training images: the peer listened before the load that fails"
# (30,000 images of 10 x 10 noise: zlib inflates the first 2 MB at the
# header's read, so the trailer must lie beyond them)
{ printf '\x00\x00\x08\x03\x00\x00\x75\x30\x00\x00\x00\x0a\x00\x00\x00\x0a'; head -c 3000000 /dev/urandom; } |
  gzip -c >"$work/short/train-images-idx3-ubyte.gz"
{ printf '\x00\x00\x08\x01\x00\x00\x75\x30'; head -c 30000 /dev/zero | tr '\0' '\1'; } >"$work/short/train-labels-idx1-ubyte"
{ printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x0a\x00\x00\x00\x0a'; head -c 100 /dev/urandom; } \
  >"$work/short/t10k-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' >"$work/short/t10k-labels-idx1-ubyte"
rm "$work/short/train-images-idx3-ubyte"
size=$(stat -c %s "$work/short/train-images-idx3-ubyte.gz")
printf '\xde\xad\xbe\xef' | dd of="$work/short/train-images-idx3-ubyte.gz" bs=1 seek=$((size - 8)) conv=notrunc 2>/dev/null
expect_error "bad gzip checksum" "cannot load the training data.*(corrupt|check)" \
  "$starling" peer --listen "127.0.0.1:$other" --data "$work/short" --data-dir "$work/x"
grep -q "listening on" <<<"$(timeout 10 "$starling" peer --listen "127.0.0.1:$other" --data "$work/short" --data-dir "$work/x" 2>&1)" ||
  fail "bad gzip checksum: the load was not the one after the network started"
# One class is no classifier: refused before the network starts, not an assertion.
rm "$work/short/train-images-idx3-ubyte.gz"
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08' >"$work/short/train-images-idx3-ubyte"
printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' >"$work/short/t10k-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x00' >"$work/short/train-labels-idx1-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' >"$work/short/t10k-labels-idx1-ubyte"
expect_error "one class" "1 class" "$starling" peer --listen "127.0.0.1:$other" --data "$work/short" --data-dir "$work/x"
expect_error "one class, train" "1 class" "$starling" train --data "$work/short" --epochs 1
printf 'name = "one-class"\nduration = 5\n[swarm]\npeers = 2\ndata = "%s"\n' "$work/short" >"$work/one-class.toml"
expect_error "one class, simulate" "1 class" "$starling" simulate "$work/one-class.toml" --out "$work/one-class"

# status: works with the key, fails clearly without it or with another one.
out=$("$starling" status "$address" --swarm-key "$work/k1" 2>&1) || fail "status: $out"
grep -q "MEMBER" <<<"$out" || fail "status table: $out"
json=$("$starling" status "$address" --swarm-key "$work/k1" --json) || fail "status --json"
for field in node_id address uptime_seconds incarnation members bytes_sent bytes_received; do
  grep -q "\"$field\"" <<<"$json" || fail "status JSON lacks $field: $json"
done
expect_error "status, wrong key" "handshake.*failed.*swarm-key" "$starling" status "$address" --swarm-key "$work/k2"
expect_error "status, open vs keyed" "handshake.*failed.*swarm-key" "$starling" status "$address"
expect_error "status, nothing there" "cannot reach.*refused" "$starling" status "127.0.0.1:$other" --timeout 2
expect_error "status, bad address" "HOST:PORT" "$starling" status "nowhere"

# A peer with the wrong swarm key says it cannot join (after 3 handshakes, ~3 s).
: >"$work/b.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "$address" --data-dir "$work/b" --swarm-key "$work/k2" 2>"$work/b.log" &
b=$!; pids+=("$b")
wait_log "$work/b.log" "cannot join the swarm.*different swarm key" 12 || fail "wrong key not reported: $(cat "$work/b.log")"
kill -TERM "$b"; wait "$b" || fail "wrong-key peer did not exit 0 on SIGTERM"

# A peer started with the seed's own identity file cannot tell that from a
# wrong key (the seed hangs up): the error names both causes.
: >"$work/same.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "$address" --data-dir "$work/same" \
  --identity "$work/a/identity.key" --swarm-key "$work/k1" 2>"$work/same.log" &
same=$!; pids+=("$same")
wait_log "$work/same.log" "cannot join the swarm.*own identity.*own --identity or --data-dir" 12 ||
  fail "a shared identity not named: $(cat "$work/same.log")"
kill -TERM "$same"; wait "$same" || fail "shared-identity peer did not exit 0 on SIGTERM"

# A seed address where another program answers with bytes no starling sends:
# said so, not blamed on the swarm key (users compared fingerprints).
junk=$((port + 3))
python3 - "$junk" <<'PY' &
import os, socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
server.settimeout(0.5)
end = time.time() + 30
while time.time() < end:
    try:
        client, _ = server.accept()
    except socket.timeout:
        continue
    try:
        client.sendall(os.urandom(4096))
    except OSError:
        pass
    client.close()
PY
pids+=("$!")
: >"$work/junk.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "127.0.0.1:$junk" --data-dir "$work/junk" --swarm-key "$work/k1" 2>"$work/junk.log" &
junk_peer=$!; pids+=("$junk_peer")
wait_log "$work/junk.log" "cannot join the swarm.*not starling's handshake.*another program listens" 15 ||
  fail "a seed that is no starling peer not named: $(cat "$work/junk.log")"
grep -q "different swarm key" "$work/junk.log" && fail "a seed that is no starling peer blamed on the key"
kill -TERM "$junk_peer"; wait "$junk_peer" || fail "the junk-seed peer did not exit 0 on SIGTERM"

# Unreachable seed: keeps retrying and says so.
: >"$work/c.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "127.0.0.1:$((port + 2))" --data-dir "$work/c" 2>"$work/c.log" &
c=$!; pids+=("$c")
wait_log "$work/c.log" "retrying in" 6 || fail "no retry message: $(cat "$work/c.log")"
grep -q "OPEN" "$work/c.log" || fail "no open-swarm warning: $(cat "$work/c.log")"
grep -q "unreachable" "$work/c.log" || fail "seed not called unreachable: $(cat "$work/c.log")"
kill -TERM "$c"; wait "$c" || fail "retrying peer did not exit 0 on SIGTERM"

# Restart with the same data dir: same node id, higher incarnation, accepted.
: >"$work/d.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "$address" --data-dir "$work/d" --swarm-key "$work/k1" 2>"$work/d.log" &
d=$!; pids+=("$d")
wait_log "$work/d.log" "joined the swarm" 10 || fail "peer d did not join: $(cat "$work/d.log")"
id_before=$(sed -n 's/.*peer \([0-9a-f]\{64\}\) listening.*/\1/p' "$work/d.log")
kill -TERM "$d"; wait "$d" || fail "peer d did not exit 0"
[[ $(cat "$work/d/incarnation") == 0 ]] || fail "incarnation file holds $(cat "$work/d/incarnation"), want 0"
: >"$work/d2.log"
"$starling" peer --no-train --listen "127.0.0.1:$other" --seed "$address" --data-dir "$work/d" --swarm-key "$work/k1" 2>"$work/d2.log" &
d=$!; pids+=("$d")
wait_log "$work/d2.log" "joined the swarm" 10 || fail "peer d did not rejoin: $(cat "$work/d2.log")"
grep -q "peer $id_before listening.*incarnation 1," "$work/d2.log" || fail "restart: $(head -3 "$work/d2.log")"
deadline=$((SECONDS + 5)); seen=
while ((SECONDS < deadline)); do
  seen=$("$starling" status "$address" --swarm-key "$work/k1" --json | jq -r --arg a "127.0.0.1:$other" \
    '.members[] | select(.address == $a) | "\(.state) \(.incarnation)"' 2>/dev/null)
  [[ $seen == "alive 1" ]] && break
  sleep 0.2
done
[[ $seen == "alive 1" ]] || fail "the seed lists the restarted peer as '$seen', want 'alive 1'"
kill -TERM "$d"; wait "$d"

# A final checkpoint that cannot be written (here model.ckpt became a folder
# after the start, which refuses one; a full disk does the same,
# tests/cli/peer_checkpoint.sh) is an error and exit 1, not a clean stop.
: >"$work/e.log"
"$starling" peer --listen "127.0.0.1:$other" --data-dir "$work/e" --eval-every 0 --checkpoint-every 0 --model linear \
  2>"$work/e.log" &
e=$!; pids+=("$e")
wait_log "$work/e.log" "training started" 30 || fail "peer e did not train: $(cat "$work/e.log")"
mkdir -p "$work/e/model.ckpt"
kill -TERM "$e"; wait "$e"; rc=$?
[[ $rc == 1 ]] || fail "a lost final checkpoint exited $rc, want 1: $(tail -3 "$work/e.log")"
grep -q "error the final checkpoint was not written (.*model.ckpt.*directory" "$work/e.log" ||
  fail "no error for the lost final checkpoint: $(tail -3 "$work/e.log")"

grep -qE "Assertion|terminate called|Sanitizer|runtime error" "$work"/*.log && fail "a peer crashed: $(grep -hE "Assertion|terminate" "$work"/*.log)"
((failures == 0)) || exit 1
echo "PASS swarm_errors"
