#!/usr/bin/python3
"""A stranger floods the membership (UDP) port of a real `starling peer`
with junk datagrams, as fast as one Python sender goes, while an honest peer
is joined. Prints datagrams sent, the attacked peer's CPU and RSS, and whether
it still lists the honest peer alive. Measurement only: it fails only if the
attacked peer dies or stops listing its honest neighbour.

Usage: udp_flood.py STARLING [--seconds S]
Loopback only; bounded in time and count. Standard library only."""

import argparse
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from slowloris import Swarm, free_port, proc_figures  # noqa: E402

MAX_DATAGRAMS = 5_000_000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("starling")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    import tempfile
    work = tempfile.mkdtemp(prefix="starling-udp-")
    swarm = Swarm(args.starling, work, 4096)
    try:
        port, honest_port = free_port(), free_port()
        target = swarm.start("target", port)
        swarm.start("honest", honest_port, seed=port)
        time.sleep(2)
        _, _, cpu0 = proc_figures(target.pid)
        rng = random.Random(1)
        junk = [rng.randbytes(rng.randint(1, 1400)) for _ in range(64)]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        sent, t0 = 0, time.monotonic()
        while sent < MAX_DATAGRAMS and time.monotonic() - t0 < args.seconds:
            for d in junk:
                try:
                    s.sendto(d, ("127.0.0.1", port))
                    sent += 1
                except BlockingIOError:
                    pass
        elapsed = time.monotonic() - t0
        _, rss, cpu1 = proc_figures(target.pid)
        text = swarm.status(port) or ""
        alive = f'"127.0.0.1:{honest_port}"' in text and '"alive"' in text
        print(f"udp junk: {sent} datagrams in {elapsed:.1f} s ({sent / elapsed:.0f}/s); peer cpu "
              f"{100 * (cpu1 - cpu0) / elapsed:.0f}% of a core, rss {rss:.1f} MiB; honest peer alive: {alive}")
        ok = target.poll() is None and alive
    finally:
        swarm.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
