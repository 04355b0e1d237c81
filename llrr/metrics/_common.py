"""Input handling shared by the metrics: 8-bit arrays (or files), as the reference codes read them.

The "paper" and "standard" profiles score grey images (:func:`as_uint8_grey`, :func:`check_triplet`); the "vifb"
profile scores the images with the channels they have, as MATLAB's ``imread`` gives them
(:func:`as_uint8_image`, :func:`check_channels`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import numpy as np

from solvers._images import luminance, read_grey, read_image

__all__ = ["as_uint8_grey", "as_uint8_image", "check_triplet", "check_channels", "source_memo", "clear_caches"]

_MEMOS: list = []  # every source_memo, for clear_caches


def _to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    """uint8 as it is, uint16 / 257 rounded, floats in [0, 255] rounded; anything else is an error naming ``name``."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return np.round(a / 257.0).astype(np.uint8)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 255:
        raise ValueError(f"{name} must hold finite values in [0, 255], got range [{a.min()}, {a.max()}]")
    return np.round(a).astype(np.uint8)


def _file(image, name: str) -> Path | None:
    if not isinstance(image, (str, Path)):
        return None
    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: image file not found: {path}")
    return path


def as_uint8_grey(image, name: str) -> np.ndarray:
    """An 8-bit grey image from an array or a file path.

    uint8 arrays are used as they are; uint16 arrays are scaled to 8 bits (value / 257, rounded); float arrays must
    hold values in [0, 255] and are rounded. Colour (H, W, 3) images are scored on their luminance (ITU-R 601,
    as Pillow's "L" conversion).
    """
    path = _file(image, name)
    a = np.asarray(read_grey(path) if path is not None else image)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = luminance(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a grey (H, W) or colour (H, W, 3) image, got shape {a.shape}")
    return _to_uint8(a, name)


def as_uint8_image(image, name: str) -> np.ndarray:
    """An 8-bit image with its channels, grey (H, W) or colour (H, W, 3), from an array or a file path.

    Files are read as MATLAB's ``imread`` reads them (:func:`solvers._images.read_image`): a grey file gives
    (H, W), a colour one (H, W, 3), whatever its content (a colour JPEG of a grey scene keeps three channels).
    The value types are converted as in :func:`as_uint8_grey`; colour is kept. An alpha channel is dropped.
    """
    path = _file(image, name)
    a = np.asarray(read_image(path) if path is not None else image)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"{name} must be a grey (H, W) or colour (H, W, 3) image, got shape {a.shape}")
    if a.dtype.kind == "f" and path is not None:
        raise ValueError(f"{path}: a float image has no fixed [0, 255] scale; convert it to 8- or 16-bit")
    return _to_uint8(a, name)


def check_triplet(fused, ir, vi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f, a, b = as_uint8_grey(fused, "fused"), as_uint8_grey(ir, "ir"), as_uint8_grey(vi, "vi")
    if not (f.shape == a.shape == b.shape):
        raise ValueError(f"fused, ir and vi must have the same shape, got {f.shape}, {a.shape} and {b.shape}")
    return f, a, b


def check_channels(fused, ir, vi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`as_uint8_image` of the three images, which must have the same height and width (each may be grey or
    colour)."""
    f, a, b = as_uint8_image(fused, "fused"), as_uint8_image(ir, "ir"), as_uint8_image(vi, "vi")
    if not (f.shape[:2] == a.shape[:2] == b.shape[:2]):
        raise ValueError(f"fused, ir and vi must have the same height and width, got shapes {f.shape}, {a.shape} "
                         f"and {b.shape}")
    return f, a, b


def source_memo(fn: Callable | None = None, size: int = 12) -> Callable:
    """Memoise ``fn(image, *args)`` on the image's content (shape, dtype and a hash of its bytes) and the other
    (hashable) arguments, for the last ``size`` calls.

    The metrics use it for the work that depends on one source image only (its pyramid, local moments, gradients):
    scoring many fused images against the same pair (methods side by side, ``llrr evaluate``, ``llrr benchmark``)
    then does that work once per source, and the values are exactly those of a fresh computation. Arrays in the
    result (also inside tuples, lists and dicts) are made read-only, so a caller cannot change the memo's arrays (the
    memoised functions return tuples, whose items cannot be replaced either). ``cache_clear()`` empties it. Usable
    as ``@source_memo`` or ``@source_memo(size=...)``; thread-safe.
    """
    if fn is None:
        return lambda f: source_memo(f, size=size)
    cache: OrderedDict = OrderedDict()
    lock = threading.Lock()

    def _freeze(value):
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        elif isinstance(value, (tuple, list)):
            for item in value:
                _freeze(item)
        elif isinstance(value, dict):
            for item in value.values():
                _freeze(item)

    @wraps(fn)
    def memoised(image: np.ndarray, *args):
        a = np.ascontiguousarray(image)
        key = (a.shape, a.dtype.str, hashlib.blake2b(a.data, digest_size=16).digest(), args)
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = fn(a, *args)
        _freeze(value)
        with lock:
            cache[key] = value
            while len(cache) > size:
                cache.popitem(last=False)
        return value

    def cache_clear() -> None:
        with lock:
            cache.clear()

    memoised.cache_clear = cache_clear
    memoised.cache_len = lambda: len(cache)
    _MEMOS.append(memoised)
    return memoised


def clear_caches() -> None:
    """Empty the metrics' memos of image work (every :func:`source_memo` and VIF's pyramids), e.g. to free memory
    after scoring large images (the small filters kept per image shape stay). Scores never depend on it."""
    for memo in _MEMOS:
        memo.cache_clear()
    from .vif import _cached_bands

    _cached_bands.cache_clear()
