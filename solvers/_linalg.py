"""Fused dense kernels shared by Algorithm 1 and ISTA/FISTA: one affine map followed by a threshold."""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["affine_threshold", "DEFAULT_CHUNK"]

# Columns per block: with 128 atoms a float32 block of 2048 columns is 1 MiB, so the product, the addition of B and
# the threshold of one block run while it is still in cache.
DEFAULT_CHUNK = 2048


def affine_threshold(H, Z, B, theta, out, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """``out = h_theta(B + H @ Z)`` with a per-row threshold ``theta``, block of columns by block of columns.

    ``out`` must not share memory with ``Z``. All arrays C-contiguous, same dtype; ``theta`` has one entry per row
    (0 leaves a row unthresholded: the soft threshold with theta = 0 is exactly the identity).
    """
    n = Z.shape[1]
    for c0 in range(0, n, chunk):
        sl = slice(c0, min(c0 + chunk, n))
        o = out[:, sl]
        np.matmul(H, Z[:, sl], out=o)
        _kernels.add_soft_threshold_rows(o, B[:, sl], theta, o)
    return out
