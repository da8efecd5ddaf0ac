#!/usr/bin/env bash
# Addresses a peer cannot use, and what status says about a listener that is
# not a peer (a hostile-user audit): a wildcard, multicast or broadcast
# --listen or --seed (flag, config key, init; the peer advertised 0.0.0.0 and
# every member that dialled it reached itself), --listen port 0 (exit 1 where
# every other bad flag exits 105), --metrics on the --listen port ("another
# process holds this port" though it was this one), `status --timeout 0` (a
# range of 309 digits), status against an HTTP server (Cap'n Proto's words
# and the swarm key blamed), and a peer whose only seed is itself under
# another address (it never started). Loopback only, every wait bounded.
# Usage: peer_addresses.sh STARLING_BINARY
set -u
starling=${1:?usage: peer_addresses.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

# expect_flag_error DESCRIPTION PATTERN COMMAND...: refused like a bad flag (exit 105).
expect_flag_error() {
  local what=$1
  expect_refused "$@"
  ((code_of_last == 105)) || fail "$what: exit $code_of_last, want 105 ($out)"
}

peer_print=("$starling" peer --print-config)
for listen in 0.0.0.0:7000 '[::]:7000' 224.0.0.1:7000 '[ff02::1]:7000' 255.255.255.255:7000; do
  expect_flag_error "peer --listen $listen" "--listen: .* is (the unspecified \\(wildcard\\)|a multicast|the broadcast) address.*give this machine's own address as the others reach it" \
    "${peer_print[@]}" --listen "$listen"
  expect_flag_error "init --listen $listen" "--listen: .*give this machine's own address" \
    "$starling" init "$work/init-listen" --listen "$listen"
done
expect_flag_error "peer --listen 0.0.0.0 says which address" "e\\.g\\. 192\\.0\\.2\\.10:7946" "${peer_print[@]}" --listen 0.0.0.0:7000
expect_flag_error "peer --listen [::] says which address" "e\\.g\\. \\[2001:db8::1\\]:7946" "${peer_print[@]}" --listen '[::]:7000'
for seed in 0.0.0.0:7946 '[::]:7946' 239.1.2.3:7946; do
  expect_flag_error "peer --seed $seed" "--seed: .* names no machine to dial: give the seed's own address" \
    "${peer_print[@]}" --listen 127.0.0.1:7000 --seed "$seed"
  expect_flag_error "init --seed $seed" "--seed: .* names no machine to dial" \
    "$starling" init "$work/init-seed" --seed "$seed"
done
[[ -e "$work/init-listen" || -e "$work/init-seed" ]] && fail "a refused init wrote files"
printf 'listen = "0.0.0.0:7946"\n' >"$work/wildcard.toml"
expect_refused "listen = 0.0.0.0 in --config" "wildcard.toml:1: 'listen'.*wildcard" \
  "${peer_print[@]}" --config "$work/wildcard.toml"
printf 'listen = "127.0.0.1:7946"\nseed = ["0.0.0.0:7946"]\n' >"$work/wildcard-seed.toml"
expect_refused "seed = 0.0.0.0 in --config" "wildcard-seed.toml:2: 'seed'.*wildcard" \
  "${peer_print[@]}" --config "$work/wildcard-seed.toml"
# init's default --listen was 0.0.0.0:7946: now the packaged config's
# loopback default, a config `peer --config` accepts.
expect_ok "init without --listen" "$starling" init "$work/init-default"
grep -qx "listen = '127.0.0.1:7946'" "$work/init-default/starling.toml" ||
  fail "init's default listen: $(grep '^listen' "$work/init-default/starling.toml")"
expect_ok "init's default config starts" "${peer_print[@]}" --config "$work/init-default/starling.toml"
expect_ok "an ordinary address still passes" "${peer_print[@]}" --listen 192.0.2.10:7946 --seed '10.0.0.1:7946'

# Port 0 in --listen: a flag error like --seed's, before anything is made.
expect_flag_error "peer --listen port 0" "--listen: give a port other than 0: a peer listens on a fixed port" \
  "$starling" peer --listen 127.0.0.1:0 --data-dir "$work/port0-dir" --no-train
[[ -e "$work/port0-dir" ]] && fail "peer --listen port 0 made its data dir"

# status/top --timeout: a human range.
for timeout in 0 -1; do
  for command in status top; do
    expect_flag_error "$command --timeout $timeout" "--timeout: '$timeout' is out of range: give a number of seconds above 0" \
      "$starling" "$command" 127.0.0.1:9 --timeout "$timeout"
    grep -q 179769 <<<"$out" && fail "$command --timeout $timeout prints DBL_MAX: $out"
  done
done

port=$(free_port)
# --metrics on the --listen port: this very peer holds it.
expect_refused "--metrics on the --listen port" "--metrics 127.0.0.1:$port is the TCP port of this peer's own --listen" \
  timeout 10 "$starling" peer --listen "127.0.0.1:$port" --metrics "127.0.0.1:$port" --no-train --data-dir "$work/metrics-dir"
grep -q "another process" <<<"$out" && fail "--metrics on the --listen port blames another process: $out"

# status against an HTTP server: the bytes are not starling's; no swarm key blamed.
http_port=$(free_port)
/usr/bin/python3 - "$http_port" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4); s.settimeout(20)
for _ in range(2):
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    c.settimeout(2)
    try:
        c.recv(4096)
    except socket.timeout:
        pass
    try:
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
    c.close()
EOF
http_pid=$!
poll_seconds=0.1 wait_until 5 /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $http_port), 1).close()" 2>/dev/null ||
  fail "the stand-in HTTP server did not start"
# (the readiness probe took the server's first connection; status gets the second)
"$starling" keygen --swarm "$work/swarm.key" >/dev/null 2>&1 || fail "keygen"
expect_refused "status against an HTTP server" "its bytes are not starling's handshake: most likely another program listens" \
  "$starling" status "127.0.0.1:$http_port" --swarm-key "$work/swarm.key" --timeout 5
grep -qiE "swarm-key|segment|expected " <<<"$out" && fail "status against an HTTP server: $out"
kill "$http_pid" 2>/dev/null
wait "$http_pid" 2>/dev/null

# A peer whose only seed is itself under another address (a forwarder on
# another port stands for a second name): it skips that seed and starts a
# new swarm, where it retried for ever blaming the swarm key.
listen_port=$(free_port)
alias_port=$(free_port)
/usr/bin/python3 - "$alias_port" "$listen_port" <<'EOF' &
import socket, sys, threading
alias, target = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", alias)); s.listen(16); s.settimeout(30)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for sock in (a, b):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    try:
        client, _ = s.accept()
    except socket.timeout:
        break
    upstream = socket.create_connection(("127.0.0.1", target), 5)
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
EOF
forwarder_pid=$!
"$starling" peer --listen "127.0.0.1:$listen_port" --seed "127.0.0.1:$alias_port" --swarm-key "$work/swarm.key" \
  --no-train --data-dir "$work/self-seed" >"$work/self-seed.log" 2>&1 &
peer_pid=$!
wait_until 15 grep -q "starting a new swarm" "$work/self-seed.log" ||
  fail "a peer whose only seed is itself did not start a swarm: $(tail -5 "$work/self-seed.log")"
grep -q "seed 127.0.0.1:$alias_port is this peer itself under another address" "$work/self-seed.log" ||
  fail "no line naming the seed as this peer: $(tail -5 "$work/self-seed.log")"
grep -qE "handshakes failed in a row|different swarm key" "$work/self-seed.log" &&
  fail "the self seed was blamed on the swarm key: $(grep -m1 handshake "$work/self-seed.log")"
expect_ok "status of the peer that seeded itself" "$starling" status "127.0.0.1:$listen_port" --swarm-key "$work/swarm.key" --json
grep -qE '"joined": ?true' <<<"$out" || fail "the peer that seeded itself has not joined: $out"
kill -INT "$peer_pid" 2>/dev/null
wait_until 10 bash -c "! kill -0 $peer_pid 2>/dev/null" || kill -9 "$peer_pid" 2>/dev/null
wait "$peer_pid" 2>/dev/null
kill "$forwarder_pid" 2>/dev/null
wait "$forwarder_pid" 2>/dev/null

finish peer_addresses
