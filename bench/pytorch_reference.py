#!/usr/bin/python3
"""PyTorch reference for starling's single-replica benchmarks.

Same model (MLP 784-256-128-10, ReLU), same data standardisation (one mean and
std over the training set), SGD with momentum 0.9, one thread. Two modes:
  throughput: steps/s of gather + forward + backward + optimizer step
  accuracy:   test accuracy after every epoch, with training seconds
Prints one JSON object per line. Run with Debian's /usr/bin/python3.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load():
    def images(name):
        return read_idx(os.path.join(DATA, name)).reshape(-1, 784).astype(np.float32) / 255.0

    def labels(name):
        return read_idx(os.path.join(DATA, name)).astype(np.int64)

    xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    mean, std = xtr.mean(dtype=np.float64), xtr.std(dtype=np.float64)
    xtr = (xtr - mean) / std
    xte = (xte - mean) / std
    return (torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte), torch.from_numpy(yte))


def model():
    return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                               torch.nn.ReLU(), torch.nn.Linear(128, 10))


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["throughput", "accuracy"], required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as starling does: subnormal momentum slows a step 3-5x
    torch.manual_seed(args.seed)
    xtr, ytr, xte, yte = load()
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(idx):
        xb, yb = xtr[idx], ytr[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        return loss

    if args.mode == "throughput":
        n = xtr.shape[0]
        perm = torch.randperm(n)
        for i in range(50):  # warm-up
            step(perm[(i * args.batch) % (n - args.batch):][:args.batch])
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            for _ in range(20):
                s = (steps * args.batch) % (n - args.batch)
                step(perm[s:s + args.batch])
                steps += 1
        elapsed = time.perf_counter() - start
        print(json.dumps({"impl": "pytorch", "batch": args.batch,
                          "samples_per_second": steps * args.batch / elapsed}))
        return

    train_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(xtr.shape[0])
        start = time.perf_counter()
        for s in range(0, xtr.shape[0], args.batch):
            step(perm[s:s + args.batch])
        train_seconds += time.perf_counter() - start
        print(json.dumps({"impl": "pytorch", "epoch": epoch, "test_accuracy": accuracy(net, xte, yte),
                          "train_seconds": train_seconds}), flush=True)


if __name__ == "__main__":
    main()
