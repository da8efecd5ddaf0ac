#!/usr/bin/env python3
"""Steps to a target accuracy, one measure for the simulator and real peers
(docs/learning.md, "Stale rounds"; bench/README.md). Standard library only.

  steps_to_target.py RUN... [--target 0.88] [--every 500] [--window 1]

A RUN is a `starling simulate --out` folder (its evaluations.csv: every
evaluation of every peer's own model) or a bench/swarm_vs_ddp.sh run file
(bench/results/swarm/runs/*.jsonl: each poll shows every peer's last
evaluation, `evaluated_at_step` and `accuracy`; poll often enough to see each
one, e.g. POLL=0.5 with PEER_EVAL_STEPS=500). Only evaluations at multiples
of --every steps count, so a simulated run (every 100 steps) is read at a real
peer's 500. Per peer: the first such step at which the mean of its last
--window of them is >= --target. Prints one JSON line per run: the per-peer
steps, their mean (the simulator's measure at --every 100 --window 3) and their
max (the slowest peer, what the real benchmark's t88 waits for).
"""
import argparse
import csv
import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from json_lines import records  # noqa: E402


def sim_evaluations(folder):
    per_peer = defaultdict(dict)
    with open(os.path.join(folder, "evaluations.csv"), newline="") as f:
        for r in csv.DictReader(f):
            if int(r["life"]) == 0:
                per_peer[int(r["peer"])][int(r["step"])] = float(r["accuracy"])
    return per_peer


def real_evaluations(path):
    per_peer = defaultdict(dict)
    for r in records(path):
        if r.get("event") != "evaluation":
            continue
        for p in r.get("peers") or []:
            step, acc = p.get("evaluated_at_step"), p.get("accuracy")
            if step is not None and acc is not None:
                per_peer[int(p["peer"])][int(step)] = float(acc)
        if r.get("procs") == 1 and r.get("step") is not None and r.get("accuracy") is not None:
            per_peer[0][int(r["step"])] = float(r["accuracy"])  # starling-1: one replica's own evaluations
    return per_peer


def first_reach(evals, target, every, window):
    steps = sorted(s for s in evals if s > 0 and s % every == 0)
    for end in range(window, len(steps) + 1):
        if sum(evals[s] for s in steps[end - window:end]) / window >= target:
            return steps[end - 1], len(steps)
    return None, len(steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--target", type=float, default=0.88)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--window", type=int, default=1)
    args = ap.parse_args()
    for run in args.runs:
        per_peer = sim_evaluations(run) if os.path.isdir(run) else real_evaluations(run)
        reached, seen = [], []
        for peer in sorted(per_peer):
            step, count = first_reach(per_peer[peer], args.target, args.every, args.window)
            reached.append(step)
            seen.append(count)
        done = bool(reached) and all(s is not None for s in reached)
        print(json.dumps({"run": run, "every": args.every, "window": args.window, "target": args.target,
                          "steps_per_peer": reached, "evaluations_seen": seen,
                          "mean": sum(reached) / len(reached) if done else None,
                          "slowest": max(reached) if done else None}))


if __name__ == "__main__":
    main()
