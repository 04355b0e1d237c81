"""Files for training outputs and weights: atomic writes (a temporary file beside the target, then a rename onto it)
and safe reading of torch files (``weights_only``: nothing in a file can run code).

The torch-free helpers (:func:`~solvers._files.atomic_path`, :func:`~solvers._files.atomic_write_text`,
:func:`~solvers._files.sha256_file`) live once in :mod:`solvers._files`, the lowest layer, and are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

from solvers._files import atomic_path, atomic_write_text, sha256_file

__all__ = ["atomic_target", "atomic_write_text", "atomic_torch_save", "safe_torch_load", "sha256_file"]


atomic_target = atomic_path
"""Alias of :func:`solvers._files.atomic_path` (the name this package's modules use)."""


def atomic_torch_save(obj, path) -> Path:
    """``torch.save(obj, path)`` atomically (flushed to disk before the rename); returns ``path``."""
    import torch

    with atomic_target(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def safe_torch_load(path, what: str = "a PyTorch state_dict file"):
    """``torch.load(path, weights_only=True)`` on the CPU, with a one-line ValueError naming ``path`` and the problem.

    ``weights_only`` unpickles tensors and plain containers only: a file whose pickle would call a function (run
    code) is refused without running it.
    """
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on pickle protocols: the error below says enough
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "Weights only load failed" in text:
            detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
            why = detail[0].strip() if detail and "WeightsUnpickler error:" in text else "not a plain tensor pickle"
            raise ValueError(f"{path} is not {what} llrr can load safely: torch.load(weights_only=True) refused it "
                             f"({why}); a file that needs more than tensors to unpickle could run code, and is not "
                             "loaded") from None
        first = " ".join(text.split()) or type(exc).__name__
        raise ValueError(f"{path} is not {what} torch.load can read ({first[:300]})") from None
