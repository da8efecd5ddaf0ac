#!/usr/bin/env python3
"""CPU per training step: real `starling peer` processes against one `starling train` (issue 13).

Runs `starling train` alone, then N peers on loopback (the same flags as
bench/swarm_vs_ddp.sh: MLP 784-256-128-10, batch 64, lr 0.02, IID shards),
then `starling train` again, and reports each process's CPU time (user +
system, from /proc) per training step over a window that starts after a
warm-up, split by thread for the peers (the training thread is named
`starling-train` by the worker; the loop thread is the process's main
thread). CPU per step does not count time spent waiting for a core, so it
holds on a loaded machine where steps/s and wall times do not.

    bench/peer_cpu.py --starling build/apps/starling --compress sign
    bench/peer_cpu.py --starling build/apps/starling --compress sign --peer-arg=--round-floor=0

Output: one JSON line per process and a summary line with the ratio of the
peers' mean CPU per step to the replica's (mean of the two train runs).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """Seconds of user + system CPU of a whole process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_cpu(pid):
    """{name: seconds} per thread; the main thread is `loop`, unnamed others keep their tid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            fields = rest.split()
            name = head.split("(", 1)[1]
        except OSError:
            continue
        if int(tid) == pid:
            name = "loop"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def load():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_train(args):
    """--train-procs concurrent `starling train` replicas (2: the same contention as 2 peers)."""
    argv = [args.starling, "train", "--data", args.data, "--model", args.model, "--batch", str(args.batch),
            "--lr", str(args.lr), "--epochs", "1000", "--eval-every", str(args.train_eval_steps), "--json", "-q"]
    load_before = load()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(args.train_procs)]
    t0 = time.monotonic()
    samples = [[] for _ in procs]

    def reader(i, p):
        for line in p.stdout:
            r = json.loads(line)
            if r.get("event") != "evaluation":
                continue
            now = time.monotonic() - t0
            if now >= args.warmup:
                samples[i].append((r["step"], proc_cpu(p.pid), now))
            if now >= args.warmup + args.duration:
                break

    threads = [threading.Thread(target=reader, args=(i, p)) for i, p in enumerate(procs)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=10)
    outs = []
    for s in samples:
        first, last = s[0], s[-1]
        steps = last[0] - first[0]
        cpu = last[1] - first[1]
        wall = last[2] - first[2]
        out = {"process": "starling train", "concurrent": args.train_procs, "steps": steps, "cpu_s": round(cpu, 3),
               "wall_s": round(wall, 2), "cpu_us_per_step": round(1e6 * cpu / steps, 1),
               "steps_per_s": round(steps / wall, 1), "load_before": load_before, "load_after": load()}
        print(json.dumps(out), flush=True)
        outs.append(out)
    return outs


def status(args, addr, key):
    r = subprocess.run([args.starling, "status", addr, "--json", "--timeout", "2", "--swarm-key", key],
                       capture_output=True, text=True, timeout=10)
    return json.loads(r.stdout) if r.returncode == 0 else None


def run_peers(args):
    work = tempfile.mkdtemp(prefix="starling-peer-cpu-")
    if args.keep:
        print(f"peer_cpu: peers in {work}", file=sys.stderr)
    key = os.path.join(work, "swarm.key")
    subprocess.run([args.starling, "keygen", "--swarm", key], check=True, stdout=subprocess.DEVNULL, timeout=30)
    addrs = [f"127.0.0.1:{args.base_port + i}" for i in range(args.peers)]
    procs = []
    load_before = load()
    try:
        for i in range(args.peers):
            argv = [args.starling, "peer", "--listen", addrs[i], "--data-dir", os.path.join(work, f"peer-{i}"),
                    "--data", args.data, "--model", args.model, "--compress", args.compress, "--lr", str(args.lr),
                    "--batch", str(args.batch), "--shard", f"{i}/{args.peers}", "--partition", "iid",
                    "--eval-every", str(args.eval_every), "--swarm-key", key] + args.peer_arg
            if i > 0:
                argv += ["--seed", addrs[0]]
            log = open(os.path.join(work, f"peer-{i}.log"), "w")
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
            if i == 0:
                deadline = time.monotonic() + 30
                while status(args, addrs[0], key) is None:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"peer_cpu: peer 0 did not come up ({work}/peer-0.log)")
                    time.sleep(0.2)
        # Warm-up: every peer training.
        deadline = time.monotonic() + 60
        while True:
            st = [status(args, a, key) for a in addrs]
            if all(s and s.get("training", {}).get("step", 0) > 0 for s in st):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"peer_cpu: peers did not start training ({work})")
            time.sleep(0.5)
        time.sleep(args.warmup)

        def sample():
            return [(status(args, a, key), thread_cpu(p.pid), time.monotonic()) for a, p in zip(addrs, procs)]

        first = sample()
        time.sleep(args.duration)
        last = sample()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    outs = []
    for i, (a, b) in enumerate(zip(first, last)):
        ta, tb = a[0]["training"], b[0]["training"]
        steps = tb["step"] - ta["step"]
        threads = {name: tb_cpu - a[1].get(name, 0.0) for name, tb_cpu in b[1].items()}
        cpu = sum(threads.values())
        per_thread = {name: round(1e6 * c / steps, 1) for name, c in sorted(threads.items(), key=lambda kv: -kv[1])
                      if c > 0}
        pacing = tb.get("pacing", {})
        rounds = tb.get("rounds", 0) - ta.get("rounds", 0)
        out = {"process": f"starling peer {i}", "compress": args.compress, "peer_args": args.peer_arg,
               "steps": steps, "cpu_s": round(cpu, 3), "wall_s": round(b[2] - a[2], 2),
               "cpu_us_per_step": round(1e6 * cpu / steps, 1), "thread_cpu_us_per_step": per_thread,
               "steps_per_s": round(steps / (b[2] - a[2]), 1), "rounds": rounds,
               "steps_per_round": round(steps / rounds, 2) if rounds else None,
               "round_cpu_us": pacing.get("round_cpu_us"), "load_before": load_before, "load_after": load()}
        print(json.dumps(out), flush=True)
        outs.append(out)
    return outs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--starling", required=True)
    ap.add_argument("--peers", type=int, default=2)
    ap.add_argument("--compress", default="sign")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--model", default="mlp:256,128")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--eval-every", type=int, default=500, help="peer --eval-every STEPS (default 500)")
    ap.add_argument("--train-eval-steps", type=int, default=500, help="starling train --eval-every (default 500)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before the window (default 3)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds in the window (default 10)")
    ap.add_argument("--base-port", type=int, default=18946)
    ap.add_argument("--peer-arg", action="append", default=[], help="extra argument for every peer (repeatable)")
    ap.add_argument("--train-procs", type=int, default=1,
                    help="concurrent starling train replicas per reference run (default 1; 2: same contention as 2 peers)")
    ap.add_argument("--keep", action="store_true", help="keep the peers' data dirs and logs (printed)")
    ap.add_argument("--skip-train", action="store_true", help="peers only")
    args = ap.parse_args()
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    trains = [] if args.skip_train else run_train(args)
    peers = run_peers(args)
    if not args.skip_train:
        trains += run_train(args)
    if trains:
        replica = sum(t["cpu_us_per_step"] for t in trains) / len(trains)
        peer = sum(p["cpu_us_per_step"] for p in peers) / len(peers)
        print(json.dumps({"summary": True, "train_procs": args.train_procs, "replica_cpu_us_per_step": round(replica, 1),
                          "peer_cpu_us_per_step": round(peer, 1), "peer_over_replica": round(peer / replica, 3),
                          "replica_steps_per_s": [t["steps_per_s"] for t in trains],
                          "peer_steps_per_s": [p["steps_per_s"] for p in peers]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
