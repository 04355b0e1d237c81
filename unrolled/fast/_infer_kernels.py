"""numba kernels of the fast LRRNet path (:mod:`unrolled.fast.infer`): one LLRR branch streamed over image rows.

A branch (Z_0 = h(C0 * X), then T blocks ``Z = h(lam3 Z + C2 * (X - C1 * Z))``) is evaluated on a vertical strip of
the image, row by row, as a wavefront: at step ``i`` stage 0 computes row ``i`` of Z_0, block ``t`` turns row
``i - 2t`` of Z_{t-1} into Z_t in place, and the decoder convolutions (on Z_T) finish row ``i - 2T - 1``. Every stage
only needs single-channel data from its neighbours:

* once a row of one channel of Z_{t-1} is final, its share of the next K -> 1 convolution is added to three
  single-channel rows, one per kernel row: ``Q[ky](x) += sum_kx w1[ky, kx] Z(x + kx - 1)`` (9 multiply-adds a
  pixel and channel, while the channel's row is in L1);
* the residual ``r(y) = X(y) - b1 - Q_{y-1}[0] - Q_y[1] - Q_{y+1}[2]`` is three additions per pixel;
* the update of a row of channel c needs only the three residual rows around it.

Layout: a row of the K-channel maps is stored channel by channel, ``z[c, 1 + x]``, with one column of padding on
each side, so that every inner loop runs along x over contiguous floats with the channel's weights held in
registers; the loops vectorise across pixels and need no horizontal sums (the previous channels-last layout
vectorised across channels and reduced 9 sums per pixel). The paddings hold each row's left and right neighbour
columns: reflected as ``nn.ReflectionPad2d`` does at the image border; at a strip's inner edges the edge column is
repeated, which is wrong there but only within ``2T + 2`` columns of the edge, so strips carry that much overlap
(``unrolled.fast.infer`` chooses them). Only ``2T + 2`` rows of the maps are alive at any time (a ring buffer),
and the whole pass is float32.

The kernels are serial and release the GIL: :mod:`unrolled.fast.infer` runs the (branch, strip) tasks on Python threads,
which schedules them dynamically and needs no numba threading layer (compiled kernels are cached on disk).
"""

from __future__ import annotations

import numpy as np

from solvers._jit import nb

from ._stencil import OPTS, reflect, shrink

__all__ = ["branch_strip", "fuse_parts"]

_ZERO = np.float32(0.0)
#: fastmath without reassociation: the vectorised loop and its scalar remainder then evaluate every sum in the written
#: order, so a pixel's value does not depend on where a strip's edge puts it (strips and threads change nothing).
_FLAGS = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
KOPTS = dict(OPTS, fastmath=_FLAGS)
_VECTOR = 16  # floats in a 512-bit vector (a multiple of every narrower one)


@nb.njit(inline="always", **KOPTS)
def _pad(row, ws, left, right):
    """Fill the padding columns of a padded row (data at 1 .. ws) from strip columns ``left`` and ``right``."""
    row[0] = row[1 + left]
    row[ws + 1] = row[1 + right]


@nb.njit(inline="always", **KOPTS)
def _update_channel(z, w, c, bc, tc, lam3, use_z, nonneg, ra, rb, rc, wv):
    """Row of channel c: ``z[c, 1 + x] = h_tc(lam3 z[c, 1 + x] + bc + sum_tap w[tap, c] r_tap(x))`` (``use_z``
    False: without the z term); ``ra``, ``rb``, ``rc`` the padded rows above, at and below. ``nonneg`` (tc >= 0): the
    threshold as ``v - clamp(v, -tc, tc)``, the same value with fewer operations than :func:`shrink`."""
    w0, w1, w2, w3, w4, w5 = w[0, c], w[1, c], w[2, c], w[3, c], w[4, c], w[5, c]
    w6, w7, w8 = w[6, c], w[7, c], w[8, c]
    nt = -tc
    if use_z and nonneg:
        for x in range(wv):
            v = (bc + lam3 * z[c, x + 1] + w0 * ra[x] + w1 * ra[x + 1] + w2 * ra[x + 2] + w3 * rb[x] + w4 * rb[x + 1]
                 + w5 * rb[x + 2] + w6 * rc[x] + w7 * rc[x + 1] + w8 * rc[x + 2])
            z[c, x + 1] = v - min(max(v, nt), tc)
    elif use_z:
        for x in range(wv):
            v = (bc + lam3 * z[c, x + 1] + w0 * ra[x] + w1 * ra[x + 1] + w2 * ra[x + 2] + w3 * rb[x] + w4 * rb[x + 1]
                 + w5 * rb[x + 2] + w6 * rc[x] + w7 * rc[x + 1] + w8 * rc[x + 2])
            z[c, x + 1] = shrink(v, tc, _ZERO)
    elif nonneg:
        for x in range(wv):
            v = (bc + w0 * ra[x] + w1 * ra[x + 1] + w2 * ra[x + 2] + w3 * rb[x] + w4 * rb[x + 1] + w5 * rb[x + 2]
                 + w6 * rc[x] + w7 * rc[x + 1] + w8 * rc[x + 2])
            z[c, x + 1] = v - min(max(v, nt), tc)
    else:
        for x in range(wv):
            v = (bc + w0 * ra[x] + w1 * ra[x + 1] + w2 * ra[x + 2] + w3 * rb[x] + w4 * rb[x + 1] + w5 * rb[x + 2]
                 + w6 * rc[x] + w7 * rc[x + 1] + w8 * rc[x + 2])
            z[c, x + 1] = shrink(v, tc, _ZERO)


@nb.njit(inline="always", **KOPTS)
def _dots(z, cz, w, c, qa, qb, qc, wv):
    """Add the share of row ``z[cz]`` (padded) to the three kernel-row sums of a K -> 1 convolution whose weights
    for it are ``w[:, c]``: ``q_ky[x] += sum_kx w[3 ky + kx, c] z[cz, x + kx]``."""
    d0, d1, d2, d3, d4, d5 = w[0, c], w[1, c], w[2, c], w[3, c], w[4, c], w[5, c]
    d6, d7, d8 = w[6, c], w[7, c], w[8, c]
    for x in range(wv):
        z0 = z[cz, x]
        z1 = z[cz, x + 1]
        z2 = z[cz, x + 2]
        qa[x] += d0 * z0 + d1 * z1 + d2 * z2
        qb[x] += d3 * z0 + d4 * z1 + d5 * z2
        qc[x] += d6 * z0 + d7 * z1 + d8 * z2


@nb.njit(inline="always", **KOPTS)
def _stage_row(z, w, b, theta, lam3, use_z, ra, rb, rc, ws, wv, left, right, wn, qn, last, wdl, wds, dql,
               dqs, keep, maps, y, out_lo, out_hi):
    """One row of Z_t for every channel (in place in ``z``, (K, wv + 2)), each channel's row padded and its share of
    the next convolution taken while it is in L1: block t + 1's C1 (``wn``, sums ``qn`` (3, wv)), or if ``last``
    the decoder's two convolutions on the first n (``wdl`` (9, n), sums ``dql``) and the other channels (``wds``,
    ``dqs``). The sums are cleared first. Each channel's threshold takes the clamp form where its theta is >= 0
    (:func:`_update_channel`), the general :func:`shrink` elsewhere. Every view is made once per row, not per
    channel (numba counts references to the parent array when it makes a view, with atomic operations that cost as
    much as a short row's products).
    """
    qa, qb, qc = qn[0], qn[1], qn[2]
    la, lb, lc = dql[0], dql[1], dql[2]
    sa, sb, sc = dqs[0], dqs[1], dqs[2]
    nd = wdl.shape[1]
    if not last:
        qn[:, :] = 0.0
    else:
        dql[:, :] = 0.0
        dqs[:, :] = 0.0
    K = z.shape[0]
    for c in range(K):
        _update_channel(z, w, c, b[c], theta[c], lam3, use_z, theta[c] >= 0, ra, rb, rc, wv)
        z[c, 0] = z[c, 1 + left]  # the paddings (no view of the row: see above)
        z[c, ws + 1] = z[c, 1 + right]
        if not last:
            _dots(z, c, wn, c, qa, qb, qc, wv)
        elif c < nd:
            _dots(z, c, wdl, c, la, lb, lc, wv)
        elif c - nd < wds.shape[1]:
            _dots(z, c, wds, c - nd, sa, sb, sc, wv)
    if keep:
        for x in range(out_lo, out_hi):
            for c in range(K):
                maps[y, x - out_lo, c] = z[c, x + 1]


@nb.njit(inline="always", **KOPTS)
def _three_rows(qa, qb, qc, ws, out, off, bias):
    """``out[off + x] = bias - qa[0][x] - qb[1][x] - qc[2][x]``: a K -> 1 convolution's output row from the
    kernel-row sums of the rows above, at and below (negated, as the residual needs it)."""
    a, b, c = qa[0], qb[1], qc[2]
    for x in range(ws):
        out[off + x] = bias - (a[x] + b[x] + c[x])


@nb.njit(**KOPTS)
def branch_strip(X, cols, out_lo, out_hi, w0, b0, theta, lam3, w1, b1, w2, b2, wdl, wds, bd, parts, keep_maps, maps):
    """Run one branch on one strip. ``X`` (H, Ws): the strip's input; ``cols`` (Ws, 3): neighbour columns (only the
    first column's left and the last column's right neighbour are read: the paddings).

    Weights (float32): ``w0`` (9, K), ``b0`` (K,), ``theta`` (K,), ``lam3`` scalar, ``w1`` (T, 9, K), ``b1`` (T,),
    ``w2`` (T, 9, K), ``b2`` (T, K), ``wdl`` (9, n) and ``wds`` (9, K - n) the decoder's weights on the low-rank
    (first n) and sparse channels, ``bd`` (2,) their biases. Writes columns [out_lo, out_hi) of the strip to
    ``parts`` (2, H, out_hi - out_lo) (decoded low-rank and sparse images) and, if ``keep_maps``, Z_T to ``maps``
    (H, out_hi - out_lo, K).
    """
    H, ws = X.shape
    K = w0.shape[1]
    T = w1.shape[0]
    RZ = 2 * T + 2
    left, right = cols[0, 0], cols[ws - 1, 2]
    # the update and product loops run over wv >= ws columns, a whole number of vectors (no scalar remainder: it
    # would cost as much as the vectors of a narrow strip); the extra columns hold finite values nobody reads
    wv = -(-ws // _VECTOR) * _VECTOR
    xp = np.zeros((H, wv + 2), np.float32)
    for y in range(H):
        xp[y, 1:ws + 1] = X[y]
        _pad(xp[y], ws, left, right)
    z = np.zeros((RZ, K, wv + 2), np.float32)
    q = np.zeros((max(T, 1), 4, 3, wv), np.float32)
    r = np.zeros((max(T, 1), 4, wv + 2), np.float32)
    dq = np.zeros((4, 2, 3, wv), np.float32)
    for i in range(H + 2 * T + 1):
        y = i
        if y < H:  # stage 0: Z_0 = h(C0 * X)
            _stage_row(z[y % RZ], w0, b0, theta, lam3, False, xp[reflect(y - 1, H)], xp[y],
                       xp[reflect(y + 1, H)], ws, wv, left, right, w1[0] if T else wdl, q[0, y & 3], T == 0,
                       wdl, wds, dq[y & 3, 0], dq[y & 3, 1], keep_maps and T == 0, maps, y, out_lo, out_hi)
        for t in range(1, T + 1):  # block t: row y of Z_{t-1} -> Z_t
            y = i - 2 * t
            if y < 0 or y >= H:
                continue
            qt = q[t - 1]
            for yy in range(0 if y == 0 else y + 1, min(y + 2, H)):  # the residual rows not made yet: y + 1 (and 0)
                row = r[t - 1, yy & 3]
                _three_rows(qt[reflect(yy - 1, H) & 3], qt[yy & 3], qt[reflect(yy + 1, H) & 3], ws, row, 1,
                            -b1[t - 1])
                xs = X[yy]
                for x in range(ws):
                    row[x + 1] += xs[x]
                _pad(row, ws, left, right)
            _stage_row(z[y % RZ], w2[t - 1], b2[t - 1], theta, lam3, True, r[t - 1, reflect(y - 1, H) & 3],
                       r[t - 1, y & 3], r[t - 1, reflect(y + 1, H) & 3], ws, wv, left, right, w1[min(t, T - 1)],
                       q[min(t, T - 1), y & 3], t == T, wdl, wds, dq[y & 3, 0], dq[y & 3, 1],
                       keep_maps and t == T, maps, y, out_lo, out_hi)
        y = i - 2 * T - 1
        if 0 <= y < H:  # decoder convolutions on Z_T
            qa, qb, qc = dq[reflect(y - 1, H) & 3], dq[y & 3], dq[reflect(y + 1, H) & 3]
            for p in range(2):
                a, b, c = qa[p, 0], qb[p, 1], qc[p, 2]
                out = parts[p, y]
                bias = bd[p]
                for x in range(out_lo, out_hi):
                    out[x - out_lo] = a[x] + b[x] + c[x] + bias


@nb.njit(**KOPTS)
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
