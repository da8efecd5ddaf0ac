#!/usr/bin/python3
"""Bad arguments to the Python API (numpy only): each is refused with an error
that names the argument and what it may be, never coerced (2.5 -> 2, True -> 1)
and never with pybind11's own text ("incompatible function arguments ...
Invoked with"). docs/embedding.md, "The Python module".

Each check raises AssertionError with what went wrong; exit 77 (skipped) when
numpy is missing. Needs PYTHONPATH=BUILD/python.
"""

import sys

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e} (apt install python3-numpy)")
    sys.exit(77)

import starling

from checks import data_dir, peer, raises, run_tests  # noqa: E402


def refused(exc, needles, fn):
    """fn() raises exc naming every needle, and not in pybind11's words."""
    e = raises(exc, needles[0], fn)
    for needle in needles[1:]:
        assert needle in str(e), f"'{needle}' not in: {e}"
    assert "incompatible function arguments" not in str(e) and "Invoked with" not in str(e), str(e)


def test_overflowing_numbers_name_the_argument_and_its_range():
    big = 2**70
    refused(ValueError, ["--listen", "0-65535"], lambda: starling.Peer(listen=f"127.0.0.1:{big}", data_dir=data_dir()))
    refused(ValueError, ["--max-links", "want 1 to 256"], lambda: peer(max_links=big))
    refused(ValueError, ["--round-steps", "out of range"], lambda: peer(round_steps=-big))
    for bad in (big, float("inf"), float("nan"), 0, -1):
        refused(ValueError, ["join_timeout", "at most 86400 seconds"], lambda: peer(join_timeout=bad))
    refused(TypeError, ["join_timeout", "number of seconds"], lambda: peer(join_timeout="10"))
    p = peer()
    p.attach(np.zeros(10, np.float32))
    for bad in (big, float("inf"), float("nan"), 0, -5):  # -5 was taken as 1 ms
        refused(ValueError, ["join()", "timeout", "at most 86400 seconds"], lambda: p.join(timeout=bad))
    refused(TypeError, ["join()", "timeout", "number of seconds"], lambda: p.join(timeout=True))
    refused(ValueError, ["model_id()", "out of range (1 to 2**63-1)"], lambda: starling.model_id([[big]]))
    refused(ValueError, ["attach()", "shape 0", "out of range (1 to 2**63-1)"],
            lambda: peer().attach(np.zeros(4, np.float32), shapes=[[big]]))
    p.join(timeout=10)  # the refusals left the peer as it was
    refused(TypeError, ["local_average()", "out", "float32"], lambda: p.local_average(out=[0.0] * 10))
    p.leave()


def test_bad_shapes_are_refused_not_coerced():
    buf = np.zeros(10, np.float32)
    cases = [
        (TypeError, ["shape 0 [2.5, 4]", "whole numbers", "float 2.5"], [[2.5, 4]]),
        (TypeError, ["shape 0 [10.0]", "float 10.0"], [[10.0]]),
        (TypeError, ["shape 0 [True, 10]", "bool True"], [[True, 10]]),
        (TypeError, ["shape 0 ['10']", "str '10'"], [["10"]]),
        (TypeError, ["shape 0 must be a list of sizes", "int 10"], [10]),
        (TypeError, ["shapes must be a list of shapes"], 10),
        (TypeError, ["shapes must be a list of shapes"], "10"),
        (ValueError, ["shape 0 [-2, -5]", "size -2 is out of range"], [[-2, -5]]),
        (ValueError, ["shape 1 [0, 3]", "size 0"], [[10], [0, 3]]),
        (ValueError, ["shapes is empty"], []),
        (ValueError, ["holds 10 floats", "describe 8"], [[2, 4]]),
        (ValueError, ["shape 0 [4611686018427387905,4]", "more values than a buffer can hold"],
         [[2**62 + 1, 4]]),  # the product wraps to 4 in 64 bits: it was accepted for 4 floats
    ]
    for exc, needles, shapes in cases:
        p = peer()
        n = 4 if shapes == [[2**62 + 1, 4]] else 10
        refused(exc, needles, lambda: p.attach(np.zeros(n, np.float32), shapes=shapes))
        p.leave()
    refused(TypeError, ["name must be a str"], lambda: peer().attach(buf, name=5))
    # A lone surrogate reached pybind11, which refused it with its own text.
    refused(ValueError, ["name '\\udcff' is not valid text"], lambda: peer().attach(buf, name="\udcff"))
    # ctypes exports float32 as '<f': it was refused as "not format '<f'".
    import ctypes
    p = peer()
    p.attach((ctypes.c_float * 10)())
    p.leave()
    refused(TypeError, ["other byte order"], lambda: peer().attach(np.zeros(10, ">f4")))
    refused(TypeError, ["model_id()", "float 2.5"], lambda: starling.model_id([[2.5]]))
    # Integers of numpy and a tuple of them are whole numbers: accepted as they are.
    assert starling.model_id([(np.int64(2), 5)]) == starling.model_id([[2, 5]])
    p = peer()
    p.attach(buf, shapes=[np.zeros((2, 5)).shape])
    p.leave()


if __name__ == "__main__":
    run_tests(globals())
