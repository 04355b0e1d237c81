"""Fused dense kernel shared by Algorithm 1 and ISTA/FISTA: one affine map followed by a threshold; the sgemm
throughput that every timing in the project is reported beside."""

from __future__ import annotations

import numpy as np

from . import _kernels

__all__ = ["affine_threshold", "SMALL", "sgemm_gflops"]

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


def sgemm_gflops(n: int = 2048, repeat: int = 5) -> float:
    """Single-precision n x n matrix multiply throughput of this machine, GFLOP/s (median of ``repeat`` after a
    warm-up). Machines of one kind differ (200 and 63 GFLOP/s have been measured for the same code), so timings are
    reported beside this figure, measured in the same run."""
    import time

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t)
    return 2.0 * n**3 / float(np.median(times)) / 1e9
