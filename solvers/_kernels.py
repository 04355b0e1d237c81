"""numba kernels. Each has a numpy reference in :mod:`solvers.prox`; tests check they agree exactly."""

from __future__ import annotations

import numba as nb

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
