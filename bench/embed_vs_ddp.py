#!/usr/bin/python3
"""PyTorch + starling against PyTorch DDP (gloo) with the same CNN, in one run (docs/embedding.md).

For each process count (--procs 2 4): n processes of examples/pytorch_fmnist_cnn.py
joined in one starling swarm on loopback, then n DDP ranks (gloo, 127.0.0.1)
of the same CNN, loop, batch and shards, each until the accuracy on 2000 test
images reaches --target (checked every --eval-every s of training, evaluation
excluded from the clock) or --time-limit. The starling processes join first
and start training together (--start-delay), from the first's initialisation.
Reports per configuration: training seconds to the target (starling: the first and the last process to reach it;
DDP: the replicas are identical), steps per process, and bytes per step per
process: starling's measured (every byte its transport sent: membership,
handshakes, sealing, deltas), DDP's the ring all-reduce volume
2(n-1)/n x 4 x P (P = 5,994 parameters; gloo's own framing not counted).

    PYTHONPATH=build/python /usr/bin/python3 bench/embed_vs_ddp.py [--procs 2 4] [--target 0.8]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
EXAMPLE = os.path.join(HERE, "..", "examples", "pytorch_fmnist_cnn.py")


def ddp_rank(args):
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from pytorch_fmnist_cnn import Cnn, accuracy, load_idx
    torch.set_num_threads(1)
    torch.manual_seed(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank, world_size=args.world)
    x, y = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    xt, yt = load_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    x, y = x[args.rank::args.world], y[args.rank::args.world]
    model = torch.nn.parallel.DistributedDataParallel(Cnn())
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    g = torch.Generator().manual_seed(7919 + args.rank)
    dist.barrier()
    start = time.time()
    eval_seconds = 0.0
    next_eval = args.eval_every
    steps = 0
    reached = None
    flag = torch.zeros(1)
    while time.time() - start - eval_seconds < args.time_limit:
        index = torch.randint(0, len(y), (args.batch,), generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
        steps += 1
        if steps % 10 == 0:  # rank 0 decides; everyone learns it in one tiny all-reduce
            flag.zero_()
            if args.rank == 0 and time.time() - start - eval_seconds >= next_eval:
                t_eval = time.time()
                next_eval += args.eval_every
                if accuracy(model.module, xt, yt) >= args.target:
                    flag.fill_(1)
                    reached = round(t_eval - start - eval_seconds, 2)
                eval_seconds += time.time() - t_eval
            dist.all_reduce(flag)
            if flag.item() > 0:
                break
    if args.rank == 0:
        print("ddp " + json.dumps({"time_to_target_s": reached, "steps": steps}), flush=True)
    dist.destroy_process_group()


def run_starling(n, args, tmp):
    procs = []
    # Everyone trains from one wall-clock start, after the joins (the joiners
    # download the first's untrained model: one initialisation, as DDP's broadcast).
    start_at = time.time() + args.start_delay
    common = ["--start-at", str(start_at), "--compress", args.compress, "--target", str(args.target), "--eval-every", str(args.eval_every),
              "--seconds", str(args.time_limit + 30), "--batch", str(args.batch), "--lr", str(args.lr),
              "--report-every", "1000"]
    logs = []
    for i in range(n):
        log = open(os.path.join(tmp, f"s{n}-{i}.log"), "w+")
        extra = ["--data-dir", os.path.join(tmp, f"s{n}-{i}"), "--shard", f"{i}/{n}", "--init-seed", str(i + 1)]
        if i > 0:
            extra += ["--seed", seed]
        procs.append(subprocess.Popen([sys.executable, EXAMPLE] + common + extra, stdout=log,
                                      stderr=subprocess.STDOUT, text=True))
        logs.append(log)
        if i == 0:
            seed = None
            for _ in range(600):
                log.seek(0)
                lines = [l for l in log.read().splitlines() if l.startswith("address ")]
                if lines:
                    seed = lines[0].split()[1]
                    break
                time.sleep(0.1)
            if not seed:
                raise SystemExit("starling: the first process printed no address")
    finals = []
    for proc, log in zip(procs, logs):
        proc.wait(timeout=args.time_limit + 180)
        log.seek(0)
        final = [l for l in log.read().splitlines() if l.startswith("final ")]
        finals.append(json.loads(final[0][6:]) if final else {})
    times = [f.get("reached_target", {}) and f["reached_target"]["time_to_target_s"] for f in finals]
    reached = [t for t in times if t]
    steps = [f.get("steps", 0) for f in finals]
    bytes_per_step = [f.get("bytes_sent", 0) / max(f.get("steps", 1), 1) for f in finals]
    return {"impl": "starling", "procs": n, "compress": args.compress,
            "time_to_target_first_s": min(reached) if reached else None,
            "time_to_target_last_s": max(reached) if len(reached) == n else None,
            "steps": steps, "bytes_per_step_per_proc": round(sum(bytes_per_step) / n)}


def run_ddp(n, args, tmp):
    port = 29500 + (os.getpid() % 1000) + n
    procs = []
    log = open(os.path.join(tmp, f"ddp{n}.log"), "w+")
    for r in range(n):
        cmd = [sys.executable, __file__, "--ddp-rank", str(r), "--world", str(n), "--port", str(port),
               "--target", str(args.target), "--eval-every", str(args.eval_every),
               "--time-limit", str(args.time_limit), "--batch", str(args.batch), "--lr", str(args.lr)]
        procs.append(subprocess.Popen(cmd, stdout=log if r == 0 else subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                      text=True, env=dict(os.environ)))
    for proc in procs:
        proc.wait(timeout=args.time_limit + 180)
    log.seek(0)
    lines = [l for l in log.read().splitlines() if l.startswith("ddp ")]
    result = json.loads(lines[0][4:]) if lines else {}
    parameters = 5994
    return {"impl": "ddp-gloo", "procs": n, "time_to_target_s": result.get("time_to_target_s"),
            "steps": result.get("steps"),
            "bytes_per_step_per_proc": round(2 * (n - 1) / n * 4 * parameters)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--procs", type=int, nargs="+", default=[2, 4])
    p.add_argument("--target", type=float, default=0.8)
    p.add_argument("--time-limit", type=float, default=120)
    p.add_argument("--eval-every", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--compress", default="int8")
    p.add_argument("--start-delay", type=float, default=25.0, help="starling: seconds for loading and joins")
    p.add_argument("--ddp-rank", type=int, default=-1)
    p.add_argument("--world", type=int, default=1)
    p.add_argument("--port", type=int, default=29500)
    args = p.parse_args()
    if args.ddp_rank >= 0:
        args.rank = args.ddp_rank
        return ddp_rank(args)
    with tempfile.TemporaryDirectory(prefix="starling-vs-ddp-") as tmp:
        for n in args.procs:
            for run in (run_starling, run_ddp):
                result = run(n, args, tmp)
                result.update({"target": args.target, "load_average_1min": round(os.getloadavg()[0], 1)})
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
