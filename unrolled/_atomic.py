"""Files for training outputs and weights: atomic writes (a temporary file beside the target, then a rename onto it)
and safe reading of torch files (``weights_only``: nothing in a file can run code).

(:func:`llrr.io.atomic_path` does the same for the application; :mod:`unrolled` does not import :mod:`llrr`.)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_target", "atomic_write_text", "atomic_torch_save", "safe_torch_load", "sha256_file"]


@contextmanager
def atomic_target(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it onto ``path``, on error delete it.

    A reader (or a killed run) sees either the old file or the complete new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix or path.suffix, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


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


def sha256_file(path) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB chunks (weights, checkpoints, sidecars)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
