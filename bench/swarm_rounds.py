#!/usr/bin/env python3
"""Rounds of real peers, per peer, from bench/swarm_vs_ddp.sh run files
(bench/results/swarm/runs/*.jsonl; docs/learning.md, "Steps on real 4-peer
swarms against the simulator"). Standard library only.

  swarm_rounds.py RUN.jsonl...

Per peer, over the polls from the first one at which every peer had stepped
("together") to the poll that first saw its evaluation >= the target (or the
last poll): steps made, rounds run, steps per round (the steps over the
rounds, and the status's smoothed `steps_per_round` at the end), corrections
the trainer applied per round, deltas sent and received per round, link
resets, neighbours, steps per second; and the steps peer 0 had made when the
peer was first seen stepping (its head start, to a poll's resolution).
Prints one JSON line per run.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from json_lines import records  # noqa: E402


def polls(path):
    rows, summary, load = [], None, None
    for r in records(path):
        if r.get("event") == "evaluation" and r.get("peers"):
            rows.append(r)
        elif r.get("event") == "summary":
            summary = r
        elif r.get("event") == "load":
            load = [r.get("loadavg_1min_before"), r.get("loadavg_1min_after")]
    return rows, summary, load


def delta(a, b, key):
    x, y = a.get(key), b.get(key)
    return (y - x) if x is not None and y is not None else None


def ratio(x, y):
    return round(x / y, 2) if x is not None and y else None


def per_peer(rows, summary, i):
    start = next((k for k, r in enumerate(rows) if all(p.get("step") for p in r["peers"])), None)
    if start is None:
        return None
    first = (summary or {}).get("first_reach") or []
    reach = first[i] if i < len(first) else None
    end = len(rows) - 1
    if reach:
        end = next((k for k, r in enumerate(rows) if r["peers"][i].get("evaluated_at_step") == reach["step"]), end)
    a, b = rows[start]["peers"][i], rows[end]["peers"][i]
    steps, rounds = delta(a, b, "step"), delta(a, b, "rounds")
    joined = next((r for r in rows if r["peers"][i].get("step")), None)
    pacing = b.get("pacing") or {}
    return {"peer": i, "reached_at_step": reach["step"] if reach else None,
            "peer0_step_when_first_seen_stepping": joined["peers"][0].get("step") if joined else None,
            "steps": steps, "rounds": rounds, "steps_per_round": ratio(steps, rounds),
            "status_steps_per_round": pacing.get("steps_per_round"),
            "corrections_per_round": ratio(delta(a, b, "corrections_applied"), rounds),
            "deltas_sent_per_round": ratio(delta(a, b, "deltas_sent"), rounds),
            "deltas_received_per_round": ratio(delta(a, b, "deltas_received"), rounds),
            "link_resets": b.get("link_resets"), "neighbours": b.get("neighbours"),
            "steps_per_second": round(b["steps_per_second"]) if b.get("steps_per_second") else None,
            "round_wait": pacing.get("round_wait"), "round_interval_ms": pacing.get("round_interval_ms"),
            "rounds_held_floor": pacing.get("rounds_held_floor"), "rounds_held_cpu": pacing.get("rounds_held_cpu")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()
    for run in args.runs:
        rows, summary, load = polls(run)
        if not rows:
            continue
        n = len(rows[0]["peers"])
        print(json.dumps({"run": run, "load_1min": load,
                          "steps_per_peer": (summary or {}).get("steps_per_peer"),
                          "head_start_steps": (summary or {}).get("head_start_steps"),
                          "steps_together": (summary or {}).get("steps_together"),
                          "time_to_target": (summary or {}).get("time_to_target"),
                          "peers": [per_peer(rows, summary, i) for i in range(n)]}))


if __name__ == "__main__":
    main()
