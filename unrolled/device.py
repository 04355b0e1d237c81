"""Where the eager modules run: the ``device`` and ``precision`` options of inference and training.

``device``: None or "cpu" (the default: the CPU, where the fast numba paths run), "cuda" / "cuda:N" (an NVIDIA GPU
through torch; the eager modules, since the fast paths are CPU kernels), or any other torch device string ("mps").
``precision``: "float32" (default) or "bfloat16", the latter through ``torch.autocast`` (convolutions and matrix
products in bfloat16, reductions and the loss in float32), on any device; it also takes the eager path.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

__all__ = ["PRECISIONS", "resolve_device", "process_device", "check_precision", "autocast", "fast_allowed"]

PRECISIONS = ("float32", "bfloat16")


def resolve_device(device) -> torch.device:
    """The torch.device for ``device`` (None: the CPU), checked to be usable here.

    Raises
    ------
    ValueError
        An unknown device string, or a GPU this machine does not have (named, with what it has).
    """
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or another torch device, got {device!r} ({exc})") \
            from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine (torch.cuda.is_available() "
                             "is False; this torch build or machine has no usable NVIDIA GPU); use device 'cpu'")
        if dev.index is None:  # the current GPU, by its index: set_device and comparisons need one
            dev = torch.device("cuda", torch.cuda.current_device())
        if dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r}: MPS is not available on this machine; use device 'cpu'")
    return dev


def process_device(device, local_rank: int, local_world: int) -> torch.device:
    """The device of one of ``local_world`` processes on a machine (torchrun): "cuda" means ``cuda:local_rank``; an
    explicit "cuda:N" would put every process on one GPU, so it is refused when there are several."""
    if device == "cuda" and local_world > 1:
        return resolve_device(f"cuda:{local_rank}")
    dev = torch.device(device) if isinstance(device, str) and device.startswith("cuda:") else None
    if dev is not None and local_world > 1:
        raise ValueError(f"device {device!r} with {local_world} processes on this machine would put them all on one "
                         "GPU: give 'cuda', and each process takes cuda:LOCAL_RANK")
    return resolve_device(device)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str):
    """``torch.autocast`` to bfloat16 on ``device`` for "bfloat16", else a context that does nothing."""
    if check_precision(precision) == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def fast_allowed(device: torch.device, precision: str) -> str | None:
    """None where the fast (numba, CPU, float32) paths may run, else the reason they may not."""
    if device.type != "cpu":
        return f"device {device} (the fast paths are CPU kernels)"
    if precision != "float32":
        return f"precision {precision} (the fast paths compute in float32)"
    return None
