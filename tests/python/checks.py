"""Helpers the Python tests share: a peer on a free loopback port with its own
data dir, and raises() that checks an exception's type and message."""

import os
import tempfile

import starling

TMP = tempfile.mkdtemp(prefix="starling-py-")
_count = [0]


def data_dir():
    """A fresh data dir under this run's temporary folder."""
    _count[0] += 1
    return os.path.join(TMP, f"p{_count[0]}")


def peer(**kw):
    """A Peer on 127.0.0.1, port picked by the kernel, with a fresh data dir unless given."""
    kw.setdefault("data_dir", data_dir())
    return starling.Peer(listen="127.0.0.1:0", **kw)


def raises(exc, needle, fn):
    """fn() must raise exc with needle in its message; returns the exception."""
    try:
        fn()
    except exc as e:
        assert needle in str(e), f"{exc.__name__} without '{needle}': {e}"
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"expected {exc.__name__} ('{needle}'), got {type(e).__name__}: {e}")
    raise AssertionError(f"expected {exc.__name__} ('{needle}'), nothing raised")


def run_tests(namespace):
    """Runs every test_* function of a module's globals in name order, timing each."""
    import time

    for name, test in sorted(namespace.items()):
        if not name.startswith("test_"):
            continue
        t0 = time.time()
        test()
        print(f"ok {name} ({time.time() - t0:.1f} s)", flush=True)
    print("PASS")
