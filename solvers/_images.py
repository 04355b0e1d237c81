"""The one image reader of the project, and its one convention (Pillow is imported only when a file is read).

* :func:`read_image` reads a file at the precision it holds: uint8 (grey or RGB), uint16 (16-bit grey), float32
  (float TIFF). Fusion (:func:`llrr.fuse`) starts from it.
* An image's value on [0, 1] is ``v / 255`` for uint8 and ``v / 65535`` for uint16 (:func:`unit_scale`); the
  *8-bit scale* [0, 255] that the metrics and the training data use is 255 times that, so a 16-bit value v is
  ``v / 257`` there.
* Colour becomes grey by ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B (:func:`luminance`); for uint8 with
  Pillow's integer rounding (its "L" conversion, exactly), so that a colour file and the same colour array give the
  same grey image.
* :func:`read_grey` is a file as grey on the 8-bit scale: uint8 for 8-bit files, float32 for 16-bit ones. Float
  files have no fixed scale and are refused there.

Used by :mod:`llrr.io` (which re-exports :func:`read_image`), :mod:`llrr.fuse`, the metrics
(:mod:`llrr.metrics`), :mod:`llrr.evaluate`, the training data (:mod:`unrolled.training.data`) and the learned
solver's data (:mod:`unrolled.learned_solver`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["image_size", "luminance", "read_grey", "read_image", "unit_scale"]

_LUMA = np.array([0.299, 0.587, 0.114])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_image(path) -> np.ndarray:
    """An image file as an array, at the precision the file holds.

    Returns
    -------
    ndarray
        uint8 (H, W) grey or (H, W, 3) RGB for 8-bit files (palette images: grey if the palette is, else RGB;
        alpha channels dropped); uint16 (H, W) for 16-bit grey PNG/TIFF (and 32-bit integer files whose values fit
        in 16 bits); float32 (H, W) for 32-bit float TIFFs ("F" mode), values as stored.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is empty, truncated, not an image Pillow can read, or holds integers outside 0..65535; the message
        names the file.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), not an image")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16)
            if mode in ("I", "F"):
                a = np.asarray(im)
            elif mode in ("L", "1", "LA", "La"):
                return np.asarray(im.convert("L"))
            else:  # RGB, RGBA, P, CMYK, YCbCr, ...: 8-bit RGB (alpha dropped)
                a = np.asarray(im.convert("RGB"))
                if mode in ("P", "PA") and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
                    return np.ascontiguousarray(a[..., 0])
                return a
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError: OSError
        raise ValueError(f"{path}: not a readable image ({_first_line(exc)})") from None
    if mode == "F":
        return a.astype(np.float32)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ValueError(f"{path}: 32-bit integer image with values in [{a.min()}, {a.max()}]; llrr reads 8-bit, "
                         "16-bit (0..65535) and float images")
    return a.astype(np.uint16)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) image (a 4th, alpha channel is dropped): uint8 in, uint8 out, rounded as Pillow's
    "L" conversion (``(19595 R + 38470 G + 7471 B + 2**15) >> 16``); any other type in, float64 out.

    Examples
    --------
    >>> luminance(np.array([[[255, 0, 0], [10, 200, 30]]], np.uint8))
    array([[ 76, 124]], dtype=uint8)
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"luminance needs an (H, W, 3) image, got shape {a.shape}")
    if a.dtype == np.uint8:
        r, g, b = (a[..., i].astype(np.uint32) for i in range(3))
        return ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16).astype(np.uint8)
    return a[..., :3].astype(np.float64) @ _LUMA


def unit_scale(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An image on [0, 1] as float64: uint8 / 255, uint16 / 65535; float arrays are checked to be finite and to lie
    in [0, 1] and returned as float64. Errors name the image by ``name``."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a / 255.0
    if a.dtype == np.uint16:
        return a / 65535.0
    if a.dtype.kind != "f":
        raise TypeError(f"{name} must be a uint8, uint16 or float image, got dtype {a.dtype}")
    x = a.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains non-finite values (NaN or Inf)")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(f"{name}: float images must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]; "
                         "scale them, or pass uint8/uint16 arrays")
    return x


def read_grey(path) -> np.ndarray:
    """A file as a grey image on the 8-bit scale [0, 255]: uint8 for 8-bit files (colour to :func:`luminance`),
    float32 ``v / 257`` for 16-bit ones. Float files (no fixed scale) are refused, naming the file."""
    a = read_image(path)
    if a.dtype == np.float32:
        raise ValueError(f"{path}: a float image has no fixed [0, 255] scale; convert it to 8- or 16-bit")
    if a.ndim == 3:
        return luminance(a)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(257.0)
    return a


def image_size(path) -> tuple[int, int]:
    """(width, height) of an image file from its header (no pixels read); ValueError naming the file if Pillow
    cannot read it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable image ({_first_line(exc)})") from None
