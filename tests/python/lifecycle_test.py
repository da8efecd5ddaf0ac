#!/usr/bin/python3
"""The Python module's lifecycle without torch (numpy only): the attached
buffer's export, the interpreter's exit with a thread in a call, Ctrl-C and
leave() during join(), the data-dir lock (docs/embedding.md, "Python").

Each check raises AssertionError with what went wrong; exit 77 (skipped) when
numpy is missing. Needs PYTHONPATH=BUILD/python. Run one check: ARGV[1].
"""

import array
import gc
import os
import subprocess
import sys
import threading
import time

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e} (apt install python3-numpy)")
    sys.exit(77)

import starling

from checks import data_dir, peer, raises  # noqa: E402


def test_attached_buffer_cannot_be_resized_until_leave():
    # The peer writes into the memory until leave(): its owner must not free it.
    arr = array.array("f", bytes(4 * 1000))
    p = peer()
    p.attach(arr)
    raises(BufferError, "", lambda: arr.extend(array.array("f", bytes(4 * 1000))))
    ba = bytearray(4 * 1000)
    mv = memoryview(ba).cast("f")
    q = peer()
    q.attach(mv)
    raises(BufferError, "", mv.release)  # the memoryview's export is held, so ba stays put
    raises(BufferError, "", lambda: ba.extend(b"x" * 8))
    p.join(timeout=10)
    for _ in range(5):
        p.after_step()
    assert len(arr) == 1000
    p.leave()
    q.leave()
    arr.extend(array.array("f", bytes(4 * 1000)))  # released at leave(): the owner's again
    mv.release()
    ba.extend(b"x" * 8)
    # A peer that goes without leave() releases it too.
    other = array.array("f", bytes(4 * 10))
    r = peer()
    r.attach(other)
    del r
    other.append(1.0)


def run_script(body, timeout=60):
    script = "import sys, threading, time\nimport numpy as np\nimport starling\n" + body
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


def test_exit_with_a_daemon_thread_in_a_call():
    # Python 3.11 ends a daemon thread that takes the GIL back during
    # finalization with pthread_exit; unwinding through a noexcept GIL guard
    # was std::terminate (rc -6, "terminate called without an active exception").
    for call in ("p.status()", "p.after_step()"):
        r = run_script(f"""
p = starling.Peer(listen="127.0.0.1:0")
p.attach(np.zeros(1000, np.float32))
p.join(timeout=10)
def spin():
    while True:
        {call}
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(0.5)
print("main ends", flush=True)
""")
        assert r.returncode == 0 and "main ends" in r.stdout, f"{call}: rc {r.returncode}: {r.stderr[-500:]}"


def test_leave_from_another_thread_stops_join():
    p = peer(seeds=["127.0.0.1:9"], join_timeout=60)  # a dead seed: join() would wait 60 s
    p.attach(np.zeros(100, np.float32))
    outcome = {}

    def joiner():
        t0 = time.time()
        try:
            p.join()
            outcome["error"] = None
        except Exception as e:  # noqa: BLE001
            outcome["error"] = e
        outcome["took"] = time.time() - t0

    t = threading.Thread(target=joiner)
    t.start()
    time.sleep(1.0)
    t0 = time.time()
    p.leave()
    left_after = time.time() - t0
    t.join(timeout=20)
    assert not t.is_alive(), "join() still blocked 20 s after leave()"
    e = outcome["error"]
    assert isinstance(e, ConnectionError) and "left while joining" in str(e), repr(e)
    assert outcome["took"] < 6 and left_after < 6, outcome
    assert p.status()["state"] == "left", p.status()["state"]


def interrupted(call):
    """Runs `call` (a join that would wait hours, against a dead seed) in a
    fresh process, sends it SIGINT after 1 s, and returns its output."""
    r = run_script(f"""
import os, signal
d = {data_dir()!r}
p = starling.Peer(listen="127.0.0.1:0", data_dir=d, seeds=["127.0.0.1:9"], join_timeout=30000)
p.attach(np.zeros(100, np.float32))
threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
t0 = time.time()
try:
    p.{call}()
    print("returned?")
except KeyboardInterrupt:
    print("KeyboardInterrupt after %.1f s" % (time.time() - t0))
print("state", p.status()["state"])
""", timeout=90)
    assert r.returncode == 0, f"rc {r.returncode}: {r.stderr[-500:]}"
    assert "KeyboardInterrupt after" in r.stdout, r.stdout + r.stderr[-500:]
    took = float(r.stdout.split("KeyboardInterrupt after ")[1].split()[0])
    assert took < 5, f"KeyboardInterrupt came {took} s after {call}() began (SIGINT at 1 s)"
    return r.stdout


def test_ctrl_c_interrupts_join():
    # SIGINT during a join that would wait hours: KeyboardInterrupt at once,
    # the peer left (its data dir free again).
    assert "state left" in interrupted("join")


def test_ctrl_c_interrupts_the_join_of_a_first_after_step():
    # after_step() joins when join() was not called: it ran the C++ join with
    # no signal check, so Ctrl-C waited for the whole join timeout.
    assert "state left" in interrupted("after_step")


def test_after_step_while_join_runs_elsewhere_says_so():
    p = peer(seeds=["127.0.0.1:9"], join_timeout=3)
    p.attach(np.zeros(10, np.float32))
    t = threading.Thread(target=lambda: raises(TimeoutError, "no seed answered", p.join))
    t.start()
    time.sleep(0.5)
    raises(ValueError, "join() is still running", p.after_step)  # it said "the peer has left"
    assert p.status()["state"] != "downloading", p.status()  # nothing was downloading yet
    t.join(timeout=20)
    p.leave()


def test_a_peer_without_a_data_dir_removes_its_own_folder():
    # Port 0 and no data_dir: a fresh identity folder under the temp
    # directory, removed once the peer leaves (each Peer() left one, a
    # private key in it, for ever).
    import glob, tempfile
    pattern = os.path.join(tempfile.gettempdir(), "starling-embed-*")
    before = set(glob.glob(pattern))
    for _ in range(3):
        with starling.Peer(listen="127.0.0.1:0") as p:
            p.attach(np.zeros(4, np.float32))
            p.join(timeout=10)
            assert len(set(glob.glob(pattern)) - before) == 1
    assert set(glob.glob(pattern)) - before == set(), set(glob.glob(pattern)) - before


def test_the_data_dir_is_free_after_leave_and_a_failed_join():
    d = data_dir()
    with starling.Peer(listen="127.0.0.1:0", data_dir=d) as p:
        p.join(timeout=10)
        e = raises(ValueError, "in this process", lambda: starling.Peer(listen="127.0.0.1:0", data_dir=d))
        assert str(os.getpid()) in str(e), e
    q = starling.Peer(listen="127.0.0.1:0", data_dir=d)  # p still exists, but it has left
    q.attach(np.zeros(10, np.float32))
    q.leave()
    r = starling.Peer(listen="127.0.0.1:0", data_dir=d, seeds=["127.0.0.1:9"])
    raises(TimeoutError, "no seed answered", lambda: r.join(timeout=1))
    s = starling.Peer(listen="127.0.0.1:0", data_dir=d)  # r failed: its lock went with it
    s.leave()
    del p, q, r, s


def test_other_threads_run_while_a_dropped_peer_leaves():
    # A peer collected without leave() leaves in its destructor (up to the
    # profile's leave timeout + 2 s): with the GIL released, so the other
    # Python threads go on meanwhile.
    with peer() as first:
        first.attach(np.zeros(100, np.float32))
        first.join(timeout=10)
        second = peer(seeds=[first.status()["address"]])
        second.attach(np.zeros(100, np.float32))
        second.join(timeout=10)
        second.me = second  # a cycle: only the garbage collector frees it
        stamps, stop = [], threading.Event()

        def tick():
            while not stop.is_set():
                stamps.append(time.monotonic())
                time.sleep(0.005)

        t = threading.Thread(target=tick)
        t.start()
        time.sleep(0.2)
        del second
        t0 = time.monotonic()
        gc.collect()
        took = time.monotonic() - t0
        stop.set()
        t.join()
        inside = [s for s in stamps if s >= t0 - 0.05]
        gap = max(b - a for a, b in zip(inside, inside[1:]))
        assert took > 0.1, f"the collection took {took:.2f} s: the peer did not leave in it"
        assert gap < 0.1, f"another thread stood still for {gap:.2f} s of the {took:.2f} s collection"


def test_a_membership_only_peer_joins_and_reports_membership():
    # No attach(): the peer relays and observes. It joins through the seed
    # (it timed out: its status never said joined) and its status has the
    # membership keys only, no training key that would always read 0.
    with peer() as trainer:
        trainer.attach(np.zeros(100, np.float32))
        trainer.join(timeout=10)
        with peer(seeds=[trainer.status()["address"]]) as member:
            member.join(timeout=10)
            s = member.status()
            assert s["state"] == "member" and s["joined"] and not s["trains"], s
            assert s["address"].startswith("127.0.0.1:") and s["members"] == 1, s
            assert "steps" not in s and "neighbours" not in s and "consensus_distance" not in s, s
            assert trainer.status()["trains"] and "steps" in trainer.status()
            raises(ValueError, "attach()", member.after_step)
        assert member.status()["state"] == "left"


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    if len(sys.argv) > 1:
        tests = [(n, f) for n, f in tests if n in sys.argv[1:]]
    failed = 0
    for name, fn in tests:
        t0 = time.time()
        try:
            fn()
            print(f"ok   {name} ({time.time() - t0:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
