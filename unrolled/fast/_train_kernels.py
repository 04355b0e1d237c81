r"""numba kernels of the fast LRRNet training step (:mod:`unrolled.fast.train`): one LLRR branch of one image,
forward and backward, on channels-last maps.

A branch with its two decoder convolutions, for one image X (H, W) and K = 2n coefficient channels:

.. math::

    P_0 = b_0 + w_0 \star X, \qquad Z_t = h_\theta(P_t), \qquad
    r_t = X - b_{1,t} - w_{1,t} \star Z_{t-1}, \qquad P_t = \lambda_3 Z_{t-1} + b_{2,t} + w_{2,t} \star r_t,

and the decoded parts ``low = bd_0 + wd[:, :n] * Z_T[:n]``, ``sparse = bd_1 + wd[:, n:] * Z_T[n:]``; every
``\star`` is a 3x3 correlation of the reflection-padded input (padding 1), ``h`` the soft threshold
``sign(v) max(|v| - theta, 0)``.

:func:`branch_forward` stores the pre-threshold maps P_0 .. P_T (each Z is recomputed from its P where needed, one
``h`` per value) and the single-channel residuals r_t. :func:`branch_backward` then walks the levels t = T .. 0
once each; at a pixel of level t it

* completes ``G_t = dL/dZ_t = lam3 dP_{t+1} + w' \star^T D`` with the adjoint of the convolution that follows level t
  (the next block's C1 or the decoder), whose single-channel upstream gradient has already been scattered through the
  reflection into ``D[p, tap]`` (so the adjoint is a gather: ``sum_tap w'[tap, c] D[p, tap]``, and that
  convolution's weight gradient is ``sum_p Z_t[p, c] D[p, tap]``);
* takes ``dP_t = G_t [P_t != 0] [|P_t| - theta >= 0]`` (the derivative torch's autograd gives the formula, also at
  its kinks) and the gradients of theta, lam3, the bias and the weights of the convolution producing P_t, and the
  9 tap sums ``E[p, tap] = sum_c w[tap, c] dP_t[p, c]``;
* after the whole level, scatters E through the reflection into dr_t (or into dX at level 0) and dr_t into the next
  level's D.

Every loop over channels is contiguous (channels-last) and vectorised by LLVM, which needs two things the code is
shaped for: a loop writes one array (LLVM proves arrays apart by runtime checks, and gives up beyond a few of them or
on two rows of one array), and it starts at 0 (a loop from a runtime start keeps numba's negative-index wraparound;
channel ranges are slices instead). Sums over pixels run in the maps' dtype along a row and are flushed into float64
totals after each row. Kernels are serial, generic over float32 / float64 and release the GIL:
:mod:`unrolled.fast.train` runs one (branch, image) per task on Python threads.
"""

from __future__ import annotations

import numpy as np

from solvers._jit import nb

from ._stencil import OPTS, dots, gather, reflect_table, shrink, tap_sum, taps

__all__ = ["branch_forward", "branch_backward", "reflect_table"]

@nb.njit(inline="always", **OPTS)
def _next_dots(p, theta, level, T, w1, wdl, wds, q, zero):
    """Tap products of Z_level = h(P_level) with the convolution that follows it: block level+1's C1, or the
    decoder (low-rank channels into q[0:9], sparse into q[9:18])."""
    if level < T:
        dots(p, w1[level], q, 0, zero, theta, True)
    else:
        n = wdl.shape[1]
        dots(p[:n], wdl, q, 0, zero, theta[:n], True)
        dots(p[n:], wds, q, 9, zero, theta[n:], True)


@nb.njit(**OPTS)
def branch_forward(X, rows, cols, w0, b0, theta, lam3, w1, b1, w2, b2, wdl, wds, bd, P, R, parts):
    """Forward of one branch on one image.

    ``X`` (H, W); ``rows`` (H, 3), ``cols`` (W, 3): :func:`reflect_table`; weights as (taps, channels): ``w0``
    (9, K), ``b0`` (K,), ``theta`` (K,), ``lam3`` scalar, ``w1`` (T, 9, K), ``b1`` (T,), ``w2`` (T, 9, K), ``b2``
    (T, K), ``wdl`` (9, n) and ``wds`` (9, K - n) the decoder's weights on the low-rank (first n) and sparse
    channels, ``bd`` (2,) their biases.
    Writes ``P`` (T + 1, H, W, K), ``R`` (T, H, W) and ``parts`` (2, H, W).
    """
    H, W = X.shape
    K = w0.shape[1]
    T = w1.shape[0]
    zero = lam3 - lam3
    q = np.empty((H, W, 18), P.dtype)
    for y in range(H):
        xa, xb, xc = X[rows[y, 0]], X[rows[y, 1]], X[rows[y, 2]]
        for x in range(W):
            t = taps(xa, xb, xc, cols, x)
            p = P[0, y, x]
            for c in range(K):
                p[c] = b0[c] + tap_sum(w0, c, t)
            _next_dots(p, theta, 0, T, w1, wdl, wds, q[y, x], zero)
    for t in range(1, T + 1):
        r = R[t - 1]
        for y in range(H):
            qa, qb, qc = q[rows[y, 0]], q[rows[y, 1]], q[rows[y, 2]]
            for x in range(W):
                r[y, x] = X[y, x] - b1[t - 1] - gather(qa, qb, qc, cols, x, 0)
        w, b = w2[t - 1], b2[t - 1]
        for y in range(H):
            ra, rb, rc = r[rows[y, 0]], r[rows[y, 1]], r[rows[y, 2]]
            for x in range(W):
                tt = taps(ra, rb, rc, cols, x)
                prev = P[t - 1, y, x]
                p = P[t, y, x]
                for c in range(K):
                    p[c] = b[c] + tap_sum(w, c, tt) + lam3 * shrink(prev[c], theta[c], zero)
                _next_dots(p, theta, t, T, w1, wdl, wds, q[y, x], zero)
    for y in range(H):
        qa, qb, qc = q[rows[y, 0]], q[rows[y, 1]], q[rows[y, 2]]
        for x in range(W):
            parts[0, y, x] = bd[0] + gather(qa, qb, qc, cols, x, 0)
            parts[1, y, x] = bd[1] + gather(qa, qb, qc, cols, x, 9)


@nb.njit(**OPTS)
def _add_taps(g, wn, d, first):
    """``g[c] (+)= sum_tap wn[tap, c] d[tap]`` (``first``: overwrite)."""
    t = (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8])
    for c in range(g.shape[0]):
        s = tap_sum(wn, c, t)
        g[c] = s if first else g[c] + s


@nb.njit(**OPTS)
def _outer_acc(acc, taps, o, M, lo, hi):
    """``acc[tap, c] += sum_x taps[x, o + tap] M[x, c]`` for c in [lo, hi): a row's weight gradient.

    (Loops start at 0 on slices: a loop from a runtime start keeps numba's negative-index wraparound, which stops
    LLVM from vectorising it.)"""
    W = M.shape[0]
    for k in range(9):
        a = acc[k, lo:hi]
        x = 0
        while x + 4 <= W:
            t0, t1, t2, t3 = taps[x, o + k], taps[x + 1, o + k], taps[x + 2, o + k], taps[x + 3, o + k]
            m0, m1, m2, m3 = M[x, lo:hi], M[x + 1, lo:hi], M[x + 2, lo:hi], M[x + 3, lo:hi]
            for c in range(a.shape[0]):
                a[c] += t0 * m0[c] + t1 * m1[c] + t2 * m2[c] + t3 * m3[c]
            x += 4
        while x < W:
            t0 = taps[x, o + k]
            m0 = M[x, lo:hi]
            for c in range(a.shape[0]):
                a[c] += t0 * m0[c]
            x += 1


@nb.njit(inline="always", **OPTS)
def _scatter_taps(E, out, rows, cols):
    """Adjoint of the reflected 3x3 neighbourhoods: ``out[neighbour_tap(y, x)] += E[y, x, tap]``."""
    H, W = out.shape
    for y in range(H):
        for x in range(W):
            e = E[y, x]
            for ky in range(3):
                yy = rows[y, ky]
                for kx in range(3):
                    out[yy, cols[x, kx]] += e[3 * ky + kx]


@nb.njit(inline="always", **OPTS)
def _spread(D, rows, cols, y, x, o, v):
    """``D[neighbour_tap(y, x), o + tap] += v`` for the 9 taps: one pixel's upstream gradient of a K -> 1
    convolution, sent through the reflection to the pixels whose tap products made it."""
    for ky in range(3):
        yy = rows[y, ky]
        for kx in range(3):
            D[yy, cols[x, kx], o + 3 * ky + kx] += v


@nb.njit(**OPTS)
def branch_backward(X, rows, cols, w0, theta, lam3, w1, w2, wdl, wds, P, R, dparts,
                    dX, g_theta, g_lam3, g_w0, g_b0, g_w1, g_b1, g_w2, g_b2, g_wd, g_bd):
    """Backward of :func:`branch_forward` for the upstream gradient ``dparts`` (2, H, W).

    Adds into ``dX`` (H, W) and the parameter gradients (float64, same layouts as the weights; ``g_wd`` (9, K)
    both decoder convolutions, ``g_lam3`` (1,), ``g_bd`` (2,)): the caller passes them zeroed.
    """
    H, W = X.shape
    K = w0.shape[1]
    T = w1.shape[0]
    n_low = wdl.shape[1]
    dt = P.dtype
    zero = lam3 - lam3
    G = np.empty((H, W, K), dt)  # dL/dZ_t, built up over two levels
    D = np.zeros((H, W, 18), dt)  # upstream gradient of the convolution after level t, scattered per tap
    E = np.empty((H, W, 9), dt)  # per-pixel tap sums of the adjoint of the convolution producing P_t
    dr = np.empty((H, W), dt)
    zrow = np.empty((W, K), dt)
    dp = np.empty((W, K), dt)
    src9 = np.empty((W, 9), dt)
    acc_wn = np.empty((9, K), dt)
    acc_w = np.empty((9, K), dt)
    acc_theta = np.empty(K, dt)
    acc_b = np.empty(K, dt)
    acc_lam3 = np.empty(K, dt)
    for y in range(H):  # the decoder's upstream gradient, scattered through the reflection
        for x in range(W):
            lo, hi = dparts[0, y, x], dparts[1, y, x]
            g_bd[0] += lo
            g_bd[1] += hi
            _spread(D, rows, cols, y, x, 0, lo)
            _spread(D, rows, cols, y, x, 9, hi)
    for t in range(T, -1, -1):
        top = t == T
        wn = w1[min(t, T - 1)] if T > 0 else w0  # (unused at the top level)
        g_wn = g_wd if top else g_w1[t]
        w = w2[t - 1] if t > 0 else w0
        src = R[t - 1] if t > 0 else X
        for y in range(H):
            Gy, Py, Dy = G[y], P[t, y], D[y]
            # G_t = lam3 dP_{t+1} + adjoint of the next convolution; its weight gradient D^T Z_t
            for x in range(W):
                if top:
                    _add_taps(Gy[x, :n_low], wdl, Dy[x, 0:9], True)
                    _add_taps(Gy[x, n_low:], wds, Dy[x, 9:18], True)
                else:
                    _add_taps(Gy[x], wn, Dy[x, 0:9], False)
            for x in range(W):
                px, zx = Py[x], zrow[x]
                for c in range(K):
                    zx[c] = shrink(px[c], theta[c], zero)
            acc_wn[...] = 0.0
            if top:
                _outer_acc(acc_wn, Dy, 0, zrow, 0, n_low)
                _outer_acc(acc_wn, Dy, 9, zrow, n_low, K)
            else:
                _outer_acc(acc_wn, Dy, 0, zrow, 0, K)
            g_wn += acc_wn
            # dP_t = G_t h'(P_t): [P != 0] [|P| - theta >= 0], as autograd differentiates the formula; G_{t-1}
            # starts as lam3 dP_t
            for x in range(W):
                px, gx, dx = Py[x], Gy[x], dp[x]
                for c in range(K):
                    v = px[c]
                    d = gx[c] if (v != zero and abs(v) - theta[c] >= zero) else zero
                    dx[c] = d
                    gx[c] = lam3 * d
            acc_theta[...] = 0.0
            acc_b[...] = 0.0
            for x in range(W):
                px, dx = Py[x], dp[x]
                for c in range(K):
                    d = dx[c]
                    acc_theta[c] += -d if px[c] > zero else d
                    acc_b[c] += d
            g_theta += acc_theta
            # the convolution that produced P_t (block t's C2 on r_t, or C0 on X)
            sa, sb, sc = src[rows[y, 0]], src[rows[y, 1]], src[rows[y, 2]]
            for x in range(W):
                src9[x, 0], src9[x, 1], src9[x, 2], src9[x, 3], src9[x, 4], src9[x, 5], src9[x, 6], src9[x, 7], \
                    src9[x, 8] = taps(sa, sb, sc, cols, x)
            acc_w[...] = 0.0
            _outer_acc(acc_w, src9, 0, dp, 0, K)
            for x in range(W):
                dots(dp[x], w, E[y, x], 0, zero, theta, False)
            if t > 0:
                g_w2[t - 1] += acc_w
                g_b2[t - 1] += acc_b
                acc_lam3[...] = 0.0
                for x in range(W):
                    qx, dx = P[t - 1, y, x], dp[x]
                    for c in range(K):
                        acc_lam3[c] += dx[c] * shrink(qx[c], theta[c], zero)
                g_lam3[0] += acc_lam3.sum()
            else:
                g_w0 += acc_w
                g_b0 += acc_b
        dr[...] = 0.0
        _scatter_taps(E, dr, rows, cols)
        dX += dr
        if t > 0:  # r_t = X - b1 - C1 * Z_{t-1}: scatter -dr_t for level t - 1
            g_b1[t - 1] = -dr.sum()
            D[...] = 0.0
            for y in range(H):
                for x in range(W):
                    _spread(D, rows, cols, y, x, 0, -dr[y, x])
