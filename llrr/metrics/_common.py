"""Input handling shared by the metrics: 8-bit grey arrays (or files), as the reference code reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solvers._images import luminance, read_grey

__all__ = ["as_uint8_grey", "check_triplet"]


def as_uint8_grey(image, name: str) -> np.ndarray:
    """An 8-bit grey image from an array or a file path.

    uint8 arrays are used as they are; uint16 arrays are scaled to 8 bits (value / 257, rounded); float arrays must
    hold values in [0, 255] and are rounded. Colour (H, W, 3) images are scored on their luminance (ITU-R 601,
    as Pillow's "L" conversion).
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: image file not found: {path}")
        image = read_grey(path)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = luminance(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a grey (H, W) or colour (H, W, 3) image, got shape {a.shape}")
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


def check_triplet(fused, ir, vi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f, a, b = as_uint8_grey(fused, "fused"), as_uint8_grey(ir, "ir"), as_uint8_grey(vi, "vi")
    if not (f.shape == a.shape == b.shape):
        raise ValueError(f"fused, ir and vi must have the same shape, got {f.shape}, {a.shape} and {b.shape}")
    return f, a, b
