"""Image input/output for the application: one image reader and writer, the bundled demo pair, atomic writes.

:func:`read_image` keeps what a file holds: 8-bit grey or colour as uint8, 16-bit grey (PNG, TIFF) as uint16,
32-bit float TIFFs as float32; palette images become grey (an all-grey palette) or RGB, alpha is dropped. A file
that is empty, truncated or not an image is a ValueError naming it. :func:`write_image` keeps the precision of what
it is given (16-bit PNG/TIFF for uint16, float32 TIFF for float) and writes atomically.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from solvers._files import atomic_path
from solvers._images import luminance, read_image

__all__ = ["DEMO_IR", "DEMO_VI", "demo_pair", "read_image", "write_image", "load_grey", "atomic_path",
           "save_figure"]

_DATA = resources.files("llrr") / "data"
DEMO_IR = Path(str(_DATA / "demo_ir.png"))
DEMO_VI = Path(str(_DATA / "demo_vi.png"))


def demo_pair() -> tuple[Path, Path]:
    """Paths of the bundled TNO demo pair (infrared, visible); attribution in ``llrr/data/ATTRIBUTION.md``."""
    return DEMO_IR, DEMO_VI


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (whitespace runs collapsed), for command-line errors and reports."""
    return " ".join(str(exc).split()) or type(exc).__name__


_EXTENSIONS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
_HIGH_DEPTH = ("PNG", "TIFF")  # formats that hold 16-bit grey


def write_image(image: np.ndarray, path) -> Path:
    """Write an image atomically (nothing at ``path`` is lost or half-written if it fails), keeping its precision.

    uint8 grey or RGB: any format. uint16 grey: 16-bit PNG or TIFF. float grey in [0, 1]: float32 TIFF, 16-bit PNG
    (``round(65535 x)``), 8 bits in JPEG/BMP. float RGB in [0, 1]: 8 bits (Pillow writes no deeper colour). The
    format comes from the suffix (.png, .tif/.tiff, .jpg/.jpeg, .bmp; PNG for any other).

    Raises
    ------
    ValueError
        A 16-bit image for a format that holds 8 bits only, 16-bit colour, or an array that is not an image.
    """
    from PIL import Image

    path = Path(path)
    fmt = _EXTENSIONS.get(path.suffix.lower(), "PNG")
    a = np.asarray(image)
    colour = a.ndim == 3 and a.shape[2] == 3
    if not (a.ndim == 2 or colour) or a.dtype.kind not in "uf" or (a.dtype.kind == "u" and a.itemsize > 2):
        raise ValueError(f"cannot write {path}: expected a uint8, uint16 or float (H, W) or (H, W, 3) image, got "
                         f"{a.dtype} of shape {a.shape}")
    if a.dtype.kind == "f":
        a = np.clip(a, 0.0, 1.0)
        if fmt == "TIFF" and not colour:
            a = a.astype(np.float32)
        elif fmt == "PNG" and not colour:
            a = np.round(a * 65535.0).astype(np.uint16)
        else:
            a = np.round(a * 255.0).astype(np.uint8)
    if a.dtype == np.uint16:
        if colour:
            raise ValueError(f"cannot write {path}: 16-bit colour images are not supported (Pillow writes 16-bit "
                             "grey only); convert to uint8 or fuse a grey visible image")
        if fmt not in _HIGH_DEPTH:
            raise ValueError(f"cannot write {path}: {fmt} holds 8 bits and the image is 16-bit; write .png or .tif")
    with atomic_path(path) as tmp:
        Image.fromarray(a).save(tmp, format=fmt)
    return path


def load_grey(path) -> np.ndarray:
    """Read an image file as a float64 grey array in its own value range (0..255 for 8-bit, 0..65535 for 16-bit,
    as stored for float TIFFs). Colour images are converted to luminance (:func:`solvers._images.luminance`: ITU-R
    601 weights, rounded as Pillow's "L" mode).
    """
    a = read_image(path)
    return (luminance(a) if a.ndim == 3 else a).astype(np.float64)


def save_figure(fig, path, *, dpi: int = 100) -> Path:
    """Save a matplotlib figure to ``path`` atomically (format from the suffix, PNG without one); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return path
