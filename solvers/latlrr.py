r"""Latent low-rank representation (LatLRR, Liu & Yan 2011) by the inexact augmented Lagrangian method, and the
multi-level decomposition of an image with a LatLRR projection (Li, Wu & Kittler, MDLatLRR, IEEE TIP 2020).

LatLRR writes data :math:`X \in \mathbb{R}^{d\times n}` (columns = samples, here vectorised image patches) as the sum
of a low-rank representation :math:`XZ` of its columns by its own columns, a "salient" part :math:`LX` (a projection
of the rows) and a sparse error:

.. math:: \min_{Z, L, E}\ \|Z\|_* + \|L\|_* + \lambda\|E\|_1 \quad\text{s.t.}\quad X = XZ + LX + E .

It is the classical ancestor of LRRNet: a low-rank part and a sparse/salient part separated by optimisation. The
inexact ALM splits :math:`J = Z`, :math:`S = L` so that every step has a closed form. With multipliers
:math:`Y_1, Y_2, Y_3` and penalty :math:`\mu`, one iteration is

.. math::
    J &= \mathrm{SVT}_{1/\mu}(Z + Y_2/\mu),\qquad S = \mathrm{SVT}_{1/\mu}(L + Y_3/\mu)\\
    Z &= (X^TX + I)^{-1}\big(X^T(X - LX - E) + J + (X^TY_1 - Y_2)/\mu\big)\\
    L &= \big((X - XZ - E)X^T + S + (Y_1X^T - Y_3)/\mu\big)(XX^T + I)^{-1}\\
    E &= h_{\lambda/\mu}(X - XZ - LX + Y_1/\mu)\\
    Y_1 &\leftarrow Y_1 + \mu(X - XZ - LX - E),\quad Y_2 \leftarrow Y_2 + \mu(Z - J),\quad
    Y_3 \leftarrow Y_3 + \mu(L - S),\quad \mu \leftarrow \min(\rho\mu, \mu_{\max})

(Gauss-Seidel order J, S, Z, L, E, as in Liu's reference code.) It stops when the largest absolute entry of the three
constraint residuals :math:`X - XZ - LX - E`, :math:`Z - J`, :math:`L - S` is below ``tol``; the multipliers are then
not updated. The defaults (:math:`\mu_0 = 10^{-6}`, :math:`\rho = 1.1`, :math:`\mu_{\max} = 10^6`,
``tol = 1e-6``) are those of the reference code, so the result follows the published method; the penalty reaches
:math:`\mu_{\max}` after 290 iterations, and the method stops soon after.

MDLatLRR (:func:`md_decompose`) learns one projection :math:`L` from patches of training images
(:func:`learn_projection`: LatLRR on ``n_patches`` random non-overlapping s x s patches, :math:`\lambda = 0.4`) and
then decomposes any image without further optimisation: the detail part of level k is :math:`L` applied to every
s x s patch (all positions, stride 1) of the base part of level k - 1, put back by averaging the overlapping patches,
and the base part is what remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ._validation import check_int, check_scalar
from .prox import soft_threshold_numpy, svt

__all__ = ["LatLRRProblem", "LatLRRResult", "latlrr", "learn_projection", "md_decompose", "patch_columns",
           "overlap_add"]


@dataclass(frozen=True)
class LatLRRProblem:
    r"""The LatLRR problem for data ``X`` (d x n, columns = samples) and sparse weight ``lam``.

    Examples
    --------
    >>> import numpy as np
    >>> p = LatLRRProblem(np.eye(2), lam=0.5)
    >>> Z, L, E = np.zeros((2, 2)), np.zeros((2, 2)), np.eye(2)   # feasible: X = E
    >>> p.objective(Z, L, E), float(np.abs(p.residual(Z, L, E)).max())
    (1.0, 0.0)
    """

    X: np.ndarray
    lam: float

    def __post_init__(self):
        X = np.asarray(self.X)
        if X.ndim != 2 or X.size == 0:
            raise ValueError(f"X must be a non-empty 2-D array (features x samples), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or Inf")
        object.__setattr__(self, "X", X.astype(np.float64, copy=False))
        object.__setattr__(self, "lam", check_scalar(self.lam, "lam", low=0.0, low_inclusive=False))

    def objective(self, Z: np.ndarray, L: np.ndarray, E: np.ndarray) -> float:
        """``||Z||_* + ||L||_* + lam ||E||_1``."""
        nuc = np.linalg.svd(Z, compute_uv=False).sum() + np.linalg.svd(L, compute_uv=False).sum()
        return float(nuc + self.lam * np.abs(E).sum())

    def residual(self, Z: np.ndarray, L: np.ndarray, E: np.ndarray) -> np.ndarray:
        """The constraint's residual ``X - XZ - LX - E``."""
        return self.X - self.X @ Z - L @ self.X - E


@dataclass
class LatLRRResult:
    """What :func:`latlrr` returns.

    Attributes
    ----------
    Z : ndarray (n, n)
        The low-rank representation; ``X @ Z`` is the low-rank ("principal") part.
    L : ndarray (d, d)
        The salient projection; ``L @ X`` is the salient part.
    E : ndarray (d, n)
        The sparse error.
    n_iter : int
    converged : bool
        Whether the largest residual entry went below ``tol`` before ``max_iter``.
    history : dict of str to ndarray
        Per iteration: ``objective`` (of Z, L, E), ``feasible_objective`` (of Z, L and the E that makes them feasible,
        ``X - XZ - LX``: the objective of a point that meets the constraint, which falls towards the optimum),
        ``residual`` (the stopping quantity: largest absolute entry of the three residuals), ``constraint``
        (``||X - XZ - LX - E||_F / ||X||_F``), ``penalty`` (mu used).
    problem : LatLRRProblem
    """

    Z: np.ndarray
    L: np.ndarray
    E: np.ndarray
    n_iter: int
    converged: bool
    history: dict[str, np.ndarray]
    problem: LatLRRProblem


def latlrr(X, lam: float = 0.4, *, tol: float = 1e-6, mu: float = 1e-6, rho: float = 1.1, mu_max: float = 1e6,
           max_iter: int = 1000, progress: bool = False) -> LatLRRResult:
    """Solve LatLRR for ``X`` (d x n) by the inexact ALM (module docstring).

    Parameters
    ----------
    X : array (d, n)
        Data, columns = samples (float64 is used).
    lam : float
        Weight of the sparse error, ``> 0`` (0.4: MDLatLRR's projection learning; 0.8: LatLRR fusion).
    tol : float
        Stop when every entry of the three constraint residuals is below ``tol`` in absolute value.
    mu, rho, mu_max : float
        Initial penalty, its growth factor per iteration (``> 1``) and its cap.
    max_iter : int
        At most this many iterations (``converged`` is False if reached).
    progress : bool
        tqdm bar over the iterations.

    Returns
    -------
    LatLRRResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 20))
    >>> res = latlrr(X, lam=0.5)
    >>> res.converged, bool(np.abs(res.problem.residual(res.Z, res.L, res.E)).max() < 1e-5)
    (True, True)
    """
    problem = LatLRRProblem(X, lam)
    tol = check_scalar(tol, "tol", low=0.0, low_inclusive=False)
    mu = check_scalar(mu, "mu", low=0.0, low_inclusive=False)
    rho = check_scalar(rho, "rho", low=1.0, low_inclusive=False)
    mu_max = check_scalar(mu_max, "mu_max", low=mu)
    max_iter = check_int(max_iter, "max_iter", low=1)
    X = problem.X
    d, n = X.shape
    xtx = X.T @ X
    inv_a = np.linalg.inv(xtx + np.eye(n))
    inv_b = np.linalg.inv(X @ X.T + np.eye(d))
    Z, J, Y2 = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    L, S, Y3 = np.zeros((d, d)), np.zeros((d, d)), np.zeros((d, d))
    E, Y1 = np.zeros((d, n)), np.zeros((d, n))
    norm_x = max(float(np.linalg.norm(X)), 1e-300)
    hist: dict[str, list[float]] = {"objective": [], "feasible_objective": [], "residual": [], "constraint": [],
                                    "penalty": []}
    converged = False
    bar = tqdm(total=max_iter, desc="LatLRR (inexact ALM)", disable=not progress, leave=False)
    it = 0
    for it in range(1, max_iter + 1):
        J = svt(Z + Y2 / mu, 1.0 / mu, method="svd")
        S = svt(L + Y3 / mu, 1.0 / mu, method="svd")
        Z = inv_a @ (xtx - X.T @ (L @ X) - X.T @ E + J + (X.T @ Y1 - Y2) / mu)
        L = ((X - X @ Z - E) @ X.T + S + (Y1 @ X.T - Y3) / mu) @ inv_b
        xmaz = X - X @ Z - L @ X
        E = soft_threshold_numpy(xmaz + Y1 / mu, problem.lam / mu)
        r1, r2, r3 = xmaz - E, Z - J, L - S
        stop = max(float(np.abs(r1).max()), float(np.abs(r2).max()), float(np.abs(r3).max()))
        nuc = float(np.linalg.svd(Z, compute_uv=False).sum() + np.linalg.svd(L, compute_uv=False).sum())
        hist["objective"].append(nuc + problem.lam * float(np.abs(E).sum()))
        hist["feasible_objective"].append(nuc + problem.lam * float(np.abs(xmaz).sum()))
        hist["residual"].append(stop)
        hist["constraint"].append(float(np.linalg.norm(r1)) / norm_x)
        hist["penalty"].append(mu)
        bar.update(1)
        if not np.isfinite(stop):
            bar.close()
            raise FloatingPointError(f"LatLRR diverged at iteration {it} (residual {stop})")
        if stop < tol:
            converged = True
            break
        Y1 += mu * r1
        Y2 += mu * r2
        Y3 += mu * r3
        mu = min(mu_max, mu * rho)
    bar.close()
    return LatLRRResult(Z, L, E, it, converged, {k: np.asarray(v) for k, v in hist.items()}, problem)


def patch_columns(img: np.ndarray, size: int) -> np.ndarray:
    """Every ``size`` x ``size`` patch of ``img`` (all positions, stride 1) as a column, in row-major order of the
    positions; a patch is vectorised column by column (MATLAB's ``temp(:)``), shape ``(size**2, n_positions)``."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < size:
        raise ValueError(f"the image must be 2-D and at least {size} x {size}, got shape {img.shape}")
    win = np.lib.stride_tricks.sliding_window_view(img, (size, size))  # (P, Q, size, size)
    p, q = win.shape[:2]
    return np.ascontiguousarray(win.transpose(3, 2, 0, 1).reshape(size * size, p * q))


def overlap_add(columns: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    """Put ``size`` x ``size`` patch columns (as :func:`patch_columns` makes them) back at their positions and average
    where they overlap (each pixel divided by the number of patches covering it)."""
    h, w = shape
    p, q = h - size + 1, w - size + 1
    if columns.shape != (size * size, p * q):
        raise ValueError(f"expected columns of shape {(size * size, p * q)} for an image {shape} and patches "
                         f"{size} x {size}, got {columns.shape}")
    blocks = columns.reshape(size, size, p, q)  # (column offset, row offset, position row, position col)
    out = np.zeros((h, w))
    count = np.zeros((h, w))
    for dj in range(size):
        for di in range(size):
            out[di:di + p, dj:dj + q] += blocks[dj, di]
            count[di:di + p, dj:dj + q] += 1.0
    return out / count


def md_decompose(img: np.ndarray, projection: np.ndarray, levels: int = 4) -> tuple[np.ndarray, list[np.ndarray]]:
    """MDLatLRR's multi-level decomposition of a grey image with a learned projection.

    Level k projects every s x s patch of the base part of level k - 1 (the image at level 1) by ``projection``
    (s^2 x s^2, from :func:`learn_projection`); the detail part of level k is these projected patches put back by
    averaging (:func:`overlap_add`); the new base part is the old one minus it.

    Returns
    -------
    base : ndarray (H, W)
        The base part after ``levels`` levels.
    details : list of ndarray (s^2, n_positions)
        The projected patch columns of each level (what MDLatLRR's fusion rule weighs, patch by patch).
    """
    projection = np.asarray(projection, dtype=np.float64)
    size = int(round(np.sqrt(projection.shape[0])))
    if projection.ndim != 2 or projection.shape != (size * size, size * size):
        raise ValueError(f"projection must be s^2 x s^2 for s x s patches, got shape {projection.shape}")
    levels = check_int(levels, "levels", low=1)
    base = np.asarray(img, dtype=np.float64)
    details = []
    for _ in range(levels):
        cols = projection @ patch_columns(base, size)
        details.append(cols)
        base = base - overlap_add(cols, base.shape, size)
    return base, details


def learn_projection(images, *, size: int = 8, n_patches: int = 1200, lam: float = 0.4, seed: int = 0,
                     progress: bool = False, **options) -> LatLRRResult:
    """MDLatLRR's projection: LatLRR (``lam`` 0.4) on ``n_patches`` random non-overlapping ``size`` x ``size``
    patches of grey training images on [0, 1]; the projection is the result's ``L`` (``size**2`` square).

    ``images``: iterable of 2-D arrays. The patches are the distinct (non-overlapping, top-left aligned) blocks of
    every image, vectorised column by column, drawn without replacement by ``seed``. ``options`` go to
    :func:`latlrr`.
    """
    size = check_int(size, "size", low=1)
    n_patches = check_int(n_patches, "n_patches", low=1)
    blocks = []
    for i, img in enumerate(images):
        img = np.asarray(img, dtype=np.float64)
        if img.ndim != 2:
            raise ValueError(f"training image {i} must be grey (2-D), got shape {img.shape}")
        h, w = (img.shape[0] // size) * size, (img.shape[1] // size) * size
        b = img[:h, :w].reshape(h // size, size, w // size, size).transpose(3, 1, 0, 2)  # (col, row, bi, bj)
        blocks.append(b.reshape(size * size, -1))
    if not blocks:
        raise ValueError("no training images given")
    B = np.concatenate(blocks, axis=1)
    if B.shape[1] < n_patches:
        raise ValueError(f"the training images hold {B.shape[1]} patches of {size} x {size}, fewer than "
                         f"n_patches={n_patches}")
    pick = np.random.default_rng(seed).choice(B.shape[1], n_patches, replace=False)
    return latlrr(B[:, pick], lam, progress=progress, **options)
