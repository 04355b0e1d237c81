"""Fused dense kernel shared by Algorithm 1 and ISTA/FISTA: one affine map followed by a threshold."""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["affine_threshold", "SMALL"]

# Arrays with fewer entries are thresholded by numpy: starting the parallel kernel costs more than the work.
SMALL = 1 << 14


def affine_threshold(H, Z, B, theta, out) -> np.ndarray:
    """``out = h_theta(B + H @ Z)`` with a per-row threshold ``theta``.

    One BLAS matrix product into ``out``, then one parallel numba pass that adds ``B`` and thresholds in place
    (the addition and the threshold never materialise a temporary). ``out`` must not share memory with ``Z``; all
    arrays C-contiguous and of one dtype; ``theta`` has one entry per row (0 leaves a row unthresholded: the soft
    threshold with theta = 0 is exactly the identity).

    Notes
    -----
    Column-blocked variants (product and threshold of one cache-sized block at a time) were measured slower here:
    numpy's matmul does not hand strided column blocks to BLAS. Right after the BLAS call numba's threads must not
    fight OpenBLAS's: see the threading note in :mod:`solvers._kernels`.
    """
    np.matmul(H, Z, out=out)
    if out.size >= SMALL:
        _kernels.add_soft_threshold_rows(out, B, theta, out)
    else:  # launching threads costs more than the work
        out += B
        out[...] = np.sign(out) * np.maximum(np.abs(out) - theta[:, None], out.dtype.type(0))
    return out
