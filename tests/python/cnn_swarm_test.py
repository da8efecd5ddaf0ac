#!/usr/bin/python3
"""Runs examples/pytorch_fmnist_cnn.py as several processes on loopback (docs/embedding.md).

    cnn_swarm_test.py converge [--processes 3] [--seconds 40]
        All start together (the others join through the first and download its
        model), all stop at one wall-clock time and save their parameters.
        Checks: every process ends above --min-accuracy, and the replicas'
        consensus distance mean_i |x_i - mean|^2 / |mean|^2 is below --max-distance.
    cnn_swarm_test.py late [--seconds 40] [--late-after 15]
        Two start, a third joins --late-after seconds later: it must download
        the model (start far above chance) and end near the others.
    cnn_swarm_test.py alone ...   the same loop without starling (the reference distance).

Exit 77 (ctest: skipped) when torch, numpy or the data set is missing.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "pytorch_fmnist_cnn.py")


def skip_if_missing():
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"SKIP: {e} (apt install python3-torch python3-numpy)")
        sys.exit(77)
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print("SKIP: dataset-fashion-mnist is not installed")
        sys.exit(77)


def start(args, tmp, name, extra):
    cmd = [sys.executable, EXAMPLE, "--data-dir", os.path.join(tmp, name), "--save-params",
           os.path.join(tmp, name + ".npy"), "--compress", args.compress, "--report-every", "10"] + extra
    log = open(os.path.join(tmp, name + ".log"), "w+")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True), log


def wait_address(proc, log, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        log.seek(0)
        for line in log.read().splitlines():
            if line.startswith("address "):
                return line.split()[1]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    sys.exit("FAIL: the first process printed no address:\n" + log.read())


def finish(procs, timeout):
    results = {}
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.seek(0)
        text = log.read()
        print(f"--- {name} (exit {proc.returncode})\n{text}")
        final = [l for l in text.splitlines() if l.startswith("final ")]
        start_line = [l for l in text.splitlines() if l.startswith("joined:")]
        if proc.returncode != 0 or not final:
            sys.exit(f"FAIL: {name} did not finish")
        result = json.loads(final[0][len("final "):])
        if start_line:
            result["start_accuracy"] = float(start_line[0].rsplit(" ", 1)[1])
            result["joined_by_download"] = "downloaded" in start_line[0]
        results[name] = result
    return results


def consensus_distance(tmp, names):
    import numpy as np
    xs = [np.load(os.path.join(tmp, n + ".npy")).astype(np.float64) for n in names]
    mean = sum(xs) / len(xs)
    return float(np.mean([np.sum((x - mean) ** 2) for x in xs]) / np.sum(mean ** 2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["converge", "late", "alone"])
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--late-after", type=float, default=15)
    p.add_argument("--compress", default="int8")
    p.add_argument("--min-accuracy", type=float, default=0.75)
    p.add_argument("--max-distance", type=float, default=0.02)
    p.add_argument("--min-start-accuracy", type=float, default=0.5)
    args = p.parse_args()
    skip_if_missing()
    with tempfile.TemporaryDirectory(prefix="starling-cnn-") as tmp:
        procs = {}
        n = args.processes
        until = time.time() + args.seconds + 10  # + start-up (data loading, join)
        common = ["--until", str(until)]
        if args.mode == "alone":
            for i in range(n):
                procs[f"p{i}"] = start(args, tmp, f"p{i}", common + ["--alone", "--shard", f"{i}/{n}"])
        else:
            procs["p0"] = start(args, tmp, "p0", common + ["--shard", f"0/{n}"])
            seed = wait_address(*procs["p0"])
            later = n - 1 if args.mode == "late" else n
            for i in range(1, later):
                procs[f"p{i}"] = start(args, tmp, f"p{i}", common + ["--seed", seed, "--shard", f"{i}/{n}",
                                                                     "--init-seed", str(i + 1)])
            if args.mode == "late":
                time.sleep(args.late_after)
                i = n - 1
                procs[f"p{i}"] = start(args, tmp, f"p{i}", common + ["--seed", seed, "--shard", f"{i}/{n}",
                                                                     "--init-seed", str(i + 1)])
        results = finish(procs, timeout=args.seconds + 120)
        distance = consensus_distance(tmp, list(procs))
    summary = {"mode": args.mode, "consensus_distance": distance,
               "accuracy": {k: round(v["test_accuracy"], 4) for k, v in results.items()},
               "steps": {k: v["steps"] for k, v in results.items()},
               "start_accuracy": {k: v.get("start_accuracy") for k, v in results.items()}}
    print("summary " + json.dumps(summary))
    failures = []
    for name, r in results.items():
        if r["test_accuracy"] <= args.min_accuracy:
            failures.append(f"{name} ended at test accuracy {r['test_accuracy']:.4f} <= {args.min_accuracy}")
    if args.mode != "alone":
        if distance >= args.max_distance:
            failures.append(f"consensus distance {distance:.3g} >= {args.max_distance}")
        for name, r in results.items():
            if name != "p0" and not r.get("joined_by_download"):
                failures.append(f"{name} did not download the swarm's model at join")
        if args.mode == "late":
            last = results[f"p{args.processes - 1}"]
            if last["start_accuracy"] <= args.min_start_accuracy:
                failures.append(f"the late process started at {last['start_accuracy']:.4f} "
                                f"<= {args.min_start_accuracy} (not the swarm's model)")
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
