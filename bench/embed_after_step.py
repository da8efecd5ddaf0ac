#!/usr/bin/python3
"""after_step() overhead against a CNN step (docs/embedding.md, "Overhead").

Two peers in this process (each with its loop thread) train two copies of
examples/pytorch_fmnist_cnn.py's CNN in turn on this thread, so both publish
and both receive corrections. Per call: the wall time of the optimizer step
(forward, backward, SGD) and of after_step(), and after_step()'s CPU time on
this thread (time.thread_time: what the call itself costs; wall time also
holds waits for a core when the loop threads run on a busy machine).

    PYTHONPATH=build/python /usr/bin/python3 bench/embed_after_step.py [--seconds 20] [--compress int8]
Prints one JSON line.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from pytorch_fmnist_cnn import Cnn, load_idx  # noqa: E402

import starling  # noqa: E402
import starling.torch  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--compress", default="int8")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    torch.set_num_threads(1)
    x, y = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    tmp = tempfile.mkdtemp(prefix="starling-bench-")
    models = [Cnn(), Cnn()]
    flats = [starling.torch.flatten_parameters(m) for m in models]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in models]
    first = starling.Peer(data_dir=os.path.join(tmp, "a"), compress=args.compress)
    first.attach(flats[0], name="fmnist-cnn")
    first.join()
    first.after_step()
    second = starling.Peer(data_dir=os.path.join(tmp, "b"), compress=args.compress, seeds=[first.status()["address"]])
    second.attach(flats[1], name="fmnist-cnn")
    second.join()
    peers = [first, second]
    step_wall, call_wall, call_cpu = [], [], []
    g = torch.Generator().manual_seed(1)
    end = time.time() + args.seconds
    while time.time() < end:
        for model, optimizer, peer in zip(models, optimizers, peers):
            index = torch.randint(0, len(y), (args.batch,), generator=g)
            t0 = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            t1 = time.perf_counter()
            c1 = time.thread_time()
            peer.after_step()
            c2 = time.thread_time()
            t2 = time.perf_counter()
            step_wall.append(t1 - t0)
            call_wall.append(t2 - t1)
            call_cpu.append(c2 - c1)
    s = [peer.status() for peer in peers]
    for peer in peers:
        peer.leave()
    step_ms = 1e3 * float(np.mean(step_wall))
    result = {
        "compress": args.compress, "batch": args.batch, "calls": len(call_wall),
        "step_ms_mean": round(step_ms, 3),
        "after_step_us_mean": round(1e6 * float(np.mean(call_wall)), 2),
        "after_step_us_p50": round(1e6 * float(np.percentile(call_wall, 50)), 2),
        "after_step_us_p99": round(1e6 * float(np.percentile(call_wall, 99)), 2),
        "after_step_cpu_us_mean": round(1e6 * float(np.mean(call_cpu)), 2),
        "overhead_wall_percent": round(100 * float(np.mean(call_wall)) / (step_ms / 1e3), 3),
        "overhead_cpu_percent": round(100 * float(np.mean(call_cpu)) / (step_ms / 1e3), 3),
        "corrections_applied": [x["corrections_applied"] for x in s],
        "publishes": [x["publishes"] for x in s],
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
