#!/usr/bin/python3
"""starling side of bench/swarm_vs_ddp.sh: runs one configuration, prints JSON lines.

  --peers N (N >= 2)  launches N real `starling peer` processes on 127.0.0.1
                      (peer 0 starts the swarm, the others join through it),
                      each training on its IID shard I/N, and polls
                      `starling status ADDR --json` of every peer every --poll
                      seconds until every peer's own model has had an
                      evaluation >= --target and, at one poll, every live
                      peer's last one is, or --time-limit seconds have passed;
                      then SIGTERMs them (SIGKILL after a bounded wait).
  --peers 1           one replica with `starling train` (no network), read from
                      its --json evaluations, stopped at --target or the limit.

Clocks (seconds):
  t      wall time since peer 0 was launched: includes process start-up, data
         loading, joining, every evaluation, and up to one poll interval plus
         one --eval-every (steps) of detection delay (the accuracy a poll sees is the
         peer's last evaluation). For --peers 1, t is the time since launch at
         which starling train printed the evaluation.
  t_train  for the swarm, t minus the time of the last poll at which some peer
         had not yet made a step (so never shorter than the true training
         time); for --peers 1, starling train's train_seconds (evaluation
         excluded).
A peer is live while its process runs and its status answers.

Time and steps to target (the summary's time_to_target and steps), the rule
`starling train`'s replica is measured by, applied to each peer's own model:
a peer reaches the target at its first evaluation >= target (the poll that
first shows it gives the step, `evaluated_at_step`; its time is that poll's
answer less the steps made since at the peer's rate, so poll lag does not
count); the swarm reaches it when its last peer does. `steps` is the mean over
peers of those steps, `steps_together` the same less each peer's head start
(peer 0 trains alone while the others start, load the data and download its
model: its lead in steps at the first poll at which every peer had stepped).
`time_all_at_once` is the older, stricter rule: the first poll at which every
live peer's last evaluation is >= target (noise near the target keeps that
seconds later), and `steps_at_stop` the mean step at the last poll (what the
summary's `steps` was before 2026-12-01: up to a poll and an evaluation period
of steps later than the evaluation that reached the target).

Bytes: bytes_per_proc = mean over live peers of training.bytes_sent (wire
bytes incl. framing and crypto, whole peer) from the status; the summary's
bytes_per_peer_per_step averages bytes_sent/step over peers. As a cross-check,
when run as root (or with user namespaces) the whole swarm runs in a private
network namespace and the summary also gives loopback tx bytes (TCP/UDP/IP
headers, membership and status polls included) per peer per step.

Output: {"impl":"starling","procs","compress","event":"evaluation","t","t_train",
"accuracy" (min over live peers),"accuracy_mean","bytes_per_proc","step" (mean),
"peers":[...]} per poll, then one {"event":"summary",...}.
"""
import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

CLONE_NEWNET = 0x40000000


def private_netns():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    ip = next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip") if os.path.exists(p)), None)
    if ip is None or subprocess.run([ip, "link", "set", "lo", "up"]).returncode != 0:
        raise SystemExit("starling_swarm: could not bring lo up in the private namespace (install iproute2 or --netns no)")
    return True


def lo_tx_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, fields = line.partition(":")
            if name.strip() == "lo":
                return int(fields.split()[8])
    return 0


def emit(obj):
    print(json.dumps(obj), flush=True)


def log(msg):
    print(f"starling_swarm: {msg}", file=sys.stderr, flush=True)


class Procs:
    """Every process started here; all of them are stopped on exit, each wait bounded."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)  # same process group: the caller can stop everything at once
        self.procs.append(p)
        return p

    def stop_all(self, grace=5.0):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def status(binary, addr, key, timeout):
    argv = [binary, "status", addr, "--json", "--timeout", str(timeout)]
    if key:
        argv += ["--swarm-key", key]
    return argv


def poll_all(binary, addrs, key, timeout):
    """Status of every peer, queried in parallel; None for a peer that did not answer."""
    running = [subprocess.Popen(status(binary, a, key, timeout), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for a in addrs]
    out = []
    for p in running:
        try:
            stdout, _ = p.communicate(timeout=timeout + 2)
            out.append(json.loads(stdout) if p.returncode == 0 else None)
        except (subprocess.TimeoutExpired, json.JSONDecodeError):
            p.kill()
            p.communicate(timeout=5)
            out.append(None)
    return out


def run_single(args, procs):
    """One replica with `starling train` (no network): the single-replica reference."""
    argv = [args.starling, "train", "--data", args.data, "--model", args.model, "--batch", str(args.batch),
            "--lr", str(args.lr), "--epochs", "1000", "--eval-every", str(args.train_eval_steps), "--json", "-q"]
    if args.random_seed is not None:
        argv += ["--seed", str(args.random_seed)]
    t_start = time.monotonic()
    p = procs.start(argv, stdout=subprocess.PIPE, text=True)
    reached, last = None, None
    for line in p.stdout:  # bounded: the process is stopped at the time limit below
        r = json.loads(line)
        if r.get("event") != "evaluation":
            continue
        last = r
        r["since_launch"] = time.monotonic() - t_start
        emit({"impl": "starling", "procs": 1, "compress": "none", "event": "evaluation", "t": r["since_launch"],
              "t_train": r["train_seconds"], "accuracy": r["test_accuracy"], "accuracy_mean": r["test_accuracy"],
              "bytes_per_proc": 0, "step": r["step"]})
        if r["test_accuracy"] >= args.target and reached is None:
            reached = r
        if reached or time.monotonic() - t_start > args.time_limit:
            break
    procs.stop_all()
    emit({"impl": "starling", "procs": 1, "compress": "none", "event": "summary", "tool": "starling train",
          "target": args.target, "time_to_target": reached["since_launch"] if reached else None,
          "time_to_target_train": reached["train_seconds"] if reached else None,
          "final_accuracy": last["test_accuracy"] if last else None, "final_accuracy_mean": None,
          "steps": last["step"] if last else None, "live_peers": 1, "bytes_per_peer_per_step": 0.0,
          "lo_bytes_per_peer_per_step": None, "batch": args.batch, "lr": args.lr})


def run_swarm(args, procs, private):
    work = args.workdir or tempfile.mkdtemp(prefix="starling-swarm-")
    os.makedirs(work, exist_ok=True)
    key = None
    if not args.open_swarm:
        key = os.path.join(work, "swarm.key")
        if os.path.exists(key):
            os.remove(key)
        subprocess.run([args.starling, "keygen", "--swarm", key], check=True, stdout=subprocess.DEVNULL, timeout=30)
    addrs = [f"127.0.0.1:{args.base_port + i}" for i in range(args.peers)]

    def peer_argv(i):
        argv = [args.starling, "peer", "--listen", addrs[i], "--data-dir", os.path.join(work, f"peer-{i}"),
                "--data", args.data, "--model", args.model, "--compress", args.compress, "--lr", str(args.lr),
                "--batch", str(args.batch), "--shard", f"{i}/{args.peers}", "--partition", "iid",
                "--eval-every", str(args.eval_every)]
        if not any(a.startswith("--local-average-every") for a in args.peer_arg):
            argv += ["--local-average-every", str(args.local_average_every)]
        if i > 0:
            argv += ["--seed", addrs[0]]
        if key:
            argv += ["--swarm-key", key]
        if args.random_seed is not None:
            argv += ["--random-seed", str(args.random_seed)]
        return argv + args.peer_arg

    lo0 = lo_tx_bytes()
    t0 = time.monotonic()
    logs = [open(os.path.join(work, f"peer-{i}.log"), "w") for i in range(args.peers)]
    peers = [procs.start(peer_argv(0), stdout=logs[0], stderr=subprocess.STDOUT)]
    # Peer 0 first, so the others have a seed to join: wait (bounded) for its status to answer.
    while poll_all(args.starling, addrs[:1], key, 1.0)[0] is None:
        if peers[0].poll() is not None or time.monotonic() - t0 > 30:
            raise SystemExit(f"starling_swarm: peer 0 did not come up (see {work}/peer-0.log)")
        time.sleep(0.2)
    for i in range(1, args.peers):
        peers.append(procs.start(peer_argv(i), stdout=logs[i], stderr=subprocess.STDOUT))

    reached = reached_train = None  # the old rule: every live peer's last evaluation >= target at one poll
    started_after = None  # last poll time at which some peer had not made a step yet
    # Per peer: its first evaluation >= target (the rule `starling train`'s
    # replica is measured by), the evaluations seen, and its steps made before
    # the last peer started training (peer 0 trains alone while the others
    # start, load the data and download its model).
    first = [None] * args.peers
    seen = [set() for _ in range(args.peers)]
    head_start = None
    last, last_t = None, 0.0
    next_poll = time.monotonic()
    while True:
        next_poll += args.poll
        time.sleep(max(0.0, next_poll - time.monotonic()))
        t = time.monotonic() - t0
        answers = poll_all(args.starling, addrs, key, args.poll_timeout)
        t_answered = time.monotonic() - t0
        rows = []
        for i, (p, a) in enumerate(zip(peers, answers)):
            tr = (a or {}).get("training") or {}
            live = p.poll() is None and a is not None
            rows.append({"peer": i, "live": live, "exited": p.poll(), "step": tr.get("step"),
                         "accuracy": tr.get("test_accuracy"), "evaluated_at_step": tr.get("evaluated_at_step"),
                         "bytes_sent": tr.get("bytes_sent"), "bytes_received": tr.get("bytes_received"),
                         "transport_bytes_sent": (a or {}).get("bytes_sent"),
                         "gossip_bytes_sent": tr.get("gossip_bytes_sent"),
                         "model_bytes_downloaded": tr.get("model_bytes_downloaded"),
                         "model_bytes_served": tr.get("model_bytes_served"), "state": tr.get("state"),
                         "steps_per_second": tr.get("steps_per_second"), "rounds": tr.get("rounds"),
                         "link_resets": tr.get("link_resets"),
                         "train_loss": tr.get("train_loss"), "consensus_distance": tr.get("consensus_distance"),
                         "neighbours": len(tr.get("neighbours") or []),
                         "corrections_applied": tr.get("corrections_applied"),
                         "deltas_sent": tr.get("deltas_sent"), "deltas_received": tr.get("deltas_received"),
                         "deltas_skipped_queue": tr.get("deltas_skipped_queue"),
                         "deltas_skipped_budget": tr.get("deltas_skipped_budget"),
                         "pacing": tr.get("pacing")})
        live = [r for r in rows if r["live"]]
        if any(not r["step"] for r in rows if r["exited"] is None):
            started_after = t
        elif head_start is None and all(r["step"] for r in rows):
            # Rates are alike, so a peer's lead in steps is what it made before the last one started.
            low = min(r["step"] for r in rows)
            head_start = [r["step"] - low for r in rows]
        for i, r in enumerate(rows):
            at, a = r["evaluated_at_step"], r["accuracy"]
            if not at or a is None:
                continue
            seen[i].add(at)
            if first[i] is None and a >= args.target:
                # When it evaluated: the answer's time less the steps made since, at its rate
                # (never before the true time: the answer came at or before t_answered).
                rate = r["steps_per_second"] or 0.0
                since = (r["step"] - at) / rate if rate > 0 and r["step"] and r["step"] > at else 0.0
                first[i] = {"step": at, "t": max(0.0, t_answered - since), "polled_at": t_answered,
                            "evaluations_seen": len(seen[i]), "evaluations_due": at // args.eval_every}
        accs = [r["accuracy"] for r in live]
        known = bool(live) and all(a is not None for a in accs)
        acc = min(accs) if known else None
        sent = [r["bytes_sent"] or 0 for r in live]
        steps = [r["step"] or 0 for r in live]
        t_train = t - started_after if started_after is not None else t
        emit({"impl": "starling", "procs": args.peers, "compress": args.compress, "event": "evaluation",
              "t": round(t, 3), "t_train": round(t_train, 3), "accuracy": acc,
              "accuracy_mean": sum(accs) / len(accs) if known else None,
              "bytes_per_proc": sum(sent) / len(sent) if sent else None,
              "step": sum(steps) / len(steps) if steps else None, "live_peers": len(live), "peers": rows})
        if live:
            last, last_t = rows, t
        if known and acc >= args.target and reached is None:
            reached, reached_train = t, t_train
        if (reached is not None and all(first)) or t >= args.time_limit:
            break
        if all(p.poll() is not None for p in peers):
            log("every peer exited; see the logs in " + work)
            break
    lo_sent = lo_tx_bytes() - lo0
    procs.stop_all()
    for f in logs:
        f.close()
    live = [r for r in (last or []) if r["live"]]
    per_step = [r["bytes_sent"] / r["step"] for r in live if r["step"] and r["bytes_sent"] is not None]
    gossip_per_step = [r["gossip_bytes_sent"] / r["step"] for r in live
                       if r["step"] and r["gossip_bytes_sent"] is not None]
    per_second = [r["bytes_sent"] / last_t for r in live if r["bytes_sent"] is not None and last_t > 0]
    mean_steps = sum(r["step"] or 0 for r in live) / max(len(live), 1)
    accs = [r["accuracy"] for r in live if r["accuracy"] is not None]
    crashed = [r["peer"] for r in (last or []) if r["exited"] not in (None, 0, -signal.SIGTERM)]
    # Issue 13's measure, the replica's rule per peer: every peer's own model
    # has had an evaluation >= target; the time is the last of those
    # evaluations, the steps each peer's step at its own.
    done = all(first)
    t88 = max(f["t"] for f in first) if done else None
    steps_each = [f["step"] if f else None for f in first]
    together = ([f["step"] - h for f, h in zip(first, head_start)] if done and head_start else None)
    emit({"impl": "starling", "procs": args.peers, "compress": args.compress, "event": "summary",
          "tool": "starling peer", "target": args.target, "time_to_target": t88,
          "time_to_target_train": (t88 - started_after if started_after is not None else t88) if done else None,
          "time_clock": "wall since peer 0 launched, each peer's first evaluation >= target (the last of them; "
                        "its time from the poll that saw it less the steps made since at the peer's rate)",
          "time_all_at_once": reached, "time_all_at_once_train": reached_train,
          "time_all_at_once_clock": "the first poll at which every live peer's last evaluation was >= target",
          "final_accuracy": min(accs) if accs else None,
          "final_accuracy_mean": sum(accs) / len(accs) if accs else None, "at": last_t,
          "steps": sum(steps_each) / len(steps_each) if done else mean_steps,
          "steps_measure": "mean over peers of the step of each one's first evaluation >= target" if done
          else "mean step at the last poll (target not reached)",
          "steps_per_peer": steps_each, "steps_slowest_peer": max(steps_each) if done else None,
          "steps_at_stop": mean_steps, "head_start_steps": head_start,
          "steps_together": sum(together) / len(together) if together else None,
          "steps_together_note": "per peer, steps to target less those it made before the last peer started "
                                 "(the lead in steps at the first poll where every peer had stepped)",
          "first_reach": first, "live_peers": len(live), "crashed_peers": crashed,
          "bytes_per_peer_per_step": sum(per_step) / len(per_step) if per_step else None,
          "bytes_source": "training.bytes_sent of each peer's status (framing and crypto included)",
          "gossip_bytes_per_peer_per_step": sum(gossip_per_step) / len(gossip_per_step) if gossip_per_step else None,
          "bytes_per_peer_per_second": sum(per_second) / len(per_second) if per_second else None,
          "gossip_interval_ms": next((a.split("=")[1] for a in args.peer_arg if a.startswith("--gossip-interval=")),
                                     "peer default"),
          "lo_bytes_per_peer_per_step": (lo_sent / args.peers / mean_steps) if private and mean_steps else None,
          "lo_note": "private-namespace loopback: all peer traffic incl. membership and status polls, IP headers"
          if private else "not measured (no private network namespace)",
          "batch": args.batch, "lr": args.lr, "eval_every": args.eval_every,
          "local_average_every": args.local_average_every, "poll": args.poll,
          "peer_args": args.peer_arg, "workdir": work})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starling", required=True, help="path to the starling binary")
    ap.add_argument("--peers", type=int, default=2, help="number of peers (1: starling train, no network)")
    ap.add_argument("--compress", default="none", help="none | topk:F | int8 | sign ... (default none)")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--model", default="mlp:256,128")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--target", type=float, default=0.88)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds since launch (default 120)")
    ap.add_argument("--eval-every", type=int, default=500,
                    help="peer --eval-every STEPS (default 500, as --train-eval-steps)")
    ap.add_argument("--local-average-every", type=int, default=0,
                    help="peer --local-average-every N (default 0: the local average is never evaluated; the "
                         "measure reads the own model only, and `starling train` evaluates one model)")
    ap.add_argument("--train-eval-steps", type=int, default=500,
                    help="--peers 1: starling train --eval-every STEPS (default 500)")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between status polls (default 0.5)")
    ap.add_argument("--poll-timeout", type=float, default=2.0, help="status --timeout (default 2)")
    ap.add_argument("--base-port", type=int, default=17946, help="peer i listens on 127.0.0.1:BASE+i")
    ap.add_argument("--random-seed", type=int, default=None, help="--random-seed for every peer (default: unset)")
    ap.add_argument("--open-swarm", action="store_true", help="no swarm key (default: a fresh key per run)")
    ap.add_argument("--workdir", default=None, help="data dirs, keys and peer logs (default: a new temp dir)")
    ap.add_argument("--netns", choices=["auto", "yes", "no"], default="auto",
                    help="private network namespace (isolated ports, clean loopback bytes); default: if allowed")
    ap.add_argument("--peer-arg", action="append", default=[], help="extra argument for every peer (repeatable)")
    args = ap.parse_args()
    if args.peers < 1:
        ap.error("--peers must be >= 1")
    private = False
    if args.peers > 1 and args.netns != "no":
        private = private_netns()
        if not private and args.netns == "yes":
            raise SystemExit("starling_swarm: unshare(CLONE_NEWNET) refused")
    procs = Procs()

    def on_signal(signum, _frame):
        procs.stop_all(grace=3.0)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if args.peers == 1:
            run_single(args, procs)
        else:
            run_swarm(args, procs, private)
    finally:
        procs.stop_all(grace=3.0)


if __name__ == "__main__":
    main()
