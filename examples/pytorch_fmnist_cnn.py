#!/usr/bin/python3
"""A small PyTorch CNN on Fashion-MNIST, trained by several processes that join one starling swarm.

    PYTHONPATH=build/python /usr/bin/python3 examples/pytorch_fmnist_cnn.py --listen 127.0.0.1:7000
    PYTHONPATH=build/python /usr/bin/python3 examples/pytorch_fmnist_cnn.py --listen 127.0.0.1:7001 \
        --seed 127.0.0.1:7000 --shard 1/2

The training loop is plain PyTorch; starling adds three lines: flatten the
parameters into one buffer, attach it to a Peer, call after_step() after each
optimizer step. Data: Debian's dataset-fashion-mnist, read with numpy.
Prints "address HOST:PORT" once joined, a progress line now and then and a
final JSON line ("final {...}"); --save-params FILE.npy writes the final
parameters (the tests compare replicas with them). See docs/embedding.md.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(images, labels):
    with gzip.open(os.path.join(DATA, images), "rb") as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DATA, labels), "rb") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    x = (x.astype(np.float32) / 255.0 - 0.2860) / 0.3530  # Fashion-MNIST's mean and std
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


class Cnn(nn.Module):
    """conv 5x5 (8) - pool - conv 5x5 (16) - pool - linear (10): 6,000 parameters."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def accuracy(model, x, y, limit=2000):
    with torch.no_grad():
        return float((model(x[:limit]).argmax(1) == y[:limit]).float().mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--seed", action="append", default=[], help="a member to join through (repeatable)")
    p.add_argument("--data-dir")
    p.add_argument("--swarm-key")
    p.add_argument("--compress", default="int8", help="none | topk:F | randk:F | int8 | sign (int8: a 6k model)")
    p.add_argument("--seconds", type=float, default=60.0, help="train this long")
    p.add_argument("--until", type=float, default=0.0, help="or until this Unix time (several processes end together)")
    p.add_argument("--start-at", type=float, default=0.0, help="after joining, wait until this Unix time to train")
    p.add_argument("--shard", default="0/1", help="I/N: train on every N-th sample from I")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--init-seed", type=int, default=1)
    p.add_argument("--report-every", type=float, default=5.0)
    p.add_argument("--target", type=float, default=0.0,
                   help="stop once the accuracy on 2000 test images reaches this (checked every --eval-every s)")
    p.add_argument("--eval-every", type=float, default=2.0, help="seconds of training between --target checks")
    p.add_argument("--save-params", help="write the final flat parameters here (.npy)")
    p.add_argument("--alone", action="store_true", help="no starling: the same loop without the swarm")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.init_seed)

    x_train, y_train = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    x_test, y_test = load_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    shard, shards = map(int, args.shard.split("/"))
    x_train, y_train = x_train[shard::shards], y_train[shard::shards]

    model = Cnn()
    peer = None
    if not args.alone:
        import starling
        import starling.torch
        flat = starling.torch.flatten_parameters(model)  # the parameters are now views into flat
        peer = starling.Peer(listen=args.listen, seeds=args.seed, data_dir=args.data_dir,
                             swarm_key=args.swarm_key, compress=args.compress)
        peer.attach(flat, name="fmnist-cnn")
        peer.join()  # the swarm's model is copied into flat (and so into the model) here
        status = peer.status()
        print(f"address {status['address']}", flush=True)
        print(f"joined: {'downloaded the swarm model' if status['downloaded'] else 'own initial model'}; "
              f"test accuracy at start {accuracy(model, x_test, y_test):.4f}", flush=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    if args.start_at > time.time():
        time.sleep(args.start_at - time.time())
    generator = torch.Generator().manual_seed(args.init_seed * 7919 + shard)
    end = args.until if args.until > 0 else time.time() + args.seconds
    next_report = time.time() + args.report_every
    steps = 0
    step_seconds = 0.0
    after_step_seconds = 0.0
    train_start = time.time()
    eval_seconds = 0.0  # excluded from the training clock
    next_eval = args.eval_every
    reached = None
    while time.time() < end:
        if args.target > 0 and time.time() - train_start - eval_seconds >= next_eval:
            t_eval = time.time()
            next_eval += args.eval_every
            if accuracy(model, x_test, y_test) >= args.target:
                reached = {"time_to_target_s": round(t_eval - train_start - eval_seconds, 2), "steps_to_target": steps}
                eval_seconds += time.time() - t_eval
                break
            eval_seconds += time.time() - t_eval
        index = torch.randint(0, len(y_train), (args.batch,), generator=generator)
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_train[index]), y_train[index])
        loss.backward()
        optimizer.step()
        t1 = time.perf_counter()
        if peer:
            peer.after_step()
        t2 = time.perf_counter()
        step_seconds += t1 - t0
        after_step_seconds += t2 - t1
        steps += 1
        if time.time() >= next_report:
            next_report += args.report_every
            line = f"step {steps} loss {float(loss):.3f}"
            if peer:
                s = peer.status()
                line += (f" | neighbours {len(s['neighbours'])} corrections {s['corrections_applied']}"
                         f" consensus {s['consensus_distance']}")
            print(line, flush=True)

    final = {"steps": steps, "test_accuracy": accuracy(model, x_test, y_test, limit=10000),
             "step_ms": 1000 * step_seconds / max(steps, 1),
             "after_step_us": 1e6 * after_step_seconds / max(steps, 1),
             "train_seconds": round(time.time() - train_start - eval_seconds, 2)}
    if args.target > 0:
        final["reached_target"] = reached
    if peer:
        s = peer.status()
        final.update({k: s[k] for k in ("corrections_applied", "publishes", "publishes_withheld", "rounds", "consensus_distance",
                                         "gossip_bytes_sent", "bytes_sent", "downloaded", "model_bytes_downloaded")})
    if args.save_params:
        np.save(args.save_params, torch.cat([q.detach().reshape(-1) for q in model.parameters()]).numpy())
    print("final " + json.dumps(final), flush=True)
    if peer:
        peer.leave()


if __name__ == "__main__":
    sys.exit(main())
