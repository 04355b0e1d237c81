"""numba kernels of the fast LRRNet path (:mod:`unrolled.fast`): one LLRR branch streamed over image rows.

A branch (Z_0 = h(C0 * X), then T blocks ``Z = h(lam3 Z + C2 * (X - C1 * Z))``) is evaluated on a vertical strip of
the image, row by row, as a wavefront: at step ``i`` stage 0 computes row ``i`` of Z_0, block ``t`` turns row
``i - 2t`` of Z_{t-1} into Z_t in place, and the decoder convolutions (on Z_T) finish row ``i - 2T - 1``. Every stage
only needs single-channel data from its neighbours:

* after a pixel's K channels of Z_{t-1} are final, its 9 tap products ``q[tap] = <C1 weights[tap], Z_{t-1}>`` are
  taken while the channels are in L1 (K x 9 multiply-adds),
* the residual ``r = X - b1 - sum_tap q[neighbour(tap), tap]`` is one small sum per pixel,
* the update of a pixel's K channels needs only the 9 residuals around it.

So only ``2T + 2`` rows of the K-channel maps are alive at any time (a ring buffer), nothing is padded or copied
(reflection is an index table) and the whole pass is float32. Columns of a strip beyond the image border reflect
as ``nn.ReflectionPad2d`` does; at a strip's inner edges indices are clamped, which is wrong there but only within
``2T + 2`` columns of the edge, so strips carry that much overlap (``unrolled.fast`` chooses them).

The kernels are serial and release the GIL: :mod:`unrolled.fast` runs the (branch, strip) tasks on Python threads,
which schedules them dynamically, needs no numba threading layer and halves the compilation time of a first call
compared with a ``prange`` driver (about 6 s instead of 18 s; compiled kernels are cached on disk).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["branch_strip", "fuse_parts"]

_fast = dict(fastmath=True, cache=True, nogil=True)


@nb.njit(inline="always", **_fast)
def _reflect(i, n):
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


@nb.njit(inline="always", **_fast)
def _shrink(v, t):
    # sign(v) * max(|v| - t, 0) for any sign of t (0 stays 0 even for t < 0)
    a = max(abs(v) - t, np.float32(0.0))
    if v > 0:
        return a
    if v < 0:
        return -a
    return np.float32(0.0)


@nb.njit(inline="always", **_fast)
def _dots(z, w, out, o):
    """``out[o + tap] = sum_c w[tap, c] z[c]`` for the 9 taps (one pass over z, 9 reductions; w may be empty)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = np.float32(0.0)
    for c in range(w.shape[1]):
        v = z[c]
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


@nb.njit(inline="always", **_fast)
def _taps(ra, rb, rc, cols, x):
    """The 3x3 neighbourhood of column x in rows ra, rb, rc (1-D arrays), row-major."""
    c0, c1, c2 = cols[x, 0], cols[x, 1], cols[x, 2]
    return ra[c0], ra[c1], ra[c2], rb[c0], rb[c1], rb[c2], rc[c0], rc[c1], rc[c2]


@nb.njit(inline="always", **_fast)
def _update(zr, w, b, theta, lam3, use_z, t):
    """``zr = h_theta(lam3 zr + b + sum_tap w[tap] t[tap])`` in place (``use_z`` False: without the zr term)."""
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = t
    for c in range(zr.shape[0]):
        v = (b[c] + w[0, c] * t0 + w[1, c] * t1 + w[2, c] * t2 + w[3, c] * t3 + w[4, c] * t4 + w[5, c] * t5
             + w[6, c] * t6 + w[7, c] * t7 + w[8, c] * t8)
        if use_z:
            v += lam3 * zr[c]
        zr[c] = _shrink(v, theta[c])


@nb.njit(inline="always", **_fast)
def _next_dots(z, t, T, w1, wdl, wds, q, dq, slot, x):
    """The tap products of a final pixel: for block t + 1's C1, or the decoder's two convolutions after block T."""
    if t < T:
        _dots(z, w1[t], q[t, slot, x], 0)
    else:
        n = wdl.shape[1]
        _dots(z[:n], wdl, dq[slot, x], 0)
        _dots(z[n:], wds, dq[slot, x], 9)


@nb.njit(inline="always", **_fast)
def _residual_row(X, y, H, t, b1, q, r, cols):
    """Row y of r_t = X - C1 * Z_{t-1}, from the tap products q_t of rows y-1..y+1."""
    Ws = X.shape[1]
    ra = _reflect(y - 1, H) & 3
    rb = y & 3
    rc = _reflect(y + 1, H) & 3
    out = r[t - 1, y & 3]
    for x in range(Ws):
        s = np.float32(0.0)
        for k in range(3):
            cx = cols[x, k]
            s += q[t - 1, ra, cx, k] + q[t - 1, rb, cx, 3 + k] + q[t - 1, rc, cx, 6 + k]
        out[x] = X[y, x] - b1[t - 1] - s


@nb.njit(**_fast)
def branch_strip(X, cols, out_lo, out_hi, w0, b0, theta, lam3, w1, b1, w2, b2, wdl, wds, bd, parts, keep_maps, maps):
    """Run one branch on one strip. ``X`` (H, Ws): the strip's input; ``cols`` (Ws, 3): neighbour columns.

    Weights (float32): ``w0`` (9, K), ``b0`` (K,), ``theta`` (K,), ``lam3`` scalar, ``w1`` (T, 9, K), ``b1`` (T,),
    ``w2`` (T, 9, K), ``b2`` (T, K), ``wdl`` (9, n) and ``wds`` (9, K - n) the decoder's weights on the low-rank
    (first n) and sparse channels, ``bd`` (2,) their biases. Writes columns [out_lo, out_hi) of the strip to
    ``parts`` (2, H, out_hi - out_lo) (decoded low-rank and sparse images) and, if ``keep_maps``, Z_T to ``maps``
    (H, out_hi - out_lo, K).
    """
    H, Ws = X.shape
    K = w0.shape[1]
    T = w1.shape[0]
    RZ = 2 * T + 2
    z = np.empty((RZ, Ws, K), np.float32)
    q = np.empty((max(T, 1), 4, Ws, 9), np.float32)
    r = np.empty((max(T, 1), 4, Ws), np.float32)
    dq = np.empty((4, Ws, 18), np.float32)
    zero = np.float32(0.0)
    for i in range(H + 2 * T + 1):
        y = i
        if y < H:  # stage 0: Z_0 = h(C0 * X)
            ya, yc = _reflect(y - 1, H), _reflect(y + 1, H)
            for x in range(Ws):
                zr = z[y % RZ, x]
                _update(zr, w0, b0, theta, lam3, False, _taps(X[ya], X[y], X[yc], cols, x))
                if T == 0 and keep_maps and out_lo <= x < out_hi:
                    maps[y, x - out_lo] = zr
                _next_dots(zr, 0, T, w1, wdl, wds, q, dq, y & 3, x)
        for t in range(1, T + 1):  # block t: row y of Z_{t-1} -> Z_t
            y = i - 2 * t
            if y < 0 or y >= H:
                continue
            if y == 0:
                _residual_row(X, 0, H, t, b1, q, r, cols)
            if y + 1 < H:
                _residual_row(X, y + 1, H, t, b1, q, r, cols)
            ra = r[t - 1, _reflect(y - 1, H) & 3]
            rb = r[t - 1, y & 3]
            rc = r[t - 1, _reflect(y + 1, H) & 3]
            w2t = w2[t - 1]
            b2t = b2[t - 1]
            for x in range(Ws):
                zr = z[y % RZ, x]
                _update(zr, w2t, b2t, theta, lam3, True, _taps(ra, rb, rc, cols, x))
                if t == T and keep_maps and out_lo <= x < out_hi:
                    maps[y, x - out_lo] = zr
                _next_dots(zr, t, T, w1, wdl, wds, q, dq, y & 3, x)
        y = i - 2 * T - 1
        if 0 <= y < H:  # decoder convolutions on Z_T
            sa, sb, sc = _reflect(y - 1, H) & 3, y & 3, _reflect(y + 1, H) & 3
            for x in range(out_lo, out_hi):
                lo = zero
                hi = zero
                for k in range(3):
                    cx = cols[x, k]
                    lo += dq[sa, cx, k] + dq[sb, cx, 3 + k] + dq[sc, cx, 6 + k]
                    hi += dq[sa, cx, 9 + k] + dq[sb, cx, 12 + k] + dq[sc, cx, 15 + k]
                parts[0, y, x - out_lo] = lo + bd[0]
                parts[1, y, x - out_lo] = hi + bd[1]


@nb.njit(**_fast)
def fuse_parts(parts, w_low, w_sparse, bias, out, y0, y1):
    """Rows [y0, y1) of ``out = fuse_low(ir_low, vi_low) + fuse_sparse(ir_sparse, vi_sparse)``: 3x3 reflect-padded
    convolutions of the part images ``parts`` (2 branches, 2 parts, H, W); ``w_*`` (C, 9) over C = 2 inputs ("cat")
    or 1 (the branches' sum, "add"); ``bias`` the sum of both biases."""
    _, _, H, W = parts.shape
    C = w_low.shape[0]
    for y in range(y0, y1):
        for x in range(W):
            s = bias
            for ky in range(3):
                yy = _reflect(y + ky - 1, H)
                for kx in range(3):
                    xx = _reflect(x + kx - 1, W)
                    tap = 3 * ky + kx
                    if C == 2:
                        s += (w_low[0, tap] * parts[0, 0, yy, xx] + w_low[1, tap] * parts[1, 0, yy, xx]
                              + w_sparse[0, tap] * parts[0, 1, yy, xx] + w_sparse[1, tap] * parts[1, 1, yy, xx])
                    else:
                        s += (w_low[0, tap] * (parts[0, 0, yy, xx] + parts[1, 0, yy, xx])
                              + w_sparse[0, tap] * (parts[0, 1, yy, xx] + parts[1, 1, yy, xx]))
            out[y, x] = s
