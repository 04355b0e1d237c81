r"""ISTA and FISTA for the coding problem of Eq. 2/5 with fixed dictionaries.

Minimise :math:`F(Z) = \tfrac12\|X - DZ\|_F^2 + \tfrac r2\|Z\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1` (the
problem's :meth:`~solvers.problem.LowRankSparseProblem.objective`; r = 0 and the true nuclear norm by default, l1 on
L for ``low_rank_norm="l1"``) by proximal gradient steps of size :math:`\alpha`:

.. math:: Z_{k+1} = \operatorname{prox}_{\alpha g}(Y_k - \alpha\nabla f(Y_k)),\quad
          \operatorname{prox}_{\alpha g}(V) = (\mathrm{SVT}_{\alpha\lambda_1}(V_L);\; h_{\alpha\lambda_2}(V_S))

with :math:`\nabla f(Y) = D^TDY - D^TX + rY`, computed as :math:`B + HY` with :math:`H = I - \alpha(D^TD + rI)`,
:math:`B = \alpha D^TX` (the same fused kernel as Algorithm 1). ISTA takes :math:`Y_k = Z_k`; FISTA (Beck & Teboulle
2009) :math:`Y_k = Z_k + \tfrac{t_{k-1} - 1}{t_k}(Z_k - Z_{k-1})`, :math:`t_k = (1 + \sqrt{1 + 4t_{k-1}^2})/2`,
optionally with the gradient-based adaptive restart of O'Donoghue & Candes (2015).

The default step is :math:`1/\mathrm{Lip}` (:math:`\mathrm{Lip} = \|D\|_2^2 + r`, power iteration), for which ISTA's
objective never increases. A user step of :math:`2/\mathrm{Lip}` or more is an error (the iteration need not converge).

References
----------
A. Beck, M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear inverse problems", SIAM J.
Imaging Sci. 2(1), 2009. B. O'Donoghue, E. Candes, "Adaptive restart for accelerated gradient schemes", Found.
Comput. Math. 15, 2015.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._linalg import affine_threshold
from ._validation import check_scalar
from .base import IterativeSolver, SolverResult
from .problem import LowRankSparseProblem
from .prox import svt

__all__ = ["ISTA", "FISTA", "ista", "fista"]


class ISTA(IterativeSolver):
    """Proximal gradient descent (module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    problem : LowRankSparseProblem
    step : float, optional
        Step size alpha; default ``1 / problem.lipschitz()``; must be < ``2 / problem.lipschitz()``.
    tol, max_iter, Z0, track_objective
        See :class:`~solvers.base.IterativeSolver`.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import LowRankSparseProblem
    >>> rng = np.random.default_rng(0)
    >>> prob = LowRankSparseProblem(rng.standard_normal((16, 4)), rng.standard_normal((16, 8)), lam1=0.5, lam2=0.1)
    >>> res = ISTA(rng.standard_normal((16, 30)), prob, max_iter=2000, tol=1e-9).solve()
    >>> bool(np.all(np.diff(res.history["objective"]) <= 1e-12))
    True
    """

    name = "ista"

    def __init__(self, X, problem, *, step=None, tol=1e-6, max_iter=500, Z0=None, track_objective=True):
        self._user_step = step
        super().__init__(X, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)

    def _setup(self):
        p = self.problem
        lip = p.lipschitz()
        if self._user_step is None:
            self.step_size = 1.0 / lip
        else:
            self.step_size = check_scalar(self._user_step, "step", low=0.0, low_inclusive=False)
            if self.step_size >= 2.0 / lip:
                raise ValueError(
                    f"step={self.step_size:g} is not below 2/Lipschitz = {2.0 / lip:g} (Lipschitz constant "
                    f"||D||_2^2 + ridge = {lip:g}); proximal gradient need not converge. Use step <= {1.0 / lip:g}"
                )
        a = self.step_size
        K = p.n_atoms
        self.H = np.ascontiguousarray(
            (1.0 - a * p.ridge) * np.eye(K) - a * p.gram.astype(np.float64), dtype=self.dtype
        )
        self.B = np.ascontiguousarray((a * p.D.T.astype(np.float64)).astype(self.dtype) @ self.X)
        self.theta = p.thresholds(a)
        self._nuclear = p.low_rank_norm == "nuclear" and p.n_low > 0
        if self._nuclear:
            self.theta[: p.n_low] = 0  # L gets singular value thresholding instead (theta 0 is the identity)
        self._buf = np.empty_like(self.B)
        self._lbuf = np.empty((p.n_low, self.X.shape[1]), dtype=self.dtype) if self._nuclear else None

    def _prox_step(self, Y: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = prox_{alpha g}(Y - alpha grad f(Y))``."""
        affine_threshold(self.H, Y, self.B, self.theta, out)
        if self._nuclear:
            L = out[: self.problem.n_low]
            svt(L, self.step_size * self.problem.lam1, out=self._lbuf)
            L[...] = self._lbuf
        return out

    def _iterate(self):
        self._prox_step(self.Z, self._buf)
        self.Z, self._buf = self._buf, self.Z
        return self._buf


class FISTA(ISTA):
    """Accelerated proximal gradient (module docstring).

    Parameters
    ----------
    restart : bool, default True
        Gradient-based adaptive restart: reset the momentum when ``<Y_k - Z_{k+1}, Z_{k+1} - Z_k> > 0``.
    Other parameters as :class:`ISTA`.
    """

    name = "fista"

    def __init__(self, X, problem, *, step=None, restart=True, tol=1e-6, max_iter=500, Z0=None,
                 track_objective=True):
        self.restart = bool(restart)
        super().__init__(X, problem, step=step, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)
        self._reset()

    def _reset(self):
        self.t = 1.0
        self._Y = self.Z.copy()
        self.n_restarts = 0

    def _warm_start(self):
        self._Y = self.Z.copy()

    def _iterate(self):
        Z_prev = self.Z
        Z_new = self._prox_step(self._Y, self._buf)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * self.t * self.t))
        flat = (Z_new.reshape(-1), Z_prev.reshape(-1), self._Y.reshape(-1))
        if self.restart and _kernels.restart_inner(flat[2], flat[0], flat[1]) > 0:
            t_new, beta = 1.0, 0.0
            self.n_restarts += 1
        else:
            beta = (self.t - 1.0) / t_new
        # Y_{k+1} = Z_{k+1} + beta (Z_{k+1} - Z_k), written into the old Y buffer in one pass.
        _kernels.momentum(flat[0], flat[1], self.dtype.type(beta), flat[2])
        self.t = t_new
        self.Z, self._buf = Z_new, Z_prev
        return Z_prev

    def _result(self, converged):
        res = super()._result(converged)
        res.extras["n_restarts"] = self.n_restarts
        return res


def _run(cls, X, problem: LowRankSparseProblem, **kw) -> SolverResult:
    callback = kw.pop("callback", None)
    return cls(X, problem, **kw).solve(callback)


def ista(X, problem: LowRankSparseProblem, **kw) -> SolverResult:
    """Functional form of :class:`ISTA`: ``ISTA(X, problem, **kw).solve()``."""
    return _run(ISTA, X, problem, **kw)


def fista(X, problem: LowRankSparseProblem, **kw) -> SolverResult:
    """Functional form of :class:`FISTA`: ``FISTA(X, problem, **kw).solve()``."""
    return _run(FISTA, X, problem, **kw)
