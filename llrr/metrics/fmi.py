r"""Feature mutual information (FMI), Haghighat's fast sliding-window version (spec sections 2.7 and 4).

Every ``window x window`` neighbourhood (3 x 3 by default; borders excluded) of a source feature image :math:`A` and
of the fused one :math:`F` is turned into two discrete distributions over the window's pixel positions, read in
MATLAB's column-major order. Each window is min-max normalised (a constant window becomes all ones) and divided by
its sum: :math:`p_k`, :math:`q_k`, with cumulative sums :math:`P_k`, :math:`Q_k`. Their joint distribution is Nelsen's
mixture of independence and the Frechet bound that the sign of :math:`c`, the Pearson correlation of the vectors
:math:`p` and :math:`q`, selects:

.. math::

    J_{ij} = \phi\, \Delta_{ij} C(Q, P) + (1 - \phi)\, q_i p_j, \qquad
    C = \min(Q_i, P_j) \text{ if } c \ge 0, \quad \max(Q_i + P_j - 1, 0) \text{ if } c < 0,

where :math:`\Delta_{ij}` takes the rectangle mass of the bound and :math:`\phi = c / \rho_C`, with :math:`\rho_C` the
correlation of the positions :math:`i, j` under the bound (:math:`\phi = 0` when :math:`c = 0` or a distribution has
zero spread). Then :math:`I = H(p) + H(q) - H(J)` (bits; a negative :math:`J_{ij}`, possible when :math:`\phi > 1`,
contributes :math:`-J_{ij}\log_2|J_{ij}|`, the real part MATLAB keeps) and the window score is
:math:`2 I / (H(p) + H(q))`, 0 when :math:`I = 0` and 1 when the two windows are identical. FMI is the mean over all
windows of the average of the scores against the two sources.

Two details of the reference ``analysis_fmi.m`` are kept:

* the fused window normalised for the first source is the one compared with the second source's window in the
  "identical" test (harmless: identical windows score 1 either way, up to rounding);
* two windows that are both constant (uniform after normalisation) score 1, like identical ones, but only through
  rounding: the pdf mean is accumulated left to right, its residue makes :math:`c = \pm 1` and the joint pdf the
  diagonal (with :math:`c = 0` they would score 0). This case is frequent with edge maps (an all-zero window against
  the normalised, all-ones, version of an all-zero fused window), so the sums that decide branches follow MATLAB's
  order here; an implementation that rounds otherwise gets much lower "edge" values.

Features (``feature=``):

* ``"none"``: the raw intensities, read on [0, 1] as in Li's calls ("FMI_pixel" in Haghighat's documentation).
* ``"edge"``: binary edge maps from MATLAB's ``edge(img)`` (= ``edge(img, 'sobel')``): see :func:`sobel_edges`. This
  is the reference code's default, so it is what Hui Li's bundle (and copies of it) report as "FMI_pixel"; it
  reproduces Li's published per-image values (../shared/data/metrics_reference).

Implementation: a numba kernel that releases the GIL, run on threads over fixed blocks of rows (the result does not
depend on the number of threads). The bound's mass is non-zero on at most :math:`2n - 1` of the :math:`n^2` cells
(a staircase found by merging the cumulative sums), and the entropy of the product part is summed in closed form,
so each window costs :math:`O(n)` logarithms instead of :math:`n^2`; this equals the reference's cell-by-cell sum up
to rounding (about 1e-15, checked against a direct transcription in the tests).

References
----------
M. B. A. Haghighat, A. Aghagolzadeh, H. Seyedarabi, "A non-reference image fusion metric based on mutual information
of image features", Computers and Electrical Engineering 37(5), 2011; M. Haghighat, M. A. Razian, "Fast-FMI:
non-reference image fusion metric", AICT 2014.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from solvers._jit import nb

from ._common import check_triplet

__all__ = ["fmi", "sobel_edges", "FEATURES"]


def sobel_edges(image: np.ndarray) -> np.ndarray:
    """Binary edge map of an 8-bit image as MATLAB's ``edge(im2double(img), 'sobel')`` computes it.

    1. On the [0, 1] image ``I`` with replicated borders, the Sobel derivatives divided by 8, each accumulated in
       MATLAB's order (left column top to bottom, then the right column; top row left to right, then the bottom row):
       ``bx = (I(r-1,c-1) + 2 I(r,c-1) + I(r+1,c-1) - I(r-1,c+1) - 2 I(r,c+1) - I(r+1,c+1)) / 8`` and
       ``by = (I(r-1,c-1) + 2 I(r-1,c) + I(r-1,c+1) - I(r+1,c-1) - 2 I(r+1,c) - I(r+1,c+1)) / 8``;
       strength ``b = bx^2 + by^2``.
    2. Automatic threshold (Pratt): ``cutoff = 4 * mean(b)``; no hysteresis.
    3. Thinning (MATLAB's default ``'thinning'``): a pixel is an edge when ``b > cutoff`` and either
       ``|bx| >= |by| - 100 eps`` and ``b(r, c-1) <= b(r, c) > b(r, c+1)`` (horizontal local maximum) or
       ``|by| >= |bx| - 100 eps`` and ``b(r-1, c) <= b(r, c) > b(r+1, c)`` (vertical one); a neighbour outside the
       image passes its test.

    The summation order matters: thinning compares neighbouring strengths that are often mathematically equal, and
    rounding decides those ties. With this order, :func:`fmi` with ``feature="edge"`` reproduces Li's 21 published
    per-image values to 3e-14; exact integer arithmetic is off by up to 8e-5.

    Returns
    -------
    ndarray of shape (H, W), bool
    """
    x = np.pad(np.asarray(image, dtype=np.float64) / 255.0, 1, mode="edge")
    h, w = x.shape[0] - 2, x.shape[1] - 2

    def at(dr, dc):
        return x[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]

    bx = at(-1, -1) * 0.125
    for (dr, dc), k in (((0, -1), 0.25), ((1, -1), 0.125), ((-1, 1), -0.125), ((0, 1), -0.25), ((1, 1), -0.125)):
        bx = bx + at(dr, dc) * k
    by = at(-1, -1) * 0.125
    for (dr, dc), k in (((-1, 0), 0.25), ((-1, 1), 0.125), ((1, -1), -0.125), ((1, 0), -0.25), ((1, 1), -0.125)):
        by = by + at(dr, dc) * k
    b = bx * bx + by * by
    strong = b > 4.0 * b.sum() / b.size
    slack = 100 * np.finfo(np.float64).eps
    ax, ay = np.abs(bx), np.abs(by)
    hor = np.ones(b.shape, dtype=bool)
    hor[:, 1:] &= b[:, :-1] <= b[:, 1:]
    hor[:, :-1] &= b[:, :-1] > b[:, 1:]
    ver = np.ones(b.shape, dtype=bool)
    ver[1:, :] &= b[:-1, :] <= b[1:, :]
    ver[:-1, :] &= b[:-1, :] > b[1:, :]
    return strong & (((ax >= ay - slack) & hor) | ((ay >= ax - slack) & ver))


FEATURES = {
    "none": lambda img: img.astype(np.float64) / 255.0,
    "edge": lambda img: sobel_edges(img).astype(np.float64),
}
"""Feature extractors for :func:`fmi`: name -> function of an 8-bit image returning a float64 feature image."""


@nb.njit(cache=True, nogil=True)
def _normalise(x, out):  # pragma: no cover - compiled
    """Min-max normalisation of a window; a constant window becomes all ones (the reference's rule)."""
    lo, hi = x[0], x[0]
    for k in range(x.shape[0]):
        lo = min(lo, x[k])
        hi = max(hi, x[k])
    for k in range(x.shape[0]):
        out[k] = 1.0 if hi == lo else (x[k] - lo) / (hi - lo)


_INV_LN2 = 1.0 / math.log(2.0)


@nb.njit(cache=True, nogil=True, inline="always")
def _log2(v):  # pragma: no cover - compiled
    return math.log(v) * _INV_LN2  # twice as fast as math.log2 under numba; differs by rounding only


@nb.njit(cache=True, nogil=True)
def _pdf(x, ws, p, lp, stats):  # pragma: no cover - compiled
    """pdf ``p`` of a normalised window, ``log2 p`` (0 where p = 0), and stats = (mean of p, mean position,
    standard deviation of the position, entropy in bits)."""
    n = x.shape[0]
    total = 0.0
    for c in range(ws):  # MATLAB's sum(sum(.)): each column top to bottom, then the column sums
        col = 0.0
        for r in range(ws):
            col += x[c * ws + r]
        total += col
    mean = 0.0
    e1 = 0.0
    e2 = 0.0
    h = 0.0
    for k in range(n):
        p[k] = x[k] / total
        mean += p[k]
        pos = k + 1.0
        e1 += pos * p[k]
        e2 += pos * pos * p[k]
        lp[k] = _log2(p[k]) if p[k] > 0 else 0.0
        h -= p[k] * lp[k]
    stats[0] = mean / n
    stats[1] = e1
    stats[2] = math.sqrt(max(e2 - e1 * e1, 0.0))
    stats[3] = h


@nb.njit(cache=True, nogil=True)
def _score(p, lp, sp, q, lq, sq, cell_i, cell_j, cell_m):  # pragma: no cover - compiled
    """Window score ``2 I / (H(p) + H(q))`` of a source pdf ``p`` and a fused pdf ``q`` (stats from :func:`_pdf`)."""
    n = p.shape[0]
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for k in range(n):
        dp = p[k] - sp[0]
        dq = q[k] - sq[0]
        sxy += dp * dq
        sxx += dp * dp
        syy += dq * dq
    corr = 0.0 if sxy == 0.0 else sxy / math.sqrt(sxx * syy)
    hs, hf = sp[3], sq[3]
    if corr == 0.0 or sp[2] == 0.0 or sq[2] == 0.0:
        return 0.0  # the joint pdf is the product of the marginals: no mutual information
    # Mass of the Frechet bound on each (i, j) cell (i: fused position, j: source position). It is non-zero only on
    # a staircase of at most 2n - 1 cells, found by merging the cumulative sums (upper bound: both ascending; lower
    # bound: the source's accumulated from its last position).
    upper = corr > 0
    i = 0
    jj = 0
    acc_q = q[0]
    acc_p = p[0] if upper else p[n - 1]
    prev = 0.0
    cells = 0
    moment = 0.0
    while i < n and jj < n:
        j = jj if upper else n - 1 - jj
        top = min(acc_q, acc_p)
        mass = top - prev
        if mass > 0:
            cell_i[cells] = i
            cell_j[cells] = j
            cell_m[cells] = mass
            cells += 1
            moment += mass * (i + 1.0) * (j + 1.0)
        prev = top
        step_q = acc_q <= acc_p
        step_p = acc_p <= acc_q
        if step_q:
            i += 1
            if i < n:
                acc_q += q[i]
        if step_p:
            jj += 1
            if jj < n:
                acc_p += p[jj] if upper else p[n - 1 - jj]
    cov = moment - sq[1] * sp[1]  # covariance of the positions under the bound (Hoeffding)
    if cov == 0.0:  # impossible when both spreads are positive; guards the division (MATLAB would give NaN)
        return 0.0
    mix = corr / (cov / (sq[2] * sp[2]))
    # joint entropy of J = mix * bound + (1 - mix) * q p^T: the product part in closed form over all cells, then
    # the staircase cells corrected
    k = 1.0 - mix
    joint = 0.0
    lk = 0.0
    if k != 0.0:
        lk = _log2(abs(k))
        tq = 0.0
        tp = 0.0
        for t in range(n):
            tq += q[t]
            tp += p[t]
        joint = -k * (lk * tq * tp - tp * hf - tq * hs)
    for t in range(cells):
        ci = cell_i[t]
        cj = cell_j[t]
        prod = k * q[ci] * p[cj]
        if prod != 0.0:
            joint += prod * (lk + lq[ci] + lp[cj])  # remove the product-only term counted above
        v = mix * cell_m[t] + prod
        if v != 0.0:  # MATLAB's real(-v log2 v): -v log2|v| also for a negative v
            joint -= v * _log2(abs(v))
    mi = hs + hf - joint
    return 0.0 if mi == 0.0 else 2.0 * mi / (hs + hf)


@nb.njit(cache=True, nogil=True)
def _fmi_rows(fa, fb, ff, ws, r0, r1):  # pragma: no cover - compiled
    """Sum of the window scores ``(fmi_af + fmi_bf) / 2`` over the windows whose top row is in ``r0 .. r1 - 1``."""
    n = ws * ws
    cols = ff.shape[1] - ws + 1
    a, b, f = np.empty(n), np.empty(n), np.empty(n)  # the three windows
    fm, xn, fn = np.empty(n), np.empty(n), np.empty(n)  # fused window for the 2nd source, normalised windows
    p, lp, q, lq = np.empty(n), np.empty(n), np.empty(n), np.empty(n)  # pdfs and their log2
    sp = np.empty(4)
    sq = np.empty(4)
    cell_i = np.empty(2 * n, dtype=np.int64)
    cell_j = np.empty(2 * n, dtype=np.int64)
    cell_m = np.empty(2 * n)
    total = 0.0
    for r in range(r0, r1):
        for c0 in range(cols):
            same_af = True
            for c in range(ws):  # column-major, as MATLAB's sub(:)
                for rr in range(ws):
                    k = c * ws + rr
                    a[k] = fa[r + rr, c0 + c]
                    b[k] = fb[r + rr, c0 + c]
                    f[k] = ff[r + rr, c0 + c]
                    if a[k] != f[k]:
                        same_af = False
            fused_ready = False
            if same_af:
                s_af = 1.0
                fm[:] = f
            else:
                _normalise(f, fn)
                _pdf(fn, ws, q, lq, sq)
                fused_ready = True
                _normalise(a, xn)
                _pdf(xn, ws, p, lp, sp)
                s_af = _score(p, lp, sp, q, lq, sq, cell_i, cell_j, cell_m)
                fm[:] = fn  # the reference compares the second source with the normalised fused window
            same_bf = True
            for k in range(n):
                if b[k] != fm[k]:
                    same_bf = False
                    break
            if same_bf:
                s_bf = 1.0
            else:
                if not fused_ready:  # (normalising fn again would change nothing)
                    _normalise(fm, fn)
                    _pdf(fn, ws, q, lq, sq)
                _normalise(b, xn)
                _pdf(xn, ws, p, lp, sp)
                s_bf = _score(p, lp, sp, q, lq, sq, cell_i, cell_j, cell_m)
            total += 0.5 * (s_af + s_bf)
    return total


_BLOCKS = 16  # blocks of window rows: the unit of work for the threads


def _fmi_sum(fa: np.ndarray, fb: np.ndarray, ff: np.ndarray, ws: int) -> float:
    """Sum of all window scores, by fixed blocks of rows run on threads (the kernel releases the GIL); the blocks and
    the order of their sum are fixed, so the result does not depend on the number of threads."""
    rows = ff.shape[0] - ws + 1
    bounds = np.linspace(0, rows, min(rows, _BLOCKS) + 1).astype(int)
    blocks = list(zip(bounds[:-1], bounds[1:], strict=True))
    workers = min(len(blocks), os.cpu_count() or 1)
    if workers == 1:
        return float(sum(_fmi_rows(fa, fb, ff, ws, r0, r1) for r0, r1 in blocks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        partial = list(pool.map(lambda block: _fmi_rows(fa, fb, ff, ws, block[0], block[1]), blocks))
    return float(sum(partial))


def fmi(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, feature: str = "none", window: int = 3) -> float:
    r"""Haghighat's fast FMI of 8-bit images, averaged over the two sources (``analysis_fmi(IR, VI, F, feature, w)``).

    Parameters
    ----------
    fused, ir, vi : ndarray of shape (H, W), uint8
    feature : {"none", "edge"}
        ``"none"``: raw intensities. ``"edge"``: MATLAB Sobel edge maps (:func:`sobel_edges`), the reference code's
        default and therefore the "FMI_pixel" that Hui Li's bundle reports.
    window : int
        Odd side of the sliding window, at least 3 and at most the smaller image side.

    Returns
    -------
    float
        In [0, 1] in practice (higher is better); exactly 1 when the three images are identical. The two features
        give very different levels: on the TNO pairs about 0.35-0.45 for "none" and 0.88-0.95 for "edge".

    Examples
    --------
    >>> img = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    >>> fmi(img, img, img)
    1.0
    """
    if feature not in FEATURES:
        raise ValueError(f"feature must be one of {list(FEATURES)}, got {feature!r}")
    f, a, b = check_triplet(fused, ir, vi)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window!r}")
    if window > min(f.shape):
        raise ValueError(f"window ({window}) must not exceed the smaller image side, got images of shape {f.shape}")
    extract = FEATURES[feature]
    fa, fb, ff = (np.ascontiguousarray(extract(x)) for x in (a, b, f))
    total = _fmi_sum(fa, fb, ff, int(window))
    return float(total / ((f.shape[0] - window + 1) * (f.shape[1] - window + 1)))
