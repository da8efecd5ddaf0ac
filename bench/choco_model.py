#!/usr/bin/env python3
"""A synchronous numpy model of starling's pure-consensus rounds (docs/learning.md,
"Low-bit gossip: scaled sign"): no simulator, no asynchrony, no staggered start.
Usage: [D=1024] choco_model.py NODES GAMMA none|sign|topk:F|randk:F ROUNDS
Prints the spread (mean ||x_i - mean||^2) every 50 rounds. Needs numpy."""
import os, sys
import numpy as np
def run(n, gamma, comp, rounds, dial=3, cap=8, D=int(os.environ.get("D", "1024")), seed=1, mh=True, report=50):
    rng = np.random.default_rng(seed)
    adj = [set() for _ in range(n)]
    for i in rng.permutation(n):
        tries = 0; dialled = 0
        while dialled < dial and tries < 50:
            tries += 1
            j = int(rng.integers(n))
            if j == i or len(adj[j]) >= cap or len(adj[i]) >= cap: continue
            dialled += 1
            adj[i].add(j); adj[j].add(i)
    deg = np.array([len(a) for a in adj])
    src, dst = [], []
    for i in range(n):
        for j in sorted(adj[i]): src.append(i); dst.append(j)
    src = np.array(src); dst = np.array(dst)
    idx = {(a, b): e for e, (a, b) in enumerate(zip(src, dst))}
    rev = np.array([idx[(b, a)] for a, b in zip(src, dst)])
    w = 1.0 / (1 + np.maximum(deg[src], deg[dst])) if mh else np.full(len(src), 1.0 / (1 + cap))
    x = rng.standard_normal((n, D)).astype(np.float32)
    copies = x[src].copy()  # snapshot start: exact copies
    def spread(): return float(((x - x.mean(0)) ** 2).sum(1).mean())
    s0 = spread(); out = []
    for r in range(rounds + 1):
        if r % report == 0: out.append((r, spread()))
        pull = (gamma * w)[:, None] * (copies[rev] - copies)
        corr = np.zeros_like(x); np.add.at(corr, src, pull)
        x += corr
        v = x[src] - copies
        if comp == 'sign':
            b = v.reshape(len(src), D // 256, 256)
            q = (np.abs(b).mean(2, keepdims=True) * np.sign(b)).reshape(len(src), D)
        elif comp == 'none':
            q = v
        elif comp.startswith('topk'):
            k = max(1, int(float(comp.split(':')[1]) * D))
            q = np.zeros_like(v); part = np.argpartition(-np.abs(v), k - 1, axis=1)[:, :k]
            np.put_along_axis(q, part, np.take_along_axis(v, part, 1), 1)
        elif comp.startswith('randk'):
            k = max(1, int(float(comp.split(':')[1]) * D))
            q = np.zeros_like(v); part = rng.integers(0, D, (len(src), k))
            np.put_along_axis(q, part, np.take_along_axis(v, part, 1), 1)
        copies += q
    return deg, s0, out
if __name__ == '__main__':
    n, gamma, comp, rounds = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    deg, s0, out = run(n, gamma, comp, rounds)
    print(f"n={n} gamma={gamma} {comp} deg mean {deg.mean():.2f} max {deg.max()} min {deg.min()}")
    print(' '.join(f"{r}:{s:.3g}" for r, s in out))
