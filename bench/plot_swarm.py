#!/usr/bin/python3
"""Table and plot for bench/swarm_vs_ddp.sh.

Reads every RESULTS/runs/*.jsonl (one file per configuration and round, as
written by pytorch_ddp_reference.py and starling_swarm.py), prints a table
(medians over rounds) with the two targets checked, writes RESULTS/summary.json
and plots test accuracy against time since launch and against cumulative bytes
sent per peer (log x) to RESULTS/swarm_vs_ddp.png (and .svg).

For a swarm, the accuracy plotted is the minimum over live peers; time to 88%
is when the last peer's own model first evaluated at or above 88% (each peer
judged by the rule one replica is: its first evaluation at the target).

  bench/plot_swarm.py bench/results/swarm            # table + plot
  bench/plot_swarm.py bench/results/swarm --no-plot  # table only
"""
import argparse
import glob
import json
import os
import statistics
import sys


def label(r):
    if r["impl"] == "pytorch":
        return "pytorch 1 proc"
    if r["impl"] == "pytorch-ddp":
        return f"pytorch DDP {r['procs']} procs"
    if r["procs"] == 1:
        return "starling 1 replica (train)"
    extra = " ".join(r.get("peer_args") or [])
    return f"starling {r['procs']} peers {r['compress']}" + (f" [{extra}]" if extra else "")


def order_key(name):
    ordering = ["pytorch 1", "pytorch DDP 2", "pytorch DDP 4", "starling 1", "starling 2", "starling 4"]
    for i, prefix in enumerate(ordering):
        if name.startswith(prefix):
            comp = ["none", "topk", "int8", "sign"]
            j = next((k for k, c in enumerate(comp) if c in name), len(comp))
            return (i, j, name)
    return (len(ordering), 0, name)


def load(results):
    runs = {}
    for path in sorted(glob.glob(os.path.join(results, "runs", "*.jsonl"))):
        curve, summary, load = [], None, None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("event") == "summary":
                    summary = r
                elif r.get("event") == "evaluation":
                    curve.append(r)
                elif r.get("event") == "load":
                    load = r
        if summary is None and not curve:
            continue
        name = label(summary or curve[0])  # a run cut short has no summary: its label omits PEER_ARGS
        runs.setdefault(name, []).append({"path": path, "curve": curve, "summary": summary, "load": load})
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="{:.1f}", none="-"):
    return none if v is None else spec.format(v)


def table(runs, target):
    rows = {}
    for name, rs in runs.items():
        sums = [r["summary"] for r in rs if r["summary"]]
        reached = [s.get("time_to_target") for s in sums]
        rows[name] = {
            "rounds": len(rs),
            "reached_rounds": sum(1 for v in reached if v is not None),
            "t88": med(reached),
            "t88_train": med([s.get("time_to_target_train") for s in sums]),
            "t88_all": reached,
            "t88_train_all": [s.get("time_to_target_train") for s in sums],
            "final_accuracy": med([s.get("final_accuracy") for s in sums]),
            "steps": med([s.get("steps") for s in sums]),
            "steps_together": med([s.get("steps_together") for s in sums]),
            "t88_at_once": med([s.get("time_all_at_once") for s in sums]),
            "bytes_per_step": med([s.get("bytes_per_proc_per_step", s.get("bytes_per_peer_per_step")) for s in sums]),
            "lo_bytes_per_step": med([s.get("lo_bytes_per_peer_per_step") for s in sums]),
            "bytes_per_second": med([s.get("bytes_per_proc_per_second", s.get("bytes_per_peer_per_second"))
                                     for s in sums]),
            "ring_bytes_per_step": med([s.get("ring_allreduce_bytes_per_proc_per_step") for s in sums]),
            "load": med([max(r["load"]["loadavg_1min_before"], r["load"]["loadavg_1min_after"])
                         for r in rs if r.get("load")]),
            "crashed": sorted({p for s in sums for p in (s.get("crashed_peers") or [])}),
            "procs": (sums[0] if sums else rs[0]["curve"][0])["procs"],
            "impl": (sums[0] if sums else rs[0]["curve"][0])["impl"],
        }
    ref = rows.get("pytorch 1 proc")
    for name, row in rows.items():
        ddp = rows.get(f"pytorch DDP {row['procs']} procs")
        row["ddp_bytes_ratio"] = (ddp["bytes_per_step"] / row["bytes_per_step"]
                                  if ddp and ddp["bytes_per_step"] and row["bytes_per_step"] else None)
        row["vs_single"] = row["t88"] / ref["t88"] if ref and ref["t88"] and row["t88"] else None
        row["vs_single_train"] = (row["t88_train"] / ref["t88_train"]
                                  if ref and ref["t88_train"] and row["t88_train"] else None)
    width = max([30] + [len(n) for n in rows])
    head = (f"{'configuration':<{width}} {'n':>3} {'t88 wall':>9} {'t88 train':>9} {'at once':>8} {'final acc':>9} "
            f"{'steps':>7} {'together':>8} "
            f"{'B/peer/step':>12} {'lo B/step':>11} {'B/peer/s':>11} {'DDP/this':>9} {'t/pt1 wall':>10} {'t/pt1 train':>11} {'load':>5}")
    print(head)
    print("-" * len(head))
    for name in sorted(rows, key=order_key):
        r = rows[name]
        print(f"{name:<{width}} {r['rounds']:>3} {fmt(r['t88'], '{:.1f}s', 'never'):>9} "
              f"{fmt(r['t88_train'], '{:.1f}s', 'never'):>9} {fmt(r['t88_at_once'], '{:.1f}s'):>8} "
              f"{fmt(r['final_accuracy'], '{:.2%}'):>9} "
              f"{fmt(r['steps'], '{:.0f}'):>7} {fmt(r['steps_together'], '{:.0f}'):>8} "
              f"{fmt(r['bytes_per_step'], '{:,.0f}'):>12} "
              f"{fmt(r['lo_bytes_per_step'], '{:,.0f}'):>11} {fmt(r['bytes_per_second'], '{:,.0f}'):>11} "
              f"{fmt(r['ddp_bytes_ratio'], '{:.1f}x'):>9} "
              f"{fmt(r['vs_single'], '{:.2f}'):>10} {fmt(r['vs_single_train'], '{:.2f}'):>11} "
              f"{fmt(r['load'], '{:.1f}'):>5}"
              + (f"  crashed peers: {r['crashed']}" if r["crashed"] else "")
              + (f"  reached in {r['reached_rounds']}/{r['rounds']} rounds"
                 if 0 < r["reached_rounds"] < r["rounds"] else ""))
    for n in (2, 4):
        ddp = rows.get(f"pytorch DDP {n} procs")
        if ddp and ddp["ring_bytes_per_step"]:
            print(f"DDP {n} procs: measured {ddp['bytes_per_step']:,.0f} B/proc/step on loopback vs ring all-reduce "
                  f"2(n-1)/n*4*P = {ddp['ring_bytes_per_step']:,.0f}")
    print()
    print(f"t88 = median time to {target:.0%} test accuracy (swarm: the last peer's first evaluation of its own model "
          "at or above it, as one replica's first). 'wall' counts from launch "
          "(start-up, data loading and evaluations included); 'train' is the training clock "
          "(PyTorch: evaluation excluded; starling: from the last poll at which some peer had not stepped yet). "
          "'at once': starling, the first poll at which every peer's last evaluation was at or above it.")
    print("steps: per peer (mean over peers), the step of its first evaluation at or above the target (PyTorch: its "
          "own rule); 'together': starling swarms, the same less the steps a peer made before the last peer "
          "started (peer 0 trains alone while the others start and download its model).")
    print("B/peer/step: starling = status bytes_sent / step (framing and crypto included); "
          "DDP = loopback tx bytes / procs / step. lo B/step: starling's whole loopback traffic (private "
          "namespace: membership, model download and status polls included) / peers / step. B/peer/s: per second "
          "of run (starling: since launch; DDP: training clock). DDP/this = DDP's B/step with as many processes / "
          "this one's. load: median over rounds of the higher 1-minute load average before/after the run "
          "(cores: %d)." % os.cpu_count())
    checks = []
    if ref:
        for name in sorted(rows, key=order_key):
            r = rows[name]
            if r["impl"] != "starling" or r["procs"] != 2:
                continue
            for clock, mine, theirs in (("wall", r["t88"], ref["t88"]), ("train", r["t88_train"], ref["t88_train"])):
                ok = mine is not None and (theirs is None or mine < theirs)
                checks.append({"target": "2 peers reach 88% before single-process PyTorch", "config": name,
                               "clock": clock, "starling": mine, "pytorch": theirs, "held": ok})
    for name in sorted(rows, key=order_key):
        r = rows[name]
        if r["impl"] == "starling" and r["procs"] > 1:
            ddp = rows.get(f"pytorch DDP {r['procs']} procs")
            if ddp and ddp["bytes_per_step"] and r["bytes_per_step"] is not None:
                checks.append({"target": "bytes per peer per step <= 1/50 of DDP's", "config": name,
                               "starling": r["bytes_per_step"], "pytorch": ddp["bytes_per_step"],
                               "held": r["bytes_per_step"] * 50 <= ddp["bytes_per_step"]})
    if checks:
        print("\ntargets:")
        for c in checks:
            extra = f" ({c['clock']} clock)" if "clock" in c else ""
            print(f"  {'HELD  ' if c['held'] else 'MISSED'} {c['target']}{extra}: {c['config']}: "
                  f"{fmt(c['starling'], '{:,.1f}', 'never')} vs {fmt(c['pytorch'], '{:,.1f}', 'never')}")
    return rows, checks


def plot(runs, target, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(15, 6))
    colours = {"none": "tab:blue", "topk": "tab:orange", "int8": "tab:green", "sign": "tab:red"}

    def style(name):
        if name.startswith("pytorch DDP"):
            return ("dimgray", "--" if " 2 " in name else ":")
        if name.startswith("pytorch"):
            return ("black", "--")
        if name.startswith("starling 1"):
            return ("black", "-")
        colour = next((c for k, c in colours.items() if k in name.split()[-1]), "tab:purple")
        return (colour, "-" if name.startswith("starling 2") else "-.")

    for name in sorted(runs, key=order_key):
        color, linestyle = style(name)
        for i, run in enumerate(runs[name]):
            pts = [r for r in run["curve"] if r.get("accuracy") is not None]
            if not pts:
                continue
            kw = dict(color=color, linestyle=linestyle, linewidth=1.6, alpha=0.9 if i == 0 else 0.45,
                      label=name if i == 0 else None)
            ax_t.plot([r["t"] for r in pts], [r["accuracy"] for r in pts], **kw)
            bpts = [r for r in pts if r.get("bytes_per_proc")]
            if bpts:
                ax_b.plot([r["bytes_per_proc"] for r in bpts], [r["accuracy"] for r in bpts], **kw)
    for ax in (ax_t, ax_b):
        ax.axhline(target, color="gray", linewidth=0.8, linestyle=":")
        ax.set_ylim(0.75, 0.9)
        ax.set_ylabel("test accuracy (swarm: minimum over live peers)")
        ax.grid(True, alpha=0.3)
    ax_t.set_xlabel("seconds since launch (start-up, data loading, evaluations included)")
    ax_t.set_title("accuracy against time")
    ax_b.set_xscale("log")
    ax_b.set_xlabel("cumulative bytes sent per peer / process (log)")
    ax_b.set_title("accuracy against bytes (single-process runs send nothing)")
    ax_t.legend(fontsize=8, loc="lower right")
    ax_b.legend(fontsize=8, loc="lower right")
    fig.suptitle("starling swarm vs PyTorch DDP (gloo) and single-process PyTorch, MLP 784-256-128-10, "
                 "Fashion-MNIST, same machine")
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(f"{out}.{ext}", dpi=110)
    print(f"\nplot: {out}.png and {out}.svg")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="folder with runs/*.jsonl")
    ap.add_argument("--target", type=float, default=0.88)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--out", default=None, help="plot path without extension (default RESULTS/swarm_vs_ddp)")
    args = ap.parse_args()
    runs = load(args.results)
    if not runs:
        sys.exit(f"plot_swarm: no runs in {args.results}/runs")
    rows, checks = table(runs, args.target)
    with open(os.path.join(args.results, "summary.json"), "w") as f:
        json.dump({"rows": rows, "targets": checks}, f, indent=1)
    if args.no_plot:
        return
    try:
        import matplotlib  # noqa: F401  (optional: the table and summary.json do not need it)
    except ImportError:
        print(f"\nplot: skipped, {sys.executable} has no matplotlib (apt-get install python3-matplotlib "
              "and run it with /usr/bin/python3)")
        return
    plot(runs, args.target, args.out or os.path.join(args.results, "swarm_vs_ddp"))


if __name__ == "__main__":
    main()
