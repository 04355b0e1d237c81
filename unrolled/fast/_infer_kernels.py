"""numba kernels of the fast LRRNet path (:mod:`unrolled.fast.infer`): one LLRR branch streamed over image rows.

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
``2T + 2`` columns of the edge, so strips carry that much overlap (``unrolled.fast.infer`` chooses them).

The kernels are serial and release the GIL: :mod:`unrolled.fast.infer` runs the (branch, strip) tasks on Python threads,
which schedules them dynamically, needs no numba threading layer and halves the compilation time of a first call
compared with a ``prange`` driver (about 6 s instead of 18 s; compiled kernels are cached on disk).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._stencil import OPTS, dots, gather, reflect, shrink, tap_sum, taps

__all__ = ["branch_strip", "fuse_parts"]

_ZERO = np.float32(0.0)


@nb.njit(inline="always", **OPTS)
def _update(zr, w, b, theta, lam3, use_z, t):
    """``zr = h_theta(lam3 zr + b + sum_tap w[tap] t[tap])`` in place (``use_z`` False: without the zr term)."""
    for c in range(zr.shape[0]):
        v = b[c] + tap_sum(w, c, t)
        if use_z:
            v += lam3 * zr[c]
        zr[c] = shrink(v, theta[c], _ZERO)


@nb.njit(inline="always", **OPTS)
def _next_dots(z, t, T, w1, wdl, wds, q, dq, slot, x):
    """The tap products of a final pixel: for block t + 1's C1, or the decoder's two convolutions after block T."""
    # (plain dots of final values: the theta argument, z here, is not read)
    if t < T:
        dots(z, w1[t], q[t, slot, x], 0, _ZERO, z, False)
    else:
        n = wdl.shape[1]
        dots(z[:n], wdl, dq[slot, x], 0, _ZERO, z, False)
        dots(z[n:], wds, dq[slot, x], 9, _ZERO, z, False)


@nb.njit(inline="always", **OPTS)
def _residual_row(X, y, H, t, b1, q, r, cols):
    """Row y of r_t = X - C1 * Z_{t-1}, from the tap products q_t of rows y-1..y+1."""
    qt = q[t - 1]
    qa, qb, qc = qt[reflect(y - 1, H) & 3], qt[y & 3], qt[reflect(y + 1, H) & 3]
    out = r[t - 1, y & 3]
    xs = X[y]
    b = b1[t - 1]
    for x in range(X.shape[1]):
        out[x] = xs[x] - b - gather(qa, qb, qc, cols, x, 0)


@nb.njit(**OPTS)
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
    for i in range(H + 2 * T + 1):
        y = i
        if y < H:  # stage 0: Z_0 = h(C0 * X)
            xa, xb, xc = X[reflect(y - 1, H)], X[y], X[reflect(y + 1, H)]
            for x in range(Ws):
                zr = z[y % RZ, x]
                _update(zr, w0, b0, theta, lam3, False, taps(xa, xb, xc, cols, x))
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
            ra = r[t - 1, reflect(y - 1, H) & 3]
            rb = r[t - 1, y & 3]
            rc = r[t - 1, reflect(y + 1, H) & 3]
            w2t = w2[t - 1]
            b2t = b2[t - 1]
            for x in range(Ws):
                zr = z[y % RZ, x]
                _update(zr, w2t, b2t, theta, lam3, True, taps(ra, rb, rc, cols, x))
                if t == T and keep_maps and out_lo <= x < out_hi:
                    maps[y, x - out_lo] = zr
                _next_dots(zr, t, T, w1, wdl, wds, q, dq, y & 3, x)
        y = i - 2 * T - 1
        if 0 <= y < H:  # decoder convolutions on Z_T
            qa, qb, qc = dq[reflect(y - 1, H) & 3], dq[y & 3], dq[reflect(y + 1, H) & 3]
            for x in range(out_lo, out_hi):
                parts[0, y, x - out_lo] = gather(qa, qb, qc, cols, x, 0) + bd[0]
                parts[1, y, x - out_lo] = gather(qa, qb, qc, cols, x, 9) + bd[1]


@nb.njit(**OPTS)
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
                yy = reflect(y + ky - 1, H)
                for kx in range(3):
                    xx = reflect(x + kx - 1, W)
                    tap = 3 * ky + kx
                    if C == 2:
                        s += (w_low[0, tap] * parts[0, 0, yy, xx] + w_low[1, tap] * parts[1, 0, yy, xx]
                              + w_sparse[0, tap] * parts[0, 1, yy, xx] + w_sparse[1, tap] * parts[1, 1, yy, xx])
                    else:
                        s += (w_low[0, tap] * (parts[0, 0, yy, xx] + parts[1, 0, yy, xx])
                              + w_sparse[0, tap] * (parts[0, 1, yy, xx] + parts[1, 1, yy, xx]))
            out[y, x] = s
