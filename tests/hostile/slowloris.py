#!/usr/bin/python3
"""A stranger (no swarm key) holds thousands of TCP connections to a real
`starling peer` and never finishes a handshake: each sends one byte, then one
more now and then (slowloris). Meanwhile an honest peer must still join and
`starling status` must still answer. Prints the peer's fd count, RSS and CPU.

Usage: slowloris.py STARLING [--connections N] [--addresses N] [--rate N]
                            [--seconds S] [--nofile N] [--measure]
--rate: new connections per second at most (those the peer closed reopen).
--measure: print figures only, never fail (to compare builds).
Loopback only; every loop is bounded in time and count; every process started
is killed on exit. Standard library only."""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_figures(pid):
    """(open fds, RSS in MiB, CPU seconds) of a process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss_kib = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return fds, rss_kib / 1024, cpu


class Swarm:
    """Peers started by this script, killed at exit."""

    def __init__(self, starling, work, nofile):
        self.starling, self.work, self.nofile = starling, work, nofile
        self.procs = []
        self.key = os.path.join(work, "swarm.key")
        subprocess.run([starling, "keygen", "--swarm", self.key], check=True, stdout=subprocess.DEVNULL)

    def start(self, name, port, seed=None):
        args = [self.starling, "peer", "--listen", f"127.0.0.1:{port}", "--no-train", "--swarm-key", self.key,
                "--data-dir", os.path.join(self.work, name)]
        if seed:
            args += ["--seed", f"127.0.0.1:{seed}"]
        log = open(os.path.join(self.work, name + ".log"), "w")
        limit = self.nofile

        def lower_fd_limit():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=lower_fd_limit)
        self.procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(log.name) as f:
                if "listening on" in f.read():
                    return proc
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"peer {name} did not start: see {log.name}")

    def status(self, port, timeout=3):
        """The peer's status JSON text, or None if it did not answer."""
        try:
            out = subprocess.run([self.starling, "status", f"127.0.0.1:{port}", "--json", "--swarm-key", self.key,
                                  "--timeout", str(timeout)], capture_output=True, text=True, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            return None
        return out.stdout if out.returncode == 0 else None

    def close(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def open_attackers(port, want, addresses, deadline):
    """Up to `want` connections from 127.0.0.2.. (so per-address caps do not
    bound them), each having sent one byte of a handshake frame."""
    held = []
    for i in range(want):
        if time.monotonic() >= deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.0.{1 + (i % addresses) // 250}.{2 + (i % addresses) % 250}", 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        held.append(s)
    return held


def drip(held):
    """One more byte on every connection still open; returns how many are."""
    alive = []
    for s in held:
        try:
            s.send(b"\x00")
            alive.append(s)
        except (BlockingIOError, InterruptedError):
            alive.append(s)
        except OSError:
            s.close()
    return alive


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("starling")
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--addresses", type=int, default=500)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--nofile", type=int, default=1024, help="the attacked peer's fd limit")
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()

    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 256)), hard))

    work = tempfile.mkdtemp(prefix="starling-slowloris-")
    swarm = Swarm(args.starling, work, args.nofile)
    failures = []
    try:
        port = free_port()
        target = swarm.start("target", port)
        time.sleep(0.5)
        fds0, rss0, cpu0 = proc_figures(target.pid)
        print(f"before: fds {fds0}, rss {rss0:.1f} MiB")
        t0 = time.monotonic()
        end = t0 + args.seconds
        held = []
        peak_fds, honest_joined, status_answers, status_asked = fds0, False, 0, 0
        honest_port = free_port()
        honest = None
        round_ = 0
        while time.monotonic() < end and round_ < 10_000:
            round_ += 1
            # Top up: connections the peer closed are opened again.
            held = drip(held)
            want = min(args.connections - len(held), args.rate // 5)
            held += open_attackers(port, want, args.addresses, end)
            fds, rss, _ = proc_figures(target.pid)
            peak_fds = max(peak_fds, fds)
            if honest is None and time.monotonic() - t0 > 2:
                honest = swarm.start("honest", honest_port, seed=port)
            if honest is not None and round_ % 3 == 0:
                status_asked += 1
                text = swarm.status(port, timeout=2)
                if text is not None:
                    status_answers += 1
                    if f'"127.0.0.1:{honest_port}"' in text and '"alive"' in text:
                        honest_joined = True
            time.sleep(0.2)
        fds1, rss1, cpu1 = proc_figures(target.pid)
        cpu_share = (cpu1 - cpu0) / (time.monotonic() - t0)
        print(f"attack: {len(held)} connections held at the end, {args.addresses} source addresses, "
              f"fd limit {args.nofile}")
        print(f"during: peak fds {peak_fds}, rss {rss1:.1f} MiB, cpu {100 * cpu_share:.0f}% of a core")
        print(f"status answered {status_answers}/{status_asked}; honest peer listed alive: {honest_joined}")
        if target.poll() is not None:
            failures.append(f"the attacked peer exited ({target.returncode})")
        if not honest_joined:
            failures.append("the honest peer never showed as alive in the attacked peer's status")
        if status_answers * 2 < status_asked:
            failures.append(f"status answered only {status_answers} of {status_asked} times")
        if peak_fds > args.nofile - 16:
            failures.append(f"the peer reached its fd limit ({peak_fds} of {args.nofile})")
        for s in held:
            s.close()
    finally:
        swarm.close()
    if failures and not args.measure:
        print("FAIL: " + "; ".join(failures), file=sys.stderr)
        print(f"logs in {work}", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
