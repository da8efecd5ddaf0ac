"""starling: join a starling swarm from your own training loop.

    import starling, starling.torch
    flat = starling.torch.flatten_parameters(model)   # one float32 buffer, the module's parameters are views
    with starling.Peer(listen="127.0.0.1:7000", seeds=["127.0.0.1:7001"]) as peer:
        peer.attach(flat)          # zero-copy; join() copies the swarm's model INTO it
        peer.join()
        for x, y in batches:
            ...; optimizer.step()
            peer.after_step()      # consensus corrections in, parameters out to the gossip

Settings are the keys of `starling peer`'s flags (listen, seeds, swarm_key,
data_dir, compress, gamma, clip, neighbours, max_links, round_steps, mixing,
gossip_interval, max_upload, download_precision, profile, identity) plus
join_timeout (seconds) and download (bool). download_precision="bf16" halves
the join's download for a buffer of weights only (default "f32", bit for bit).
See docs/embedding.md.
"""

from . import _arguments
from ._starling import _Peer, model_id as _model_id

__all__ = ["Peer", "model_id"]


def model_id(shapes, name="model"):
    """The hash peers compare before linking: from a name and tensor shapes."""
    return _model_id(_arguments.name(name, "model_id()"), _arguments.shapes(shapes, "model_id()"))


def _is_torch_tensor(obj):
    return type(obj).__module__.startswith("torch") and hasattr(obj, "data_ptr") and hasattr(obj, "is_contiguous")


class Peer:
    """A member of a starling swarm whose model is a flat float32 buffer you train."""

    def __init__(self, listen=None, seeds=(), swarm_key=None, data_dir=None, compress=None,
                 join_timeout=None, config=None, **flags):
        if isinstance(seeds, str):
            seeds = [seeds]
        settings = []
        if config is not None:
            settings.append(("config", str(config)))  # a TOML file with these keys; arguments win
        if listen is not None or config is None:
            settings.append(("listen", str(listen if listen is not None else "127.0.0.1:0")))
        settings += [("seed", str(s)) for s in seeds]
        if swarm_key is not None:
            settings.append(("swarm-key", str(swarm_key)))
        if data_dir is not None:
            settings.append(("data-dir", str(data_dir)))
        if compress is not None:
            settings.append(("compress", str(compress)))
        if join_timeout is not None:
            settings.append(("join-timeout", str(_arguments.timeout_ms(join_timeout, "join_timeout", "Peer()"))))
        for key, value in flags.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            settings.append((key.replace("_", "-"), str(value)))
        self._peer = _Peer(settings)
        self._buffer = None  # kept alive: the peer writes into it until leave()
        self._tensor = None  # an attached torch tensor, and where its memory was at attach()
        self._tensor_at = None

    def attach(self, flat, shapes=None, name="model"):
        """Attach the flat parameters: a contiguous float32 CPU torch tensor or numpy array (no copy).

        shapes: the tensors' shapes in buffer order (default: what
        starling.torch.flatten_parameters recorded, else one tensor), each a list of
        whole sizes of at least 1 whose products add up to the buffer's size (anything
        else is refused: TypeError or ValueError); peers link only when name and shapes match."""
        if shapes is None:
            shapes = getattr(flat, "_starling_shapes", None)
        if shapes is not None:
            shapes = _arguments.shapes(shapes, "attach()")
        name = _arguments.name(name, "attach()")
        if _is_torch_tensor(flat):
            import torch
            if flat.dtype != torch.float32:
                raise TypeError(f"attach(): the tensor must be float32, not {flat.dtype}")
            if flat.device.type != "cpu":
                raise ValueError(f"attach(): the tensor must live on the CPU, not {flat.device}")
            if not flat.is_contiguous():
                raise ValueError("attach(): the tensor must be contiguous; call .contiguous() on it (a copy) "
                                 "or use starling.torch.flatten_parameters")
            count = flat.numel()
            if shapes is None:
                shapes = [[count]]
            self._peer._attach_pointer(flat.data_ptr(), count, shapes, name)
            # A tensor has no buffer export to hold: resize_()/set_() can move its memory. Every
            # call that touches the buffer checks it is still where attach() found it.
            self._tensor = flat
            self._tensor_at = (flat.data_ptr(), count)
        else:
            # The C++ side holds the buffer export until leave(): the owner cannot resize or
            # free the memory meanwhile (array.array.extend, bytearray resizes raise BufferError).
            _arguments.buffer(flat, "the buffer", "attach()")
            if shapes is None:
                shapes = [[int(memoryview(flat).nbytes // 4)]]
            self._peer._attach_buffer(flat, shapes, name)
        self._buffer = flat
        return self

    def _check_tensor(self, call):
        t = self._tensor
        if t is not None and (t.data_ptr(), t.numel()) != self._tensor_at:
            raise RuntimeError(f"{call}: the attached tensor's memory moved or changed size since attach() "
                               "(resize_(), set_() or a storage swap): the peer cannot follow it; keep the "
                               "attached tensor as it is until leave()")

    def join(self, timeout=None):
        """Listen, join through the seeds and download the swarm's model into the buffer.

        Raises TimeoutError (no seed answered / nothing served in time) or
        ValueError (the swarm trains another model). timeout in seconds
        (default: the join_timeout setting, 60 s): more than 0, at most 86400."""
        self._check_tensor("join()")
        self._peer.join(0 if timeout is None else _arguments.timeout_ms(timeout, "timeout", "join()"))

    def after_step(self):
        """Call after each optimizer step: applies consensus corrections, publishes at the node's pacing."""
        if self._tensor is not None:
            self._check_tensor("after_step()")
        self._peer.after_step()

    def buffer_replacements(self):
        """How many times a whole model was copied into the buffer: the swarm's at join (when one
        was downloaded) and a neighbour's at each recovery from NaN. The optimizer's state belongs
        to the values before: when this number changes across after_step(), reset it (for
        torch.optim: optimizer.state.clear()). Cheap enough to read every step."""
        return self._peer.buffer_replacements()

    def status(self):
        """A dict: state, address, joined, members, trains, downloaded, steps, corrections_applied,
        consensus_distance, bytes_sent, gossip_bytes_sent, neighbours, ... A membership-only
        peer (nothing attached) has the membership keys only, and trains False."""
        return self._peer.status()

    def local_average(self, out=None):
        """The model to export or evaluate: your parameters averaged with the neighbours' copies the
        links hold (what `starling peer` writes to its final checkpoint). Call from the training
        thread, between steps. Returns (out, neighbours): out a new float32 buffer like the attached
        one (torch tensor or numpy array) unless given; neighbours 0 means out holds your own
        parameters (no ready link)."""
        flat = self._buffer
        if flat is None:
            raise ValueError("local_average(): attach() a buffer first")
        if _is_torch_tensor(flat):
            import torch
            self._check_tensor("local_average()")
            if out is None:
                out = torch.empty_like(flat)
            if (not _is_torch_tensor(out) or out.dtype != torch.float32 or out.device.type != "cpu"
                    or not out.is_contiguous()):
                raise ValueError("local_average(): out must be a contiguous float32 CPU tensor")
            neighbours = self._peer._local_average_pointer(out.data_ptr(), out.numel())
        else:
            if out is None:
                import numpy
                out = numpy.empty(memoryview(flat).nbytes // 4, dtype=numpy.float32)
            neighbours = self._peer._local_average_buffer(_arguments.buffer(out, "out", "local_average()"))
        return out, neighbours

    def leave(self):
        """Leave the swarm gracefully (bounded: the profile's leave timeout + 2 s). Idempotent.

        Afterwards the buffer is not touched: its export is released (it may be resized again)."""
        self._peer.leave()
        self._tensor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.leave()
        return False
