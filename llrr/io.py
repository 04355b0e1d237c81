"""Image input/output for the application: grey loading, the bundled demo pair, atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["DEMO_IR", "DEMO_VI", "demo_pair", "load_grey", "atomic_path", "save_figure"]

_DATA = resources.files("llrr") / "data"
DEMO_IR = Path(str(_DATA / "demo_ir.png"))
DEMO_VI = Path(str(_DATA / "demo_vi.png"))


def demo_pair() -> tuple[Path, Path]:
    """Paths of the bundled TNO demo pair (infrared, visible); attribution in ``llrr/data/ATTRIBUTION.md``."""
    return DEMO_IR, DEMO_VI


def load_grey(path) -> np.ndarray:
    """Read an image file as a float64 grey array in its own value range (0..255 for 8-bit, 0..65535 for 16-bit).

    Colour images are converted to luminance (ITU-R 601 weights, as Pillow's "L" mode).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(im, dtype=np.float64)
            return np.asarray(im.convert("L"), dtype=np.float64)
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path} is not an image Pillow can read") from exc


@contextmanager
def atomic_path(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    Nothing already at ``path`` is lost or half-written if writing fails. The file gets the usual permissions
    (0o666 less the umask), not mkstemp's private 0o600.
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


def save_figure(fig, path, *, dpi: int = 100) -> Path:
    """Save a matplotlib figure to ``path`` atomically (format from the suffix, PNG without one); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return path
