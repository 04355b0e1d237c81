r"""Coordinate descent for the separable (l1 / l1) coding problem, patch by patch, in numba.

When both blocks carry an l1 penalty (the pure-sparse problem with D1 empty, or ``low_rank_norm="l1"``, e.g. the
objective Algorithm 1 minimises), the coding problem splits into one small Lasso per patch (column):

.. math:: \min_z \tfrac12 z^T G z - b^T z + \sum_j \lambda_{(j)} |z_j|,\qquad G = D^TD + rI,\; b = D^Tx,

and cyclic coordinate descent with the Gram matrix (Friedman, Hastie, Tibshirani 2010) solves it exactly:

.. math:: z_j \leftarrow h_{\lambda_{(j)}}\big(b_j - \textstyle\sum_{k \ne j} G_{jk} z_k\big) / G_{jj},

keeping the residual :math:`r = b - Gz` up to date at O(K) per coordinate that moves. Patches are solved in
parallel; a patch whose sweep moves no coordinate sits exactly at its minimiser and is skipped from then on. Since
codes of image patches are very sparse, a sweep costs little more than reading the codes. The nuclear norm does
not split over coordinates: for ``low_rank_norm="nuclear"`` with a non-empty D1 use FISTA.

One iteration is one sweep over all unfinished patches; the objective (:meth:`LowRankSparseProblem.objective`)
is accumulated inside the sweep at no extra pass.

References
----------
J. Friedman, T. Hastie, R. Tibshirani, "Regularization paths for generalized linear models via coordinate
descent", J. Stat. Softw. 33(1), 2010.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._validation import check_scalar
from .base import IterativeSolver, SolverResult
from .problem import LowRankSparseProblem

__all__ = ["CoordinateDescent", "coordinate_descent"]


class CoordinateDescent(IterativeSolver):
    """Parallel per-patch cyclic coordinate descent (module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    problem : LowRankSparseProblem
        Must penalise L with l1 (``low_rank_norm="l1"``) or have no L atoms; every atom must be non-zero.
    patch_tol : float, default 1e-10
        A patch is finished, and skipped from then on, when a sweep changes its code by at most ``patch_tol``
        relatively; 0 waits until a sweep moves nothing at all (the exact minimiser, to the last bit).
    tol, max_iter, Z0, track_objective
        See :class:`~solvers.base.IterativeSolver`. The objective costs nothing extra here. The solver also stops
        when every patch is finished.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import LowRankSparseProblem, fista
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((16, 24)); X = rng.standard_normal((16, 50))
    >>> prob = LowRankSparseProblem(np.zeros((16, 0)), D, lam1=0.0, lam2=2.0)
    >>> a = CoordinateDescent(X, prob, tol=1e-12, max_iter=5000).solve()
    >>> b = fista(X, prob, tol=1e-12, max_iter=20000)
    >>> bool(np.allclose(a.Z, b.Z, atol=1e-6))
    True
    """

    name = "cd"

    def __init__(self, X, problem, *, patch_tol=1e-10, tol=1e-6, max_iter=500, Z0=None, track_objective=True):
        self.patch_tol = check_scalar(patch_tol, "patch_tol", low=0.0)
        super().__init__(X, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)

    def _setup(self):
        p = self.problem
        if p.low_rank_norm == "nuclear" and p.n_low > 0 and p.lam1 > 0:
            raise ValueError(
                "coordinate descent needs a separable penalty: this problem puts the nuclear norm on L "
                f"(n_low={p.n_low}, lam1={p.lam1}); use low_rank_norm='l1', an empty D1, or FISTA"
            )
        G = p.gram.astype(np.float64) + p.ridge * np.eye(p.n_atoms)
        if np.any(np.diag(G) <= 0):
            bad = int(np.flatnonzero(np.diag(G) <= 0)[0])
            raise ValueError(f"dictionary atom {bad} is zero: coordinate descent needs non-zero atoms (or ridge > 0)")
        # G and the residuals stay in float64 even for float32 codes: the residual is updated thousands of times
        # per patch, and float32 drift kept the objective 4e-6 (relative) above the optimum.
        self.G = np.ascontiguousarray(G)
        # (n_patches, n_atoms): b = D^T x, in float64 like G and the residuals (a float32 b biased the tracked
        # objective by 3e-6 relative); only the codes are kept in the problem's dtype.
        self.Bt = np.ascontiguousarray(self.X.T.astype(np.float64) @ p.D.astype(np.float64))
        self.theta = p.thresholds(1.0)
        self._half_xsq = 0.5 * float(np.vdot(self.X.astype(np.float64), self.X.astype(np.float64)))

    def _initial(self):
        self._Zt = np.zeros(self.Bt.shape, dtype=self.dtype)
        self._sync()
        return self._Zt.T

    def _warm_start(self):
        self._Zt = np.ascontiguousarray(self.Z.T)
        self._sync()
        self.Z = self._Zt.T

    def _sync(self):
        """Residuals, cached norms and objective parts for the current codes."""
        Zt = self._Zt
        self._Rt = np.ascontiguousarray(self.Bt - Zt.astype(np.float64) @ self.G)
        self._theta64 = self.theta.astype(np.float64)
        self._done = np.zeros(Zt.shape[0], dtype=np.bool_)
        Z64 = Zt.astype(np.float64)
        self._zsq = (Z64 * Z64).sum(axis=1)
        self._colobj = (-0.5 * Z64 * (self.Bt + self._Rt) + self._theta64 * np.abs(Z64)).sum(axis=1)

    def _iterate(self):
        dsq, prevsq = _kernels.cd_sweep(self.G, self.Bt, self.theta, self._Zt, self._Rt, self._done, self._zsq,
                                        self._colobj, self.patch_tol)
        return float(np.sqrt(dsq) / max(np.sqrt(prevsq), 1e-30))  # NaN if a code became non-finite

    def _objective(self):
        return self._half_xsq + float(self._colobj.sum())

    def _converged(self, rel):
        return rel <= self.tol or bool(self._done.all())

    def _result(self, converged):
        res = super()._result(converged)
        res.Z = np.ascontiguousarray(self._Zt.T)
        res.extras["n_patches_done"] = int(self._done.sum())
        return res


def coordinate_descent(X, problem: LowRankSparseProblem, **kw) -> SolverResult:
    """Functional form of :class:`CoordinateDescent`."""
    callback = kw.pop("callback", None)
    return CoordinateDescent(X, problem, **kw).solve(callback)
