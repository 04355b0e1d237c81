"""numba kernels. Each has a numpy reference in :mod:`solvers.prox`; tests check they agree exactly.

Threading: unless the user chose one (environment variable ``NUMBA_THREADING_LAYER``), numba's parallel kernels run
on its "workqueue" layer. With the default OpenMP layer, libgomp's spin-waiting threads and OpenBLAS's threads fight
over the cores between a matrix product and the threshold that follows it (measured on 2 cores: the fused
add-and-threshold of a 128 x 62,001 float32 array took 5.8 ms right after the product instead of 2.0 ms; a 32 x 2000
one 8 ms instead of 0.4 ms). The workqueue layer does not allow parallel kernels launched concurrently from several
Python threads; set ``NUMBA_THREADING_LAYER=omp`` (or tbb) for that.
"""

from __future__ import annotations

import os

import numpy as np

from ._jit import nb

if "NUMBA_THREADING_LAYER" not in os.environ:
    nb.config.THREADING_LAYER = "workqueue"

__all__ = ["soft_threshold_scalar", "soft_threshold_rows", "soft_threshold_elementwise", "add_soft_threshold_rows"]

_opts = dict(parallel=True, fastmath=False, cache=True, nogil=True)


@nb.njit(inline="always")
def _shrink(v, t):
    # sign(v) * max(|v| - t, 0) exactly as the numpy reference computes it, for any sign of t; NaN propagates
    # (sign(NaN) = NaN) and v == 0 gives 0 even for t < 0.
    a = abs(v) - t
    if a < 0:
        a = a - a  # a zero of a's own type (float32 stays float32)
    if v > 0:
        return a
    if v < 0:
        return -a
    return v * a  # 0 * finite -> 0; NaN -> NaN


@nb.njit(**_opts)
def soft_threshold_scalar(x, theta, out):  # pragma: no cover - compiled
    """``out = sign(x) * max(|x| - theta, 0)`` on 1-D contiguous arrays, scalar ``theta``."""
    n = x.shape[0]
    for i in nb.prange(n):
        out[i] = _shrink(x[i], theta)


@nb.njit(**_opts)
def soft_threshold_rows(x, theta, out):  # pragma: no cover - compiled
    """Per-row threshold on 2-D arrays: row ``i`` shrinks by ``theta[i]``."""
    m, n = x.shape
    for i in nb.prange(m):
        t = theta[i]
        for j in range(n):
            out[i, j] = _shrink(x[i, j], t)


@nb.njit(**_opts)
def soft_threshold_elementwise(x, theta, out):  # pragma: no cover - compiled
    """Elementwise threshold on 1-D arrays of equal length."""
    for i in nb.prange(x.shape[0]):
        out[i] = _shrink(x[i], theta[i])


@nb.njit(**_opts)
def add_soft_threshold_rows(y, b, theta, out):  # pragma: no cover - compiled
    """``out = h_theta(y + b)`` per row on 2-D (possibly column-sliced) arrays; ``out`` may be ``y``."""
    m, n = y.shape
    for i in nb.prange(m):
        t = theta[i]
        for j in range(n):
            out[i, j] = _shrink(y[i, j] + b[i, j], t)


@nb.njit(parallel=True, cache=True, nogil=True)
def cd_sweep(G, Bt, theta, Zt, Rt, done, zsq, colobj, patch_tol):  # pragma: no cover - compiled
    """One cyclic coordinate-descent sweep on every unfinished column (rows of the transposed arrays).

    Minimises ``1/2 z^T G z - b^T z + sum_j theta_j |z_j|`` per column (G symmetric, positive diagonal), keeping
    ``Rt[i] = Bt[i] - G Zt[i]`` up to date. A column whose sweep changes it by at most ``patch_tol`` relatively
    (``||dz|| <= patch_tol ||z||``; with 0 only a sweep that moves nothing, the exact minimiser) is marked done.
    Per column it caches ``zsq[i] = ||z||^2`` and ``colobj[i] = -1/2 z^T (b + r) + sum_j theta_j |z_j|``.
    Returns the sum of squared changes and the sum of squared norms before the sweep.
    """
    n, K = Zt.shape
    dsq = 0.0
    prevsq = 0.0
    for i in nb.prange(n):
        prevsq += zsq[i]
        if done[i]:
            continue
        z = Zt[i]
        r = Rt[i]
        changed = 0.0
        for j in range(K):
            zj = z[j]
            gjj = G[j, j]
            u = r[j] + gjj * zj
            z[j] = _shrink(u, theta[j]) / gjj
            d = z[j] - zj  # the change actually stored (rounded to z's dtype)
            if d != 0.0:
                g = G[j]
                for k in range(K):
                    r[k] -= d * g[k]
                changed += d * d
        if changed == 0.0:
            done[i] = True
        else:
            dsq += changed
            s = 0.0
            o = 0.0
            b = Bt[i]
            for k in range(K):
                s += z[k] * z[k]
                o += -0.5 * z[k] * (b[k] + r[k]) + theta[k] * abs(z[k])
            if changed <= patch_tol * patch_tol * s:
                done[i] = True
            zsq[i] = s
            colobj[i] = o
    return dsq, prevsq


@nb.njit(parallel=True, cache=True, nogil=True)
def momentum(z_new, z_prev, beta, y):  # pragma: no cover - compiled
    """FISTA's extrapolation ``y = z_new + beta (z_new - z_prev)`` in one pass (1-D contiguous arrays)."""
    for i in nb.prange(z_new.shape[0]):
        a = z_new[i]
        y[i] = a + beta * (a - z_prev[i])


@nb.njit(parallel=True, cache=True, nogil=True)
def restart_inner(y, z_new, z_prev):  # pragma: no cover - compiled
    """``<y - z_new, z_new - z_prev>`` accumulated in float64 without temporaries (1-D contiguous arrays)."""
    acc = 0.0
    for i in nb.prange(y.shape[0]):
        a = z_new[i]
        acc += (np.float64(y[i]) - a) * (np.float64(a) - z_prev[i])
    return acc


@nb.njit(parallel=True, cache=True, nogil=True)
def change_norms(new, old):  # pragma: no cover - compiled
    """``(||new - old||^2, ||old||^2)`` in float64 in one pass (1-D contiguous arrays); NaN/Inf in ``new`` makes
    the first entry non-finite."""
    d = 0.0
    o = 0.0
    for i in nb.prange(new.shape[0]):
        b = np.float64(old[i])
        a = np.float64(new[i]) - b
        d += a * a
        o += b * b
    return d, o
