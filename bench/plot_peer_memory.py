#!/usr/bin/python3
"""Figure for bench/peer_memory.sh: peak resident memory of N peers, before
and after the memory work (docs/learning.md, "Memory per peer").

Reads DIR/before.jsonl and DIR/after.jsonl (one JSON object per N, as printed
by bench_peer_memory), prints a table and writes DIR/peer_memory.svg: peak RSS
(MiB) against N, one line per build, with model vectors per peer labelled.
Plain SVG text, no plotting library needed.

  bench/plot_peer_memory.py bench/results/peer_memory
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "bench/results/peer_memory"
    series = {label: load(os.path.join(folder, label + ".jsonl")) for label in ("before", "after")}
    # Ready links differ between runs (identities are random), so the last
    # columns take the link copies (2 per ready link) out: what is left is the
    # model side, the driver's own vectors, scratch and the network's buffers.
    print("| peers | ready links/peer before, after | peak RSS MiB before | after | model vectors/peer before | after "
          "| beyond 2 copies per link before | after |")
    print("|---|---|---|---|---|---|---|---|")
    for b, a in zip(series["before"], series["after"]):
        beyond_b = b["peak_model_vectors_per_peer"] - 2 * b["ready_links_per_peer"]
        beyond_a = a["peak_model_vectors_per_peer"] - 2 * a["ready_links_per_peer"]
        print(f"| {b['peers']} | {b['ready_links_per_peer']:.2f}, {a['ready_links_per_peer']:.2f} | "
              f"{b['maxrss_kb'] / 1024:.0f} | {a['maxrss_kb'] / 1024:.0f} | "
              f"{b['peak_model_vectors_per_peer']:.1f} | {a['peak_model_vectors_per_peer']:.1f} | "
              f"{beyond_b:.1f} | {beyond_a:.1f} |")

    width, height, left, right, top, bottom = 640, 400, 70, 20, 40, 50
    max_peers = max(r["peers"] for s in series.values() for r in s)
    max_mib = max(r["maxrss_kb"] / 1024 for s in series.values() for r in s) * 1.1

    def px(peers):
        return left + (width - left - right) * peers / max_peers

    def py(mib):
        return height - bottom - (height - top - bottom) * mib / max_mib

    colours = {"before": "#c0392b", "after": "#2471a3"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">Peak RSS of N peers over MemoryNetwork '
             f'({series["after"][0]["parameters"]} parameters, top-k 1%)</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">peers</text>',
             f'<text x="{left - 8}" y="{top - 10}" text-anchor="middle">MiB</text>']
    step = 200 if max_mib > 600 else 100
    for mib in range(0, int(max_mib) + 1, step):
        parts.append(f'<line x1="{left - 4}" y1="{py(mib):.1f}" x2="{left}" y2="{py(mib):.1f}" stroke="black"/>')
        parts.append(f'<text x="{left - 8}" y="{py(mib) + 4:.1f}" text-anchor="end">{mib}</text>')
    for r in series["after"]:
        parts.append(f'<text x="{px(r["peers"]):.1f}" y="{height - bottom + 16}" text-anchor="middle">{r["peers"]}</text>')
    for i, (label, rows) in enumerate(series.items()):
        points = " ".join(f'{px(r["peers"]):.1f},{py(r["maxrss_kb"] / 1024):.1f}' for r in rows)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colours[label]}" stroke-width="2"/>')
        for r in rows:
            x, y = px(r["peers"]), py(r["maxrss_kb"] / 1024)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colours[label]}"/>')
            # before: above-left of its point; after: below-right (they sit close at small N).
            tx, ty, anchor = (x - 6, y - 8, "end") if label == "before" else (x + 6, y + 16, "start")
            if label == "after" and x > width - right - 80:
                tx, anchor = x - 6, "end"
            parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" style="fill:{colours[label]}">'
                         f'{r["peak_model_vectors_per_peer"]:.1f} vectors/peer</text>')
        ly = top + 20 + 18 * i
        parts.append(f'<line x1="{left + 16}" y1="{ly - 4}" x2="{left + 36}" y2="{ly - 4}" stroke="{colours[label]}" '
                     f'stroke-width="3"/>')
        parts.append(f'<text x="{left + 42}" y="{ly}" style="fill:{colours[label]}">{label}'
                     f'{" (main 47b6b8d)" if label == "before" else " (branch mem)"}</text>')
    parts.append("</svg>")
    out = os.path.join(folder, "peer_memory.svg")
    with open(out, "w") as f:
        f.write("\n".join(parts) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
