#!/usr/bin/env python3
"""One JSON line from a scenario's metrics.csv (real processes or simulator):
how a swarm fared under a fault, for bench/kernel_loss.sh.

    bench/loss_runs.py RUN_DIR --backend kernel --percent 20 [--warmup 10]

Fields: own accuracy at the end (each peer's last answered poll; mean,
lowest), links_up (share of answered polls after the warm-up in which a peer
reported a consensus distance, i.e. had a ready link), the median consensus
distance over the second half, answered (share of polls a peer answered: under
kernel loss the status polls are lost too), and the busiest peer's bytes sent
per second.
"""
import argparse
import csv
import json
import os
import statistics
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--percent", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    path = os.path.join(args.dir, "metrics.csv")
    line = {"backend": args.backend, "loss_percent": args.percent}
    if not os.path.exists(path):
        line["error"] = "no metrics.csv"
        print(json.dumps(line))
        return 1
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["life"] == "0"]
    if not rows:
        line["error"] = "no polls"
        print(json.dumps(line))
        return 1
    end_s = max(float(r["time_s"]) for r in rows)
    last_accuracy, last_bytes = {}, {}
    polls = answered = linked = 0
    distances = []
    for r in rows:
        t = float(r["time_s"])
        polls += 1
        if r["answered"] != "1":
            continue
        answered += 1
        peer = int(r["peer"])
        if r["accuracy"]:
            last_accuracy[peer] = float(r["accuracy"])
        if r["bytes_sent"]:
            last_bytes[peer] = (t, int(r["bytes_sent"]))
        if t >= args.warmup:
            linked += 1 if r["consensus_distance"] else 0
        if r["consensus_distance"] and t >= end_s / 2:
            distances.append(float(r["consensus_distance"]))
    after_warmup = sum(1 for r in rows if r["answered"] == "1" and float(r["time_s"]) >= args.warmup)
    own = list(last_accuracy.values())
    rates = [b / t for t, b in last_bytes.values() if t > 0]
    line.update({
        "own_mean": round(statistics.mean(own), 4) if own else None,
        "own_min": round(min(own), 4) if own else None,
        "links_up": round(linked / after_warmup, 3) if after_warmup else None,
        "consensus_distance": statistics.median(distances) if distances else None,
        "answered": round(answered / polls, 3),
        "max_bytes_per_s": round(max(rates)) if rates else None,
        "seconds": end_s,
    })
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
