"""Fused dense kernel shared by Algorithm 1 and ISTA/FISTA: one affine map followed by a threshold."""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["affine_threshold", "PARALLEL_MIN_SIZE"]

# Below this many entries the threshold runs on one thread (see affine_threshold's Notes).
PARALLEL_MIN_SIZE = 1 << 20


def affine_threshold(H, Z, B, theta, out) -> np.ndarray:
    """``out = h_theta(B + H @ Z)`` with a per-row threshold ``theta``.

    One BLAS matrix product into ``out``, then one parallel numba pass that adds ``B`` and thresholds in place
    (the addition and the threshold never materialise a temporary). ``out`` must not share memory with ``Z``; all
    arrays C-contiguous and of one dtype; ``theta`` has one entry per row (0 leaves a row unthresholded: the soft
    threshold with theta = 0 is exactly the identity).

    Notes
    -----
    Column-blocked variants (product and threshold of one cache-sized block at a time) were measured slower here:
    numpy's matmul does not hand strided column blocks to BLAS. Small arrays use the single-threaded kernel: right
    after a BLAS call, OpenBLAS's worker threads still spin, and numba's parallel threads fighting them made a
    64 x 2000 step about 100x slower on 2 cores.
    """
    np.matmul(H, Z, out=out)
    if out.size >= PARALLEL_MIN_SIZE:
        _kernels.add_soft_threshold_rows(out, B, theta, out)
    else:
        _kernels.add_soft_threshold_rows_serial(out, B, theta, out)
    return out
