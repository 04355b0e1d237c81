"""numba primitives of the fast training kernels (:mod:`unrolled.fast._train_kernels`), one of them (``reflect``)
also used by the inference kernels (:mod:`unrolled.fast._infer_kernels`): reflection at the borders, the soft
threshold, and the three shapes a 3x3 single-output / many-channel convolution takes when it is computed per pixel
(the training kernels keep a pixel's channels contiguous; the inference kernels hold a block of pixels in a vector
register instead, :mod:`unrolled.fast._simd`, and test their thresholds against :func:`shrink`).

Conventions: a pixel's channels are contiguous (``z[c]``); a 3x3 kernel on K channels is stored as (9, K), taps
row-major (``tap = 3 ky + kx``); ``cols`` (W, 3) holds each column's left, own and right neighbour after reflection
(:func:`reflect_table`), and a neighbourhood's three rows are passed as three 1-D or 2-D row arrays, so that a kernel
picks its rows once per image row (a ring buffer or a reflection table). ``zero`` is a zero of the maps' dtype: the
primitives are generic over float32 and float64 and never promote. All are inlined into their callers.
"""

from __future__ import annotations

import numpy as np

from solvers._jit import nb

__all__ = ["OPTS", "dots", "gather", "reflect", "reflect_table", "shrink", "taps", "tap_sum"]

OPTS = dict(fastmath=True, cache=True, nogil=True)


def reflect_table(n: int) -> np.ndarray:
    """(n, 3) indices of each position's previous, own and next neighbour, reflected at the borders as
    ``nn.ReflectionPad2d(1)`` does (needs n >= 2)."""
    g = np.arange(n)[:, None] + np.arange(-1, 2)[None, :]
    return np.ascontiguousarray(np.where(g < 0, -g, np.where(g >= n, 2 * n - 2 - g, g)), dtype=np.int64)


@nb.njit(inline="always", **OPTS)
def reflect(i, n):
    """Index ``i`` reflected into [0, n) (one reflection: -1 -> 1, n -> n - 2)."""
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


@nb.njit(inline="always", **OPTS)
def shrink(v, t, zero):
    """Soft threshold ``sign(v) max(|v| - t, 0)`` for any sign of t (0 stays 0, also for t < 0)."""
    a = max(abs(v) - t, zero)
    if v > zero:
        return a
    if v < zero:
        return -a
    return zero


@nb.njit(inline="always", **OPTS)
def taps(ra, rb, rc, cols, x):
    """The 3x3 neighbourhood of column x in the rows ra, rb, rc (1-D), row-major."""
    c0, c1, c2 = cols[x, 0], cols[x, 1], cols[x, 2]
    return ra[c0], ra[c1], ra[c2], rb[c0], rb[c1], rb[c2], rc[c0], rc[c1], rc[c2]


@nb.njit(inline="always", **OPTS)
def tap_sum(w, c, t):
    """``sum_tap w[tap, c] t[tap]``: channel c of a 1 -> K convolution at a pixel whose neighbourhood is ``t``."""
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = t
    return (w[0, c] * t0 + w[1, c] * t1 + w[2, c] * t2 + w[3, c] * t3 + w[4, c] * t4 + w[5, c] * t5
            + w[6, c] * t6 + w[7, c] * t7 + w[8, c] * t8)


@nb.njit(inline="always", **OPTS)
def dots(z, w, out, o, zero, theta, thresholded):
    """``out[o + tap] = sum_c w[tap, c] v[c]`` for the 9 taps, ``v = shrink(z, theta)`` if ``thresholded`` else z:
    a pixel's share of a K -> 1 convolution (one pass over z, 9 reductions; ``w`` may have no channels)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = zero
    for c in range(w.shape[1]):
        v = shrink(z[c], theta[c], zero) if thresholded else z[c]
        s0 += w[0, c] * v
        s1 += w[1, c] * v
        s2 += w[2, c] * v
        s3 += w[3, c] * v
        s4 += w[4, c] * v
        s5 += w[5, c] * v
        s6 += w[6, c] * v
        s7 += w[7, c] * v
        s8 += w[8, c] * v
    out[o] = s0
    out[o + 1] = s1
    out[o + 2] = s2
    out[o + 3] = s3
    out[o + 4] = s4
    out[o + 5] = s5
    out[o + 6] = s6
    out[o + 7] = s7
    out[o + 8] = s8


@nb.njit(inline="always", **OPTS)
def gather(qa, qb, qc, cols, x, o):
    """``sum_tap q[neighbour_tap(x), o + tap]`` over the rows qa, qb, qc (each (W, taps)): the output at column x of
    a K -> 1 convolution whose per-pixel tap products (:func:`dots`) are stored in q."""
    c0, c1, c2 = cols[x, 0], cols[x, 1], cols[x, 2]
    s = qa[c0, o] + qa[c1, o + 1] + qa[c2, o + 2]
    s += qb[c0, o + 3] + qb[c1, o + 4] + qb[c2, o + 5]
    s += qc[c0, o + 6] + qc[c1, o + 7] + qc[c2, o + 8]
    return s
