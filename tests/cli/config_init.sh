#!/usr/bin/env bash
# End-to-end test of `starling init`, `starling peer --config` and
# `--print-config` through the binary: init's files and modes, its config read
# back unchanged, the round trip of a printed config, FILE:LINE errors, and
# refusal to overwrite. Starts no peer. Usage: config_init.sh /path/to/starling
set -u
starling=${1:?usage: config_init.sh STARLING_BINARY}
source "$(dirname "$0")/lib/checks.sh"

# init: three files, mode 0600, and the command to start.
expect_ok "init" "$starling" init "$work/m" --listen 127.0.0.1:7946 --seed 10.0.0.1:7946
for f in starling.toml swarm.key identity.key; do
  [[ -f $work/m/$f ]] || fail "init did not write $f"
  [[ $(mode_of "$work/m/$f") == 600 ]] || fail "$f mode is $(mode_of "$work/m/$f"), want 600"
done
grep -qF "starling peer --config $work/m/starling.toml" <<<"$out" || fail "init does not print the start command: $out"
expect_ok "swarm key loads" "$starling" keygen --check "$work/m/swarm.key"

# The config init wrote is accepted and prints back as written (minus its title).
expect_ok "peer --config init's file --print-config" "$starling" peer --config "$work/m/starling.toml" --print-config
diff <(tail -n +2 "$work/m/starling.toml") <(tail -n +2 <<<"$out") >/dev/null || fail "init's config does not read back unchanged"

# Round trip of a printed command line.
"$starling" peer --listen 127.0.0.1:7000 --seed 10.0.0.1:1 --lr 0.05 --nesterov --log-format json --print-config \
  >"$work/a.toml" || fail "print-config"
"$starling" peer --config "$work/a.toml" --print-config >"$work/b.toml" || fail "print-config of a printed config"
cmp -s "$work/a.toml" "$work/b.toml" || fail "print-config -> --config -> print-config differs: $(diff "$work/a.toml" "$work/b.toml")"
grep -qx "log-format = 'json'" "$work/b.toml" || fail "log-format not in the config"

# Flags override the file.
"$starling" peer --config "$work/a.toml" --lr 0.2 --print-config | grep -qx 'lr = 0.2' || fail "--lr does not override"

# Errors name FILE:LINE and exit 1.
printf 'listen = "127.0.0.1:7000"\nlr = 0.1\nbatchz = 3\n' >"$work/bad.toml"
expect_error "unknown key" "$work/bad.toml:3: unknown key 'batchz'" "$starling" peer --config "$work/bad.toml"
printf 'listen = "127.0.0.1:7000"\nbatch = "64"\n' >"$work/bad.toml"
expect_error "wrong type" "$work/bad.toml:2: 'batch' wants an integer" "$starling" peer --config "$work/bad.toml"
expect_error "no listen" "--listen is required" "$starling" peer --lr 0.1

# A host name as a seed is refused at start like any bad flag, from --config
# too, and by init (whose config the peer would refuse): nothing resolves
# names, and the peer used to retry one for ever.
"$starling" peer --listen 127.0.0.1:7000 --profile moon --print-config >/dev/null 2>&1; bad_flag=$?
"$starling" peer --listen 127.0.0.1:7000 --seed localhost:7001 --print-config >/dev/null 2>&1; rc=$?
((rc == bad_flag && rc != 0)) || fail "--seed localhost:7001: exit $rc, want $bad_flag like any bad flag"
expect_error "seed host name" "--seed: 'localhost' is not a numeric IP address.*numeric IPv4 or IPv6 HOST:PORT" \
  "$starling" peer --listen 127.0.0.1:7000 --seed 10.0.0.1:1 --seed localhost:7001 --print-config
printf 'listen = "127.0.0.1:7000"\nseed = ["10.0.0.1:1", "localhost:7001"]\n' >"$work/name.toml"
expect_error "seed host name in --config" "$work/name.toml:2: 'seed': --seed: 'localhost' is not a numeric IP address" \
  "$starling" peer --config "$work/name.toml" --print-config
expect_error "init --seed host name" "--seed: 'seed.example' is not a numeric IP address" \
  "$starling" init "$work/o" --seed seed.example:7946
[[ ! -e $work/o ]] || fail "init made $work/o for a refused seed"
# Port 0 is refused as `starling peer` refuses it: a config that cannot start is never written.
expect_error "init --seed port 0" "--seed: .*port 0 cannot be dialled" "$starling" init "$work/o" --seed 10.0.0.1:0
expect_error "init --listen port 0" "--listen: give a port other than 0" "$starling" init "$work/o" --listen 127.0.0.1:0
printf 'listen = "127.0.0.1:7000"\nseed = ["10.0.0.1:0"]\n' >"$work/port0.toml"
expect_error "seed port 0 in --config" "$work/port0.toml:2: 'seed': .*port 0 cannot be dialled" \
  "$starling" peer --config "$work/port0.toml" --print-config
[[ ! -e $work/o ]] || fail "init made $work/o for a refused port"
# '~' in a config file: no shell expands it, and it was a folder named "~"
# in the working directory.
printf 'listen = "127.0.0.1:7000"\ndata-dir = "~/stdir"\n' >"$work/tilde.toml"
expect_error "~ in --config" "$work/tilde.toml:2: 'data-dir': '~/stdir': '~' is not expanded" \
  "$starling" peer --config "$work/tilde.toml" --print-config
expect_ok "IPv6 seed" "$starling" peer --listen 127.0.0.1:7000 --seed "[::1]:7001" --print-config
# Run, a seed of the other family is refused at start: the swarm joined over
# TCP, then its membership datagrams could not cross and it never settled.
expect_error "a seed of another address family" "--seed: \[::1\]:7001 is an IPv6 address and this peer listens on IPv4" \
  timeout 20 "$starling" peer --listen 127.0.0.1:7000 --seed "[::1]:7001" --no-train --data-dir "$work/family"

# A folder whose name is not UTF-8: init wrote a config the peer then could
# not read (TOML holds UTF-8 text only); now it is refused, nothing made.
expect_error "init DIR not UTF-8" "is not valid UTF-8" "$starling" init "$work/m"$'\xff'"x"
[[ ! -e "$work/m"$'\xff'"x" ]] || fail "init made a folder whose name it refused"

# A folder name with a space or a quote: the command init prints is one shell
# word that starts the peer (it was pasted as two words), and its config's
# comment line says the same. A newline would end that comment line, and the
# rest of the name became a line the peer refused: refused, nothing made.
expect_ok "init DIR with a space and a quote" "$starling" init "$work/it's a dir" --listen 127.0.0.1:7946
start=$(sed -n '/^start this machine with:/{n;s/^  starling //;p}' <<<"$out")
[[ -n $start ]] || fail "init printed no start command: $out"
bash -c "\"\$0\" $start --print-config" "$starling" >/dev/null 2>&1 ||
  fail "init's printed start command does not run as printed: starling $start"
head -1 "$work/it's a dir/starling.toml" | grep -qF -- "start with: starling $start" ||
  fail "the config's comment names another command: $(head -1 "$work/it's a dir/starling.toml")"
expect_error "init DIR with a newline" "holds a control character" "$starling" init "$work/nl"$'\n'"dir"
[[ ! -e "$work/nl"$'\n'"dir" ]] || fail "init made a folder whose name it refused"

# --print-config vouches for what it prints: values the peer refuses at start
# (checked there only, after the data is probed) fail it too, as the peer
# exits (2), with the peer's reason; the configuration still prints. It used
# to exit 0 on all of these.
for refused in "eval-every = '5s'|counts training steps" "shard = '3/2'|bad shard '3/2'" \
               "model = 'mlp:'|bad hidden layer size" "classes = 1|--classes 1: a classifier needs at least 2" \
               "threads = 2|a peer trains on one thread"; do
  printf 'listen = "127.0.0.1:7000"\n%s\n' "${refused%%|*}" >"$work/refused.toml"
  printed=$("$starling" peer --config "$work/refused.toml" --print-config 2>"$work/refused.err"); rc=$?
  ((rc == 2)) || fail "print-config of ${refused%%|*}: exit $rc, want 2 ($(cat "$work/refused.err"))"
  grep -qF -- "${refused#*|}" "$work/refused.err" || fail "print-config of ${refused%%|*}: $(cat "$work/refused.err")"
  grep -q '^listen = ' <<<"$printed" || fail "print-config of ${refused%%|*} printed no configuration"
done
# The peer itself says the same about --classes 1 (it blamed the data's labels).
expect_error "peer --classes 1" "--classes 1: a classifier needs at least 2" \
  timeout 20 "$starling" peer --listen 127.0.0.1:7000 --classes 1 --data-dir "$work/classes"

# init never overwrites, and leaves nothing behind when it refuses.
expect_error "init twice" "exists: init never overwrites" "$starling" init "$work/m"
mkdir "$work/n" && echo keep >"$work/n/swarm.key"
expect_error "init over a swarm key" "exists" "$starling" init "$work/n"
[[ ! -e $work/n/starling.toml && ! -e $work/n/identity.key ]] || fail "init left files after refusing"
[[ $(cat "$work/n/swarm.key") == keep ]] || fail "init changed an existing file"

# A write that fails (a full disk; here a 4 kB file size limit, under the
# 5.6 kB config) leaves nothing: it left a truncated starling.toml beside the
# keys, and a rerun refused because it existed.
full=$(bash -c 'trap "" XFSZ; ulimit -f 4; "$0" init "$1"' "$starling" "$work/capped" 2>&1) &&
  fail "init under a file size limit succeeded: $full"
grep -q "cannot write $work/capped/starling.toml: File too large" <<<"$full" || fail "init's write error: $full"
[[ ! -e $work/capped ]] || fail "init left files after a failed write: $(ls -la "$work/capped")"

finish config_init
