#!/usr/bin/env python3
"""Reads `starling simulate --out DIR` runs for the simulator benchmarks
(bench/swarm_speedup.sh, bench/consensus_scale.sh; bench/README.md) and prints
one JSON object per line. Standard library only.

  sim_runs.py speedup DIR --peers N --compress C --seed S [--target 0.88] [--window 3]
      steps to target and bytes per step of one swarm run, from DIR/evaluations.csv
  sim_runs.py ddp --peers N [--layers 784,256,128,10]
      PyTorch DDP's ring all-reduce bytes per step per process for the same MLP
  sim_runs.py summary FILE [FILE...]
      one line per (peers, compress) over the run lines in the FILEs (the output
      above; several files: runs of separate invocations, e.g. the 1-peer
      reference and a swarm measured apart), with the speed-up against the
      1-peer `none` runs and a 90% bootstrap interval for it
  sim_runs.py consensus DIR --peers N --compress C --seed S [--factor 1e-3]
      spread and swarm-mean figures of a consensus-only run, from DIR/spread.csv
  sim_runs.py scale DIR --peers N --model M --compress C --mixing X --seed S [--target 0.83]
      accuracies, consensus distance and bytes per second of one learning run
      (bench/learning_scale.sh), from DIR/evaluations.csv and DIR/metrics.csv
"""
import argparse
import csv
import json
import math
import os
import random
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from json_lines import records  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def first_reach(accuracies, steps, target, window):
    """Step of the first evaluation at which the mean of the last `window`
    evaluations is >= target, or None."""
    for end in range(window, len(accuracies) + 1):
        if sum(accuracies[end - window:end]) / window >= target:
            return steps[end - 1]
    return None


def speedup_line(args):
    rows = read_csv(os.path.join(args.dir, "evaluations.csv"))
    per_peer = defaultdict(list)
    for r in rows:
        if int(r["life"]) == 0:  # fault-free runs: every peer has one life
            per_peer[int(r["peer"])].append(r)
    reached_steps, bytes_per_step = [], []
    for peer in sorted(per_peer):
        evals = per_peer[peer]
        steps = [int(r["step"]) for r in evals]
        reach = first_reach([float(r["accuracy"]) for r in evals], steps, args.target, args.window)
        reached_steps.append(reach)
        last = evals[-1]
        # Every byte the peer sent up to its last evaluation (streams and
        # datagrams, as the real secure session frames and seals them), per SGD step.
        if steps[-1] > 0:
            bytes_per_step.append(int(last["secure_wire_bytes_sent"]) / steps[-1])
    peers_seen = len(per_peer)
    reached = peers_seen == args.peers and all(s is not None for s in reached_steps)
    line = {
        "peers": args.peers,
        "compress": args.compress,
        "seed": args.seed,
        "steps_to_target": (sum(reached_steps) / len(reached_steps)) if reached else None,
        "bytes_per_step": round(sum(bytes_per_step) / len(bytes_per_step), 1) if bytes_per_step else None,
        "reached": reached,
        "peers_reached": sum(s is not None for s in reached_steps),
        "steps_per_peer": reached_steps,
        "target": args.target,
        "last_step": max((int(e[-1]["step"]) for e in per_peer.values()), default=0),
        "virtual_s": max((float(e[-1]["time_s"]) for e in per_peer.values()), default=0.0),
    }
    if args.wall is not None:
        line["wall_s"] = round(args.wall, 1)
    print(json.dumps(line))


def parameter_count(layers):
    return sum(a * b + b for a, b in zip(layers, layers[1:]))


def ddp_bytes_per_step(peers, params):
    # The ring all-reduce algorithm's payload per process per step for fp32
    # gradients: reduce-scatter then all-gather, each (N-1)/N of the vector,
    # 4 bytes a value. No TCP/IP headers, no gloo framing (bench/README.md:
    # the loopback bytes DDP really sent were within 0.3-0.4% of this).
    if peers <= 1:
        return 0.0
    return 2.0 * (peers - 1) / peers * 4.0 * params


def ddp_line(args):
    layers = [int(x) for x in args.layers.split(",")]
    params = parameter_count(layers)
    print(json.dumps({"impl": "ddp", "peers": args.peers, "bytes_per_step": round(ddp_bytes_per_step(args.peers, params), 1),
                      "params": params, "source": "ring all-reduce payload 2(N-1)/N*4*P"}))


def mean(values):
    return sum(values) / len(values) if values else None


def speedup_interval(ref, own, rounds=10000, level=0.90):
    """A `level` bootstrap interval of mean(ref) / mean(own), the steps of the
    reached runs of either side: each draw resamples both with replacement,
    apart (a seed's one-peer run and swarm run share only the initial model,
    so they are not paired, and the reference may have more seeds). None with
    fewer than 3 runs on either side. Fixed generator seed: the same lines
    give the same interval."""
    if len(ref) < 3 or len(own) < 3:
        return None
    rng = random.Random(1)
    ratios = []
    for _ in range(rounds):
        ratios.append((sum(rng.choices(ref, k=len(ref))) / len(ref)) / (sum(rng.choices(own, k=len(own))) / len(own)))
    ratios.sort()
    tail = (1.0 - level) / 2.0
    return [round(ratios[int(tail * rounds)], 3), round(ratios[min(rounds - 1, int((1.0 - tail) * rounds))], 3)]


def summary_lines(args):
    runs, ddp = [], {}
    for path in args.files:
        for line in records(path):
            if line.get("impl") == "ddp":
                ddp[line["peers"]] = line["bytes_per_step"]
            elif "steps_to_target" in line:
                runs.append(line)
    groups = defaultdict(list)
    for r in runs:
        groups[(r["peers"], r["compress"])].append(r)
    reference = groups.get((1, "none"), [])
    reference_reached = [r["steps_to_target"] for r in reference if r["reached"]]
    reference_m = mean(reference_reached)
    for (peers, compress) in sorted(groups, key=lambda k: (k[1], k[0])):
        group = groups[(peers, compress)]
        reached = [r["steps_to_target"] for r in group if r["reached"]]
        m = mean(reached) if len(reached) == len(group) else None
        b = mean([r["bytes_per_step"] for r in group if r["bytes_per_step"] is not None])
        ddp_b = ddp.get(peers)
        line = {
            "summary": True,
            "peers": peers,
            "compress": compress,
            "seeds": len(group),
            "seeds_reached": len(reached),
            "mean_steps_to_target": round(m, 1) if m is not None else None,
            "speedup": round(reference_m / m, 3) if (m and reference_m) else None,
            "bytes_per_step": round(b, 1) if b is not None else None,
            "ddp_bytes_per_step": ddp_b,
            "ddp_to_swarm_bytes": round(ddp_b / b, 2) if (ddp_b and b) else None,
        }
        if reference_m and (peers, compress) != (1, "none"):
            line.update({
                "reference_mean_steps": round(reference_m, 1),
                "reference_seeds_reached": len(reference_reached),
                "speedup_ci90": speedup_interval(reference_reached, reached),
            })
        print(json.dumps(line))


def consensus_line(args):
    rows = [r for r in read_csv(os.path.join(args.dir, "spread.csv")) if int(r["replicas"]) == args.peers]
    line = {"peers": args.peers, "compress": args.compress, "seed": args.seed}
    if not rows:
        line.update({"spread_start": None, "spread_end": None, "converged": False, "average_moved": None,
                     "error": "no poll round saw all replicas"})
        print(json.dumps(line))
        return
    start, end = rows[0], rows[-1]
    spread_start, spread_end = float(start["spread"]), float(end["spread"])
    # The reference of mean_moved is the first round with these replicas, i.e. `start`.
    moved = float(end["mean_moved"])
    mean_norm = float(start["mean_norm"])
    line.update({
        "spread_start": spread_start,
        "spread_end": spread_end,
        "converged": bool(math.isfinite(spread_end) and spread_end < args.factor * spread_start),
        "average_moved": moved / mean_norm if mean_norm > 0 else None,
        "average_moved_rms": moved / math.sqrt(spread_start) if spread_start > 0 else None,
        "t_start": float(start["time_s"]),
        "t_end": float(end["time_s"]),
    })
    if args.wall is not None:
        line["wall_s"] = round(args.wall, 1)
    print(json.dumps(line))


def scale_line(args):
    per_peer = defaultdict(list)
    for r in read_csv(os.path.join(args.dir, "evaluations.csv")):
        if int(r["life"]) == 0:  # fault-free runs: every peer has one life
            per_peer[int(r["peer"])].append(r)
    line = {"peers": args.peers, "model": args.model, "compress": args.compress, "mixing": args.mixing,
            "seed": args.seed, "peers_seen": len(per_peer)}
    if not per_peer:
        line["error"] = "no evaluations"
        print(json.dumps(line))
        return
    end_s = max(float(e[-1]["time_s"]) for e in per_peer.values())
    half_s = end_s / 2.0
    own = [float(e[-1]["accuracy"]) for e in per_peer.values()]
    reached = []
    stream_rates, datagram_rates = [], []
    for evals in per_peer.values():
        steps = [int(r["step"]) for r in evals]
        reached.append(first_reach([float(r["accuracy"]) for r in evals], steps, args.target, args.window))
        # Bytes sent per virtual second over the second half: from the
        # evaluation nearest the half to the last.
        first = min(evals, key=lambda r: abs(float(r["time_s"]) - half_s))
        last = evals[-1]
        span = float(last["time_s"]) - float(first["time_s"])
        if span > 0:
            stream_rates.append((int(last["bytes_sent"]) - int(first["bytes_sent"])) / span)
            datagram_rates.append((int(last["datagram_bytes_sent"]) - int(first["datagram_bytes_sent"])) / span)
    distances, local_average = [], {}
    for r in read_csv(os.path.join(args.dir, "metrics.csv")):
        if int(r["life"]) != 0:
            continue
        if r["consensus_distance"] and float(r["time_s"]) >= half_s:
            distances.append(float(r["consensus_distance"]))
        if r["local_average_accuracy"]:
            local_average[int(r["peer"])] = float(r["local_average_accuracy"])  # the last poll's
    got = [s for s in reached if s is not None]
    line.update({
        "own_mean": round(mean(own), 4),
        "own_min": round(min(own), 4),
        "local_average_mean": round(mean(list(local_average.values())), 4) if local_average else None,
        "consensus_distance": mean(distances),
        "target": args.target,
        "steps_to_target": round(mean(got), 1) if len(got) == len(reached) == args.peers else None,
        "peers_reached": len(got),
        "last_step": round(mean([int(e[-1]["step"]) for e in per_peer.values()])),
        "stream_bytes_per_s": round(mean(stream_rates)) if stream_rates else None,
        "datagram_bytes_per_s": round(mean(datagram_rates)) if datagram_rates else None,
        "virtual_s": end_s,
    })
    if args.wall is not None:
        line["wall_s"] = round(args.wall, 1)
    print(json.dumps(line))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speedup")
    s.add_argument("dir")
    s.add_argument("--peers", type=int, required=True)
    s.add_argument("--compress", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--target", type=float, default=0.88)
    s.add_argument("--window", type=int, default=3)
    s.add_argument("--wall", type=float)
    d = sub.add_parser("ddp")
    d.add_argument("--peers", type=int, required=True)
    d.add_argument("--layers", default="784,256,128,10")
    m = sub.add_parser("summary")
    m.add_argument("files", nargs="+", metavar="file")
    c = sub.add_parser("consensus")
    c.add_argument("dir")
    c.add_argument("--peers", type=int, required=True)
    c.add_argument("--compress", required=True)
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--factor", type=float, default=1e-3)
    c.add_argument("--wall", type=float)
    g = sub.add_parser("scale")
    g.add_argument("dir")
    g.add_argument("--peers", type=int, required=True)
    g.add_argument("--model", required=True)
    g.add_argument("--compress", required=True)
    g.add_argument("--mixing", required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--target", type=float, default=0.83)
    g.add_argument("--window", type=int, default=3)
    g.add_argument("--wall", type=float)
    args = parser.parse_args()
    {"speedup": speedup_line, "ddp": ddp_line, "summary": summary_lines, "consensus": consensus_line,
     "scale": scale_line}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
