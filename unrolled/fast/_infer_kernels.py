"""numba kernels of the fast LRRNet path (:mod:`unrolled.fast.infer`): one LLRR branch streamed over image rows.

A branch (Z_0 = h(C0 * X), then T blocks ``Z = h(lam3 Z + C2 * (X - C1 * Z))``) is evaluated on a vertical strip of
the image, row by row, as a wavefront: at step ``i`` stage 0 computes row ``i`` of Z_0, block ``s`` turns row
``i - 2s`` of Z_{s-1} into Z_s in place, and the decoder convolutions (on Z_T) finish row ``i - 2T - 1``. Every stage
needs only single-channel rows from its neighbours: the residual ``r = X - C1 * Z`` (three rows around the row being
updated) and, for the next stage, the sums of the next K -> 1 convolution.

The inner loop runs over channels, with a block of :data:`~unrolled.fast._simd.LANES` pixels in each vector
register (explicit vectors, :mod:`unrolled.fast._simd`). For one block of a row, the nine shifted residual vectors
(the 3 x 3 taps) are loaded once; then each channel c

* is updated: ``z_c = h_c(lam3 z_c + b_c + sum_tap w[c, tap] r_tap)`` (10 multiply-adds, in two chains of half the
  latency, and the threshold), and
* adds its share to the next convolution: ``A_tap += wn[c, tap] z_c`` for the 9 taps (9 multiply-adds),

where the nine accumulators ``A_tap`` stay in registers for all K channels and the weights are broadcast from memory
(they are packed per channel, so a channel's 21 numbers are adjacent: :func:`unrolled.fast.infer._branch_arrays`).
Per channel and block that is one load and one store of the map, and no other memory traffic. After the channel
loop the accumulators are stored, and the next convolution's three kernel-row sums are assembled from them with the
taps' column shifts: ``q_ky(x) = A_(ky,0)(x - 1) + A_(ky,1)(x) + A_(ky,2)(x + 1)``, the padding columns taken from
the columns they copy (reflected at the image border; at a strip's inner edges the edge column is repeated, which is
wrong there but only within ``2T + 2`` columns of the edge, so strips carry that much overlap: ``unrolled.fast.infer``
chooses them).

Channels are processed in a fixed permuted order, low-rank channels first, and within each part those whose
threshold is >= 0 first: those take the threshold as ``v - clamp(v, -t, t)`` (one ``vrangeps`` and a subtraction on
AVX-512), the others as ``v + sign(v) |t|`` (0 where v is 0): the soft threshold's value in either case, with fewer
operations than its general form and no branch in the loop. After the last block the accumulators restart
between the two parts, which feed the decoder's two convolutions. The maps of a row are stored block by block, a
block's channels adjacent (``z[block, c, lane]``), so the channel loop reads and writes memory in order; only
``2T + 2`` rows of them are alive at any time (a ring buffer), and the whole pass is float32.

Every pixel is computed by the same scalar expression in the same order whatever its lane, block or strip, so strips
and threads change nothing, bit for bit. The kernels are serial and release the GIL: :mod:`unrolled.fast.infer` runs
the (branch, strip, band) tasks on Python threads (compiled kernels are cached on disk).
"""

from __future__ import annotations

import numpy as np

from solvers._jit import nb

from . import _simd as V
from ._stencil import OPTS, reflect

__all__ = ["PACKED", "branch_strip", "fuse_parts"]

#: fastmath without reassociation: the scalar loops then evaluate every sum in the written order, so a pixel's value
#: does not depend on where a strip's edge puts it (strips and threads change nothing).
_FLAGS = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
KOPTS = dict(OPTS, fastmath=_FLAGS)
L = V.LANES
PACKED = 21
"""Numbers per channel and stage in the packed weights: 9 taps of the stage's 1 -> K convolution, its bias, theta,
-theta and the 9 taps of the next K -> 1 convolution (the next block's C1, or the decoder's)."""


@nb.njit(inline="always", **KOPTS)
def _channels(z, zo, W, c0, c1, lam, use_z, clamp, R, A):
    """Channels [c0, c1) of one block (see the module docstring): update each channel's vector of the maps at flat
    offset ``zo + L c`` of ``z`` and add it to the accumulators ``A``; ``R`` the nine residual taps, ``lam`` lam3 in
    every lane, ``use_z`` False in stage 0 (no previous map), ``clamp`` the threshold's clamp form (theta >= 0)."""
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = R
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = A
    for c in range(c0, c1):
        p = PACKED * c
        o = zo + L * c
        v = V.bcast(W, p + 9)
        if use_z:
            v = V.fma(lam, V.load(z, o), v)
        v = V.fma(V.bcast(W, p), r0, v)
        v = V.fma(V.bcast(W, p + 1), r1, v)
        v = V.fma(V.bcast(W, p + 2), r2, v)
        v = V.fma(V.bcast(W, p + 3), r3, v)
        u = V.mul(V.bcast(W, p + 4), r4)  # two chains: half the latency (the loop is limited by it otherwise)
        u = V.fma(V.bcast(W, p + 5), r5, u)
        u = V.fma(V.bcast(W, p + 6), r6, u)
        u = V.fma(V.bcast(W, p + 7), r7, u)
        u = V.fma(V.bcast(W, p + 8), r8, u)
        v = V.add(v, u)
        if clamp:
            v = V.shrink_nonneg(v, V.bcast(W, p + 10), V.bcast(W, p + 11))
        else:
            v = V.shrink_negative(v, V.bcast(W, p + 11))
        V.store(z, o, v)
        a0 = V.fma(V.bcast(W, p + 12), v, a0)
        a1 = V.fma(V.bcast(W, p + 13), v, a1)
        a2 = V.fma(V.bcast(W, p + 14), v, a2)
        a3 = V.fma(V.bcast(W, p + 15), v, a3)
        a4 = V.fma(V.bcast(W, p + 16), v, a4)
        a5 = V.fma(V.bcast(W, p + 17), v, a5)
        a6 = V.fma(V.bcast(W, p + 18), v, a6)
        a7 = V.fma(V.bcast(W, p + 19), v, a7)
        a8 = V.fma(V.bcast(W, p + 20), v, a8)
    return (a0, a1, a2, a3, a4, a5, a6, a7, a8)


@nb.njit(inline="always", **KOPTS)
def _store_taps(P, A, x0, n):
    """Accumulator ``tap`` of the block at column x0 into ``P[tap n + 1 + x0 ...]`` (nine rows of n, padded)."""
    for tap in range(9):
        V.store(P, tap * n + 1 + x0, A[tap])


@nb.njit(inline="always", **KOPTS)
def _stage_row(z, zrow, W, lam3, use_z, ra, rb, rc, nblk, seg, split, P1, P2, n):
    """One row of a stage for every block: maps at flat offset ``zrow`` of ``z``, packed weights ``W`` (K PACKED),
    residual rows ``ra``, ``rb``, ``rc`` (padded by one column). ``seg`` (5,): the channel bounds of the parts [low,
    theta >= 0 | low, theta < 0 | sparse, theta >= 0 | sparse, theta < 0]. The accumulators go to ``P1``; if
    ``split`` (the last stage), those of the sparse part restart and go to ``P2``."""
    K = seg[4]
    zero = V.splat(np.float32(0.0))
    lam = V.splat(lam3)
    for xb in range(nblk):
        x0 = xb * L
        R = (V.load(ra, x0), V.load(ra, x0 + 1), V.load(ra, x0 + 2), V.load(rb, x0), V.load(rb, x0 + 1),
             V.load(rb, x0 + 2), V.load(rc, x0), V.load(rc, x0 + 1), V.load(rc, x0 + 2))
        zo = zrow + xb * K * L
        A = (zero, zero, zero, zero, zero, zero, zero, zero, zero)
        A = _channels(z, zo, W, seg[0], seg[1], lam, use_z, True, R, A)
        A = _channels(z, zo, W, seg[1], seg[2], lam, use_z, False, R, A)
        if split:
            _store_taps(P1, A, x0, n)
            A = (zero, zero, zero, zero, zero, zero, zero, zero, zero)
        A = _channels(z, zo, W, seg[2], seg[3], lam, use_z, True, R, A)
        A = _channels(z, zo, W, seg[3], seg[4], lam, use_z, False, R, A)
        _store_taps(P2 if split else P1, A, x0, n)


@nb.njit(inline="always", **KOPTS)
def _kernel_rows(P, q, ws, left, right, n):
    """``q[ky, x] = P_(ky,0)(x - 1) + P_(ky,1)(x) + P_(ky,2)(x + 1)`` from the stored accumulators (``P[tap n + 1 +
    x]``), after filling their padding columns from strip columns ``left`` and ``right``."""
    for tap in range(9):
        P[tap * n] = P[tap * n + 1 + left]
        P[tap * n + ws + 1] = P[tap * n + 1 + right]
    for ky in range(3):
        a = 3 * ky * n
        for x in range(ws):
            q[ky, x] = P[a + x] + P[a + n + x + 1] + P[a + 2 * n + x + 2]


@nb.njit(inline="always", **KOPTS)
def _pad(row, ws, left, right):
    """Fill the padding columns of a padded row (data at 1 .. ws) from strip columns ``left`` and ``right``."""
    row[0] = row[1 + left]
    row[ws + 1] = row[1 + right]


@nb.njit(inline="always", **KOPTS)
def _residual_row(qa, qb, qc, ws, out, bias, xs, left, right):
    """``out[1 + x] = xs[x] + bias - (qa[0][x] + qb[1][x] + qc[2][x])``, padded: the residual ``X - C1 * Z`` of a
    row from the kernel-row sums of the rows above, at and below (``bias`` = -b1)."""
    a, b, c = qa[0], qb[1], qc[2]
    for x in range(ws):
        out[1 + x] = (bias - (a[x] + b[x] + c[x])) + xs[x]
    _pad(out, ws, left, right)


@nb.njit(**KOPTS)
def branch_strip(X, cols, out_lo, out_hi, W, perm, seg, lam3, b1, bd, parts, keep_maps, maps):
    """Run one branch on one strip. ``X`` (H, Ws): the strip's input; ``cols`` (Ws, 3): neighbour columns (only the
    first column's left and the last column's right neighbour are read: the paddings).

    Weights (float32, :func:`unrolled.fast.infer._branch_arrays`): ``W`` (T + 1, K PACKED), stage by stage, channels
    in the order ``perm`` (K,) with part bounds ``seg`` (5,) (:func:`_stage_row`); ``lam3`` scalar; ``b1`` (T,) the
    biases of the blocks' C1; ``bd`` (2,) the decoder's. Writes columns [out_lo, out_hi) of the strip to ``parts``
    (2, H, out_hi - out_lo) (decoded low-rank and sparse images) and, if ``keep_maps``, Z_T to ``maps``
    (H, out_hi - out_lo, K), channels in their own order.
    """
    H, ws = X.shape
    K = perm.shape[0]
    T = W.shape[0] - 1
    RZ = 2 * T + 2
    left, right = cols[0, 0], cols[ws - 1, 2]
    # the blocks cover wv >= ws columns (no scalar remainder); the extra columns hold finite values nobody reads
    nblk = -(-ws // L)
    wv = nblk * L
    n = wv + 2  # padded rows
    xp = np.zeros((H, n), np.float32)
    for y in range(H):
        xp[y, 1:ws + 1] = X[y]
        _pad(xp[y], ws, left, right)
    zs = nblk * K * L  # one row of the maps
    z = np.zeros(RZ * zs, np.float32)
    q = np.zeros((max(T, 1), 4, 3, wv), np.float32)  # kernel-row sums of the next C1, by row (mod 4)
    r = np.zeros((max(T, 1), 4, n), np.float32)  # residual rows of each block, by row (mod 4)
    dq = np.zeros((4, 2, 3, wv), np.float32)  # kernel-row sums of the decoder's two convolutions
    P1 = np.zeros(9 * n, np.float32)
    P2 = np.zeros(9 * n, np.float32)
    for i in range(H + 2 * T + 1):
        for s in range(T + 1):  # stage s (0: Z_0 = h(C0 * X); s >= 1: block s) on row i - 2s
            y = i - 2 * s
            if y < 0 or y >= H:
                continue
            if s == 0:
                ra, rb, rc = xp[reflect(y - 1, H)], xp[y], xp[reflect(y + 1, H)]
            else:
                qs, rs = q[s - 1], r[s - 1]
                for yy in range(0 if y == 0 else y + 1, min(y + 2, H)):  # the residual rows not made yet
                    _residual_row(qs[reflect(yy - 1, H) & 3], qs[yy & 3], qs[reflect(yy + 1, H) & 3], ws,
                                  rs[yy & 3], -b1[s - 1], X[yy], left, right)
                ra, rb, rc = rs[reflect(y - 1, H) & 3], rs[y & 3], rs[reflect(y + 1, H) & 3]
            zrow = (y % RZ) * zs
            last = s == T
            _stage_row(z, zrow, W[s], lam3, s > 0, ra, rb, rc, nblk, seg, last, P1, P2, n)
            if not last:
                _kernel_rows(P1, q[s, y & 3], ws, left, right, n)
                continue
            _kernel_rows(P1, dq[y & 3, 0], ws, left, right, n)
            _kernel_rows(P2, dq[y & 3, 1], ws, left, right, n)
            if keep_maps:
                for x in range(out_lo, out_hi):
                    o = zrow + (x // L) * K * L + x % L
                    for j in range(K):
                        maps[y, x - out_lo, perm[j]] = z[o + j * L]
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
