"""PyTorch helpers for starling (docs/embedding.md)."""

import torch


def flatten_parameters(module):
    """Move a module's parameters into one contiguous float32 buffer and return it.

    Every parameter becomes a view into the buffer (same Parameter objects,
    so an optimizer made before or after keeps working); the buffer records
    the shapes (flat._starling_shapes) that Peer.attach() turns into the
    model id. Parameters must be float32 and on the CPU."""
    params = [p for p in module.parameters()]
    if not params:
        raise ValueError("flatten_parameters(): the module has no parameters")
    for p in params:
        if p.dtype != torch.float32 or p.device.type != "cpu":
            raise TypeError(f"flatten_parameters(): parameters must be float32 on the CPU, got {p.dtype} on {p.device}")
    total = sum(p.numel() for p in params)
    flat = torch.empty(total, dtype=torch.float32)
    shapes = []
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            flat[offset:offset + n].copy_(p.data.reshape(-1))
            p.data = flat[offset:offset + n].view_as(p)
            shapes.append(list(p.shape))
            offset += n
    flat._starling_shapes = shapes
    return flat
