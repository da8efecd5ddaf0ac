#!/usr/bin/env bash
# `starling top` in a real terminal: a two-peer swarm on loopback (a tiny
# generated CSV, so no data package is needed), `starling top` inside a
# detached tmux session of 120x40 on a private tmux server. The frame must
# show both members and the neighbour link; a killed peer must show as
# unreachable without ending the view; `q` must end it with exit 0, Ctrl-C
# with 130, Ctrl-Z and fg must hand the terminal back and forth, each time
# with the terminal's mode (stty -g) as it was before.
# Every wait is bounded; peers and the tmux server are killed on exit.
# Usage: top.sh STARLING_BINARY
set -u
starling=${1:?usage: top.sh STARLING_BINARY}
command -v tmux >/dev/null || { echo "SKIP: tmux not installed (scripts/install-deps.sh installs it)"; exit 0; }
source "$(dirname "$0")/lib/peers.sh"
sock="$work/tmux.sock"  # a private server: never touches the user's tmux sessions
trap 'tmux -S "$sock" kill-server 2>/dev/null; cleanup' EXIT
start=$SECONDS

toy_csv "$work/toy.csv" 400 3
"$starling" keygen --swarm "$work/swarm.key" >/dev/null || fail "keygen"
key=(--swarm-key "$work/swarm.key")
peer_flags=(--data "$work/toy.csv" --model mlp:8 --batch 16 --eval-every 50 --checkpoint-every 0)
start_peer 0
start_peer 1 0

# run_top NAME ARGS...: starling top in a new tmux session NAME; the script in
# the pane records the terminal mode before and after, and the exit code.
run_top() {
  local name=$1; shift
  cat >"$work/$name.sh" <<EOF
stty -g >"$work/$name.before"
"$starling" top $* 2>"$work/$name.err"
echo \$? >"$work/$name.rc.tmp"
stty -g >"$work/$name.after"
mv "$work/$name.rc.tmp" "$work/$name.rc"
EOF
  tmux -S "$sock" new-session -d -s "$name" -x 120 -y 40 "bash $work/$name.sh" || fail "tmux new-session"
}
screen() { tmux -S "$sock" capture-pane -p -t "$1" 2>/dev/null; }
# wait_screen NAME SECONDS DESCRIPTION EGREP...: until every pattern matches the pane.
wait_screen() {
  local name=$1 limit=$2 what=$3; shift 3
  local deadline=$((SECONDS + limit)) shot pattern ok
  while ((SECONDS < deadline)); do
    shot=$(screen "$name"); ok=1
    for pattern in "$@"; do grep -Eq -- "$pattern" <<<"$shot" || { ok=0; break; }; done
    ((ok)) && return 0
    sleep 0.2
  done
  echo "--- last screen of $name:" >&2; screen "$name" >&2
  echo "--- its stderr:" >&2; cat "$work/$name.err" >&2 2>/dev/null
  fail "$what: not on screen within $limit s"
}
# wait_exit NAME SECONDS: sets rc to the exit code of top in session NAME.
wait_exit() {
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    [[ -f $work/$1.rc ]] && { rc=$(cat "$work/$1.rc"); return 0; }
    sleep 0.1
  done
  fail "top in session $1 did not exit within $2 s"
}
check_mode_restored() {
  [[ -s $work/$1.before && $(cat "$work/$1.before") == "$(cat "$work/$1.after")" ]] ||
    fail "terminal mode not restored after top ($1): before '$(cat "$work/$1.before")' after '$(cat "$work/$1.after" 2>/dev/null)'"
}

a0="127\\.0\\.0\\.1:${ports[0]}" a1="127\\.0\\.0\\.1:${ports[1]}"
run_top q "127.0.0.1:${ports[0]}" "${key[@]}" --interval 0.5 --timeout 3
# Both members (self first), the neighbour with a ready link and its epoch,
# accuracy and rates once two answers came.
wait_screen q 15 "both members, a ready neighbour and rates" \
  "^[0-9a-f]{12}  $a0 +alive \\(self\\)" \
  "^[0-9a-f]{12}  $a1 +alive " \
  "^[0-9a-f]{12}  $a1 +(out|in) +yes +[0-9]+ +[0-9.e+-]+ " \
  "^members   2 alive  0 suspect" \
  "^accuracy  own [0-9.]+%" \
  "^traffic   in [0-9.]+ [KMG]?i?B/s  out [0-9.]+ [KMG]?i?B/s" \
  "^q quit"
echo "frame with both members and the neighbour after $((SECONDS - start)) s"
# The peer goes away: the view says so and keeps polling.
kill -9 "${pids[0]}"; wait "${pids[0]}" 2>/dev/null; pids[0]=
wait_screen q 10 "unreachable banner" "^UNREACHABLE since [0-9:]+ UTC \\([0-9a-z]+ ago\\), retrying every 0\\.5 s, showing its last answer: " "^q quit"
[[ -f $work/q.rc ]] && fail "top exited when the peer went away (rc $(cat "$work/q.rc"))"
tmux -S "$sock" send-keys -t q q
wait_exit q 5
[[ $rc == 0 ]] || fail "top exited with $rc after q (stderr: $(cat "$work/q.err"))"
check_mode_restored q
echo "q: exit 0, terminal mode restored"

# Ctrl-C (SIGINT through the terminal) ends it too, with 128 + 2.
run_top c "127.0.0.1:${ports[1]}" "${key[@]}" --interval 0.5 --timeout 3
wait_screen c 10 "the second view" "^[0-9a-f]{12}  $a1 +alive \\(self\\)"
# A smaller terminal: the frame is redrawn to fit it (13 lines do not fit 10
# rows; the members' table says what it left out, the footer stays).
tmux -S "$sock" resize-window -t c -x 120 -y 10 || fail "tmux resize-window"
wait_screen c 5 "the frame refitted to 10 rows" "^\\.\\.\\. 2 more members" "^q quit"
tmux -S "$sock" send-keys -t c C-c
wait_exit c 5
[[ $rc == 130 ]] || fail "top exited with $rc after Ctrl-C, want 130"
check_mode_restored c
echo "Ctrl-C: exit 130, terminal mode restored"

# Ctrl-Z under a shell with job control (set -m, as an interactive shell has):
# top stops with the terminal back in its old mode and off the alternate
# screen; fg brings the view back in raw mode, and q still ends it cleanly.
cat >"$work/z.sh" <<EOF
set -m
stty -g >"$work/z.before"
"$starling" top "127.0.0.1:${ports[1]}" ${key[*]} --interval 0.5 --timeout 3 2>"$work/z.err"
rc=\$?
if ((rc == 148)); then  # stopped (128 + SIGTSTP)
  stty -g >"$work/z.stopped"
  until [[ -f "$work/z.go" ]]; do sleep 0.1; done
  fg >/dev/null
  rc=\$?
fi
echo \$rc >"$work/z.rc.tmp"
stty -g >"$work/z.after"
mv "$work/z.rc.tmp" "$work/z.rc"
EOF
tmux -S "$sock" new-session -d -s z -x 120 -y 40 "bash $work/z.sh" || fail "tmux new-session"
wait_screen z 10 "the third view" "^[0-9a-f]{12}  $a1 +alive \\(self\\)"
tty=$(tmux -S "$sock" display -p -t z '#{pane_tty}')
tmux -S "$sock" send-keys -t z C-z
deadline=$((SECONDS + 5))
until [[ -f $work/z.stopped ]]; do ((SECONDS < deadline)) || fail "top did not stop on Ctrl-Z"; sleep 0.1; done
[[ $(cat "$work/z.stopped") == "$(cat "$work/z.before")" ]] || fail "terminal mode not restored while top is stopped"
screen z | grep -q "^q quit" && fail "the view stayed on screen while top is stopped"
touch "$work/z.go"
wait_screen z 5 "the view back after fg" "^[0-9a-f]{12}  $a1 +alive \\(self\\)" "^q quit"
[[ $(stty -F "$tty" -g) != "$(cat "$work/z.before")" ]] || fail "top did not take raw mode back after fg"
tmux -S "$sock" send-keys -t z q
wait_exit z 5
[[ $rc == 0 ]] || fail "top exited with $rc after Ctrl-Z, fg and q"
check_mode_restored z
echo "Ctrl-Z: terminal restored while stopped, view back after fg, q exits 0"

# --once prints one frame as text (two polls for the rates) and exits 0;
# exit 1 with the reason for a peer that does not answer.
once=$("$starling" top "127.0.0.1:${ports[1]}" "${key[@]}" --once --interval 0.3) || fail "--once exited non-zero"
grep -Eq "^[0-9a-f]{12}  $a1 +alive \\(self\\)" <<<"$once" || fail "--once frame lacks self: $once"
grep -q "q quit" <<<"$once" && fail "--once frame has the live footer"
if out=$("$starling" top "127.0.0.1:${ports[0]}" "${key[@]}" --once --timeout 1); then fail "--once on a dead peer exited 0"; fi
grep -q "^UNREACHABLE since" <<<"$out" || fail "--once on a dead peer: $out"
# Errors that are the user's: a clear message and exit 1, no crash.
out=$("$starling" top "127.0.0.1:${ports[1]}" "${key[@]}" </dev/null 2>&1 >/dev/null) && fail "top into a pipe exited 0"
grep -q "stdout is not a terminal (use --once" <<<"$out" || fail "top into a pipe: $out"
out=$("$starling" top nowhere --once 2>&1) && fail "top on a bad address exited 0"
grep -q "want IP:PORT" <<<"$out" || fail "top on a bad address: $out"

# A peer that accepts connections but never answers (stopped): q still quits
# at once, without waiting out the 20 s --timeout of the poll in flight.
kill -STOP "${pids[1]}"
run_top s "127.0.0.1:${ports[1]}" "${key[@]}" --timeout 20
wait_screen s 5 "the first poll in flight" "no answer yet$"
sleep 0.5
quit_start=$SECONDS
tmux -S "$sock" send-keys -t s q
wait_exit s 3
[[ $rc == 0 ]] || fail "top on a silent peer exited with $rc after q"
check_mode_restored s
kill -CONT "${pids[1]}"
echo "q while a poll waits on a silent peer: exit 0 within $((SECONDS - quit_start)) s"
echo "PASS top in $((SECONDS - start)) s"
