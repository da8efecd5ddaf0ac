#!/usr/bin/python3
"""PyTorch reference for starling's swarm benchmark (bench/swarm_vs_ddp.sh).

Trains the MLP 784-256-128-10 of bench/pytorch_reference.py (same loading and
standardisation of Fashion-MNIST, SGD momentum 0.9, one thread per process)
with
  --procs 1      one plain process, no torch.distributed at all, or
  --procs 2|4    DistributedDataParallel over gloo on 127.0.0.1, one process
                 per rank, each on its IID shard (seeded permutation cut into
                 near-equal contiguous parts, as starling's --partition iid),
                 --batch samples per process per step (so the global batch is
                 procs x batch; gradients are averaged, the lr is not scaled),
until the test accuracy reaches --target or --time-limit seconds of training.

Clocks (both reported, seconds):
  t        wall time since this script started (includes interpreter and
           torch start-up, process spawn, data loading, rendezvous and every
           evaluation): the same clock as starling's t in starling_swarm.py.
  t_train  training clock: starts after data loading, process-group setup, the
           DDP constructor's parameter broadcast and a barrier; evaluation time
           is excluded (rank 0 stops the clock while it evaluates, the other
           ranks wait for it inside the next all-reduce).
Rank 0 evaluates on the whole test set every --eval-every seconds of the
training clock (all replicas are identical under DDP, so one evaluation
stands for every process).

Bytes: by default the script moves itself into a private network namespace
(unshare(CLONE_NEWNET), needs root or user namespaces) whose loopback carries
only this run's traffic, and reads lo's tx bytes from /proc/net/dev: that is
every byte gloo sent, TCP/IP headers included, plus the tiny stop-flag
broadcast (every --control-every steps). Without a private namespace
(--netns no, or unshare refused) it reads the shared loopback and says so
("lo_shared": true): other programs' loopback traffic is then counted too.
bytes_per_proc = lo tx bytes since the training clock started / procs. The
summary line also gives the ring all-reduce volume 2(n-1)/n * 4 * P bytes per
process per step (P = parameter count) for comparison.

Output: JSON lines on stdout,
  {"impl","procs","event":"evaluation","t","t_train","accuracy","bytes_per_proc","step"}
and one {"event":"summary", ...} line at the end. Run with /usr/bin/python3.
"""
import argparse
import ctypes
import json
import os
import socket
import subprocess
import sys
import time

# Before importing torch: wall includes its start-up; spawned ranks inherit the origin.
WALL0 = float(os.environ.setdefault("STARLING_BENCH_WALL0", repr(time.time())))
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # one thread: OpenBLAS reads this when torch loads it
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import accuracy, load, model  # noqa: E402  same data and model

CLONE_NEWNET = 0x40000000


def private_netns():
    """Moves this process into a fresh network namespace with lo up. True on success."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    ip = next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip") if os.path.exists(p)), None)
    if ip is None or subprocess.run([ip, "link", "set", "lo", "up"]).returncode != 0:
        raise SystemExit("pytorch_ddp_reference: unshared the network namespace but could not bring lo up "
                         "(install iproute2, or pass --netns no)")
    return True


def lo_tx_bytes():
    # /proc/net/dev shows the reader's own network namespace (/sys/class/net
    # shows the namespace sysfs was mounted in, i.e. the host's).
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, fields = line.partition(":")
            if name.strip() == "lo":
                return int(fields.split()[8])
    raise SystemExit("pytorch_ddp_reference: no lo in /proc/net/dev")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iid_shard(n, rank, procs, seed):
    order = np.random.default_rng(seed).permutation(n)
    return torch.from_numpy(order[rank * n // procs:(rank + 1) * n // procs].copy())


def emit(obj):
    print(json.dumps(obj), flush=True)


def worker(rank, args, port, lo_shared):
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.set_flush_denormal(True)  # as starling does
    torch.manual_seed(args.seed)  # same initial model on every rank (DDP broadcasts rank 0's anyway)
    xtr, ytr, xte, yte = load()
    distributed = args.procs > 1
    net = model()
    if distributed:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=args.procs)
        net = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    shard = iid_shard(xtr.shape[0], rank, args.procs, args.shard_seed)
    gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
    params = sum(p.numel() for p in net.parameters())
    ring = 2 * (args.procs - 1) / args.procs * 4 * params

    if distributed:
        dist.barrier()
    lo0 = lo_tx_bytes() if distributed else 0
    train_t, step, stop, reached, reached_wall = 0.0, 0, False, None, None
    flag = torch.zeros(1)
    last_eval = 0.0
    t0 = time.perf_counter()
    last_acc = None

    def evaluate():
        nonlocal last_acc
        acc = accuracy(net.module if distributed else net, xte, yte)
        last_acc = acc
        sent = (lo_tx_bytes() - lo0) if distributed else 0
        emit({"impl": "pytorch-ddp" if distributed else "pytorch", "procs": args.procs, "event": "evaluation",
              "t": round(time.time() - WALL0, 4), "t_train": round(train_t, 4), "accuracy": acc,
              "bytes_per_proc": sent / args.procs, "step": step})
        return acc

    while not stop:
        perm = shard[torch.randperm(shard.numel(), generator=gen)]
        # Whole batches only, and as many per epoch on every rank (shards differ by at most one sample).
        for s in range(0, (xtr.shape[0] // args.procs) // args.batch * args.batch, args.batch):
            idx = perm[s:s + args.batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
            step += 1
            if rank == 0:
                now = time.perf_counter()
                train_t += now - t0
                if train_t - last_eval >= args.eval_every:
                    last_eval = train_t
                    acc = evaluate()
                    if acc >= args.target and reached is None:
                        reached, reached_wall = train_t, time.time() - WALL0
                    if acc >= args.target or train_t >= args.time_limit:
                        flag.fill_(1.0)
                t0 = time.perf_counter()  # the clock restarts after any evaluation
            if distributed and step % args.control_every == 0:
                dist.broadcast(flag, src=0)
            if flag.item() > 0 and (not distributed or step % args.control_every == 0):
                stop = True
                break

    if rank == 0:
        sent = (lo_tx_bytes() - lo0) if distributed else 0
        summary = {"impl": "pytorch-ddp" if distributed else "pytorch", "procs": args.procs, "event": "summary",
                   "batch": args.batch, "lr": args.lr, "target": args.target,
                   "time_to_target": reached_wall, "time_to_target_train": reached,
                   "time_clock": "wall since launch; _train: training clock (excl. start-up and evaluation)",
                   "train_seconds": round(train_t, 4), "wall": round(time.time() - WALL0, 4),
                   "final_accuracy": last_acc, "steps": step, "params": params,
                   "bytes_per_proc": sent / args.procs,
                   "bytes_per_proc_per_step": sent / args.procs / max(step, 1),
                   "bytes_per_proc_per_second": sent / args.procs / max(train_t, 1e-9),
                   "ring_allreduce_bytes_per_proc_per_step": ring,
                   "bytes_source": ("loopback tx bytes, shared with other programs" if lo_shared else
                                    "loopback tx bytes of a private network namespace (TCP/IP headers included)")
                   if distributed else "none (one process)",
                   "lo_shared": lo_shared if distributed else None}
        emit(summary)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, default=1, help="1 (plain process) or DDP world size (default 1)")
    parser.add_argument("--batch", type=int, default=64, help="samples per process per step (default 64)")
    parser.add_argument("--lr", type=float, default=0.02, help="SGD learning rate (default 0.02)")
    parser.add_argument("--target", type=float, default=0.88, help="stop at this test accuracy (default 0.88)")
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="stop after this many seconds of training clock (default 120)")
    parser.add_argument("--eval-every", type=float, default=1.0,
                        help="seconds of training clock between evaluations (default 1)")
    parser.add_argument("--control-every", type=int, default=10,
                        help="steps between the stop-flag broadcasts of rank 0 (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="model initialisation and shuffling seed")
    parser.add_argument("--shard-seed", type=int, default=1, help="seed of the IID split")
    parser.add_argument("--netns", choices=["auto", "yes", "no"], default="auto",
                        help="private network namespace for clean byte counts (default auto: if allowed)")
    args = parser.parse_args()
    if args.procs < 1:
        parser.error("--procs must be >= 1")
    lo_shared = True
    if args.procs > 1 and args.netns != "no":
        if private_netns():
            lo_shared = False
        elif args.netns == "yes":
            raise SystemExit("pytorch_ddp_reference: unshare(CLONE_NEWNET) refused; need root or --netns no")
        else:
            print("pytorch_ddp_reference: no private network namespace; loopback bytes include other traffic",
                  file=sys.stderr)
    if args.procs == 1:
        worker(0, args, 0, lo_shared)
    else:
        mp.spawn(worker, args=(args, free_port(), lo_shared), nprocs=args.procs, join=True)


if __name__ == "__main__":
    main()
