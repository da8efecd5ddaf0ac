#!/usr/bin/python3
"""The Python module's contract on bad input, the buffer and the GIL (docs/embedding.md).

Each check raises AssertionError with what went wrong; exit 77 (skipped) when
torch or numpy is missing. Needs PYTHONPATH=BUILD/python.
"""

import os
import sys
import threading
import time

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: {e} (apt install python3-torch python3-numpy)")
    sys.exit(77)

import starling
import starling.torch

from checks import TMP, peer, raises, run_tests  # noqa: E402


def test_bad_buffers():
    p = peer()
    raises(TypeError, "float32", lambda: p.attach(torch.zeros(10, dtype=torch.float64)))
    raises(ValueError, "contiguous", lambda: p.attach(torch.zeros(10, 10).t()))
    raises(ValueError, "contiguous", lambda: p.attach(torch.zeros(20)[::2]))
    raises(TypeError, "float32", lambda: p.attach(np.zeros(10)))
    raises(ValueError, "contiguous", lambda: p.attach(np.zeros((10, 10), dtype=np.float32).T))
    readonly = np.zeros(10, dtype=np.float32)
    readonly.setflags(write=False)
    raises(ValueError, "writable", lambda: p.attach(readonly))
    raises(ValueError, "holds 10 floats", lambda: p.attach(torch.zeros(10), shapes=[[3, 3]]))
    p.attach(np.zeros(10, dtype=np.float32), shapes=[[2, 5]])  # a good one after the bad ones
    raises(ValueError, "once", lambda: p.attach(np.zeros(10, dtype=np.float32)))
    p.leave()


def test_bad_settings():
    raises(ValueError, "unknown setting", lambda: peer(no_such_key=1))
    raises(ValueError, "built-in trainer", lambda: peer(lr=0.1))
    raises(ValueError, "--compress", lambda: peer(compress="zip"))
    raises(ValueError, "listen", lambda: starling.Peer(listen="nowhere"))
    raises(ValueError, "own address", lambda: starling.Peer(listen="0.0.0.0:0"))  # it would advertise 0.0.0.0


def test_config_file():
    good = os.path.join(TMP, "good.toml")
    with open(good, "w") as f:
        f.write("listen = '127.0.0.1:0'\ncompress = 'int8'\n")
    p = starling.Peer(config=good, data_dir=os.path.join(TMP, "cfg"))  # listen from the file
    p.leave()
    typed = os.path.join(TMP, "typed.toml")
    with open(typed, "w") as f:
        f.write("compress = 'int8'\nmax-links = 'four'\n")
    raises(ValueError, "typed.toml:2", lambda: peer(config=typed))
    trainer = os.path.join(TMP, "trainer.toml")
    with open(trainer, "w") as f:
        f.write("lr = 0.1\n")
    raises(ValueError, "built-in trainer", lambda: peer(config=trainer))


def test_dead_seed_times_out_and_releases_the_gil():
    p = peer(seeds=["127.0.0.1:9"])
    p.attach(torch.zeros(100))
    ticks = [0]
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    t0 = time.time()
    raises(TimeoutError, "no seed answered", lambda: p.join(timeout=1.5))
    waited = time.time() - t0
    stop.set()
    t.join()
    assert 1.0 < waited < 10.0, f"join waited {waited:.1f} s for a 1.5 s timeout"
    # A thread holding the GIL-free wait runs ~100 ticks a second.
    assert ticks[0] > 50, f"only {ticks[0]} ticks while join() waited: the GIL was held"
    raises(ConnectionError, "failed", p.after_step)


def test_size_mismatch_with_the_swarm():
    with peer() as first:
        first.attach(np.ones(120, dtype=np.float32))
        first.join(timeout=10)
        first.after_step()
        address = first.status()["address"]
        second = peer(seeds=[address])
        mine = torch.zeros(100)
        second.attach(mine)
        e = raises(ValueError, "another model", lambda: second.join(timeout=15))
        assert "parameters" in str(e) or "model hash" in str(e), str(e)
        assert float(mine.abs().sum()) == 0.0, "a refused model was copied in"
        second.leave()


def test_a_diverged_buffer_raises_floating_point_error():
    # NaN/Inf parameters are never published; after_step() says so as
    # FloatingPointError when the node next asks for them (every few steps).
    p = peer()
    flat = np.ones(100, dtype=np.float32)
    p.attach(flat)
    p.join(timeout=10)
    flat[3] = np.inf
    deadline = time.time() + 5
    error = None
    while error is None and time.time() < deadline:
        try:
            p.after_step()
        except FloatingPointError as e:
            error = e
        time.sleep(0.005)
    assert error is not None, "after_step() did not raise FloatingPointError on an Inf parameter within 5 s"
    assert "NaN or Inf" in str(error), error
    assert p.status()["publishes_withheld"] >= 1, p.status()
    p.leave()


def test_flatten_parameters_and_zero_copy_download():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # made BEFORE flattening: must keep working
    flat = starling.torch.flatten_parameters(model)
    assert flat.numel() == 4 * 3 + 3 + 3 * 2 + 2 and flat._starling_shapes == [[3, 4], [3], [2, 3], [2]]
    flat[0] = 42.0
    assert float(model[0].weight[0, 0]) == 42.0, "parameters are not views into the flat buffer"
    before = flat.clone()
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, flat), "the optimizer's step did not land in the flat buffer"

    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    other_flat = starling.torch.flatten_parameters(other)
    with peer(compress="none") as first:
        first.attach(flat)
        first.join(timeout=10)  # publishes at once: a joiner downloads before our first step
        second = peer(compress="none", seeds=[first.status()["address"]])
        second.attach(other_flat)
        second.join(timeout=20)
        assert second.status()["downloaded"]
        # One whole model copied in, the count the user resets the optimizer on; the seed got none.
        assert second.buffer_replacements() == 1
        assert second.status()["buffer_replacements"] == 1
        assert first.buffer_replacements() == 0
        assert torch.equal(other_flat, flat), "the download did not land in the joiner's buffer"
        assert torch.equal(other[0].weight, model[0].weight), "the module does not see the downloaded values"
        second.leave()


def test_local_average():
    import numpy as np
    a = np.full(2000, 4.0, np.float32)
    b = np.zeros(2000, np.float32)
    with peer(compress="none", download=False) as first:
        first.attach(a, shapes=[[2000]])
        raises(ConnectionError, "not training", lambda: first.local_average())
        first.join(timeout=10)
        second = peer(compress="none", download=False, seeds=[first.status()["address"]])
        second.attach(b, shapes=[[2000]])
        second.join(timeout=20)
        neighbours, deadline = 0, time.time() + 20
        while neighbours == 0 and time.time() < deadline:
            first.after_step()
            second.after_step()
            average, neighbours = second.local_average()
            time.sleep(0.02)
        assert neighbours == 1, "no ready link to average with within 20 s"
        assert isinstance(average, np.ndarray) and average.dtype == np.float32 and average.shape == (2000,)
        # b's values and its copy of a's, half each: inside [0, 4], where both replicas are.
        assert 0.0 <= float(average.min()) and float(average.max()) <= 4.0, (average.min(), average.max())
        out = np.empty(2000, np.float32)
        assert second.local_average(out)[0] is out
        raises(ValueError, "2000", lambda: second.local_average(np.empty(10, np.float32)))
        raises(TypeError, "float32", lambda: second.local_average(np.empty(2000, np.float64)))
        second.leave()
        raises(ConnectionError, "the peer has left", lambda: second.local_average())  # it said "join() first"


def test_a_resized_tensor_is_refused():
    # A tensor has no buffer export to hold: a resize_() that moves its memory
    # must not let the peer write where the tensor was.
    p = peer()
    flat = torch.zeros(1000)
    p.attach(flat)
    flat.resize_(1_000_000)  # a new block; the old one is freed
    raises(RuntimeError, "moved or changed size", lambda: p.join(timeout=10))
    p.leave()
    q = peer()
    kept = torch.zeros(1000)
    q.attach(kept)
    q.join(timeout=10)
    q.after_step()
    kept.set_(torch.zeros(1000))
    raises(RuntimeError, "moved or changed size", q.after_step)
    raises(RuntimeError, "moved or changed size", q.local_average)
    q.leave()


if __name__ == "__main__":
    run_tests(globals())
