r"""Algorithm 1 of the paper (LLRR by LISTA with fixed D1, D2), verbatim, in its patch (matrix) form.

.. code-block:: text

    D = (D1, D2),  lam3_hat = 1 - lam3
    H = lam3_hat I - mu D^T D,   We = mu D^T,   theta = mu (lam1; lam2)  (one threshold per block of rows)
    B = We X,  Z_0 = h_theta(B)
    for t = 1..T:  Z_t = h_theta(B + H Z_{t-1})
    Z = Z_T = (L; S),  P_l = D1 L,  P_s = D2 S

What it minimises (documented and tested): the update is one proximal-gradient step of size mu on

.. math:: G(Z) = \tfrac12\|X - DZ\|_F^2 + \tfrac{\lambda_3}{2\mu}\|Z\|_F^2 + \lambda_1\|L\|_1 + \lambda_2\|S\|_1,

since :math:`Z - \mu\nabla(\tfrac12\|X-DZ\|^2 + \tfrac{\lambda_3}{2\mu}\|Z\|^2) = \mu D^TX + ((1-\lambda_3)I -
\mu D^TD)Z = B + HZ` and :math:`h_\theta` with :math:`\theta = \mu(\lambda_1;\lambda_2)` is
:math:`\operatorname{prox}_{\mu(\lambda_1\|L\|_1 + \lambda_2\|S\|_1)}`. So its fixed points are the minimisers of G
(:meth:`~solvers.problem.LowRankSparseProblem.algorithm1_objective`), and, as for any proximal-gradient step (the
sufficient-decrease bound), G never increases and the iterates converge when :math:`\mu\|D\|_2^2 + \lambda_3 < 2`.
The "low-rank" block is thresholded with an l1 norm, not the nuclear norm of Eq. 2: L is sparse-coded like S,
with its own weight. The nuclear-norm model is solved by :mod:`solvers.ista`, :mod:`solvers.admm` and
:mod:`solvers.factored`.
"""

from __future__ import annotations

import numpy as np

from ._linalg import affine_threshold
from .base import IterativeSolver, SolverResult
from .problem import LowRankSparseProblem
from .prox import soft_threshold

__all__ = ["Algorithm1", "algorithm1"]


class Algorithm1(IterativeSolver):
    """Algorithm 1 in the solver template (see the module docstring for the update and its objective).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    problem : LowRankSparseProblem
        D1, D2, lam1, lam2, lam3 and mu (default ``1 / problem.lipschitz()``).
    tol : float, default 0
        0 runs exactly ``max_iter`` iterations after Z_0 (the paper's fixed T); > 0 stops on the relative change.
    max_iter : int, default 4
        T.
    Z0 : ndarray, optional
        Warm start replacing ``h_theta(B)``.
    track_objective : bool, default True
        Record :math:`G(Z_t)` in the history.
    return_iterates : bool, default False
        Keep copies of Z_0 .. Z_T in ``result.iterates``.

    Attributes
    ----------
    H, We, B : ndarray
        The matrices of Algorithm 1 (shapes (K, K), (K, n_features), (K, n_patches)).
    theta : ndarray of shape (n_atoms,)
    """

    name = "algorithm1"

    def __init__(self, X, problem, *, tol=0.0, max_iter=4, Z0=None, track_objective=True, return_iterates=False):
        self.return_iterates = bool(return_iterates)
        super().__init__(X, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)
        self.iterates = [self.Z.copy()] if self.return_iterates else None

    def _setup(self):
        p = self.problem
        if p.ridge:
            raise ValueError(
                f"Algorithm 1 takes its ridge from lam3 (H = (1 - lam3) I - mu D^T D); got a problem with ridge="
                f"{p.ridge}: pass lam3 instead"
            )
        self.mu = p.step
        K = p.n_atoms
        self.We = (self.mu * p.D.T).astype(self.dtype)
        self.H = np.ascontiguousarray(
            (1.0 - p.lam3) * np.eye(K, dtype=self.dtype) - self.mu * p.gram, dtype=self.dtype
        )
        self.B = np.ascontiguousarray(self.We @ self.X)
        self.theta = p.thresholds(self.mu)
        self._objective_problem = p.algorithm1_problem(self.mu)
        self._buf = np.empty_like(self.B)

    def _initial(self):
        return soft_threshold(self.B, self.theta)

    def _iterate(self):
        affine_threshold(self.H, self.Z, self.B, self.theta, self._buf)
        self.Z, self._buf = self._buf, self.Z
        if self.return_iterates:
            self.iterates.append(self.Z.copy())
        return self._buf

    def _objective(self):
        return self._objective_problem.objective(self.X, self.Z)

    def _advice(self):
        p = self.problem
        bound = self.mu * p.lipschitz() + p.lam3
        if bound >= 2:
            return f"; mu*||D||^2 + lam3 = {bound:.3g} >= 2, so Algorithm 1 diverges: use mu <= 1/lipschitz"
        return ""

    def _result(self, converged):
        res = super()._result(converged)
        res.iterates = self.iterates
        return res


def algorithm1(
    X,
    D1,
    D2,
    *,
    lam1: float,
    lam2: float,
    lam3: float = 0.0,
    mu: float | None = None,
    n_iter: int = 4,
    return_iterates: bool = False,
    tol: float = 0.0,
    track_objective: bool = True,
) -> SolverResult:
    r"""Run the paper's Algorithm 1 on a patch matrix.

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
        Patches as columns (:func:`solvers.extract_patches`).
    D1 : ndarray of shape (n_features, n_low)
        Base dictionary.
    D2 : ndarray of shape (n_features, n_sparse)
        Salient dictionary.
    lam1, lam2, lam3 : float
        Weights (``>= 0``); thresholds are ``mu * lam1`` on L and ``mu * lam2`` on S, and H uses ``1 - lam3``.
    mu : float, optional
        Step (``We = mu D^T``); default ``1 / ||D||_2^2``.
    n_iter : int, default 4
        T, the number of iterations after ``Z_0 = h_theta(B)``.
    return_iterates : bool, default False
        Return Z_0 .. Z_T (T + 1 arrays) in ``result.iterates``.
    tol : float, default 0
        If > 0, stop early when the relative change falls below it (and warn if n_iter is reached first).
    track_objective : bool, default True
        Record :math:`G(Z_t)` (module docstring) in ``result.history["objective"]``.

    Returns
    -------
    SolverResult
        ``Z``, ``L``, ``S``, ``low_rank`` (= D1 L, the paper's P_l), ``sparse`` (= D2 S, P_s), ``iterates``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0]])
    >>> res = algorithm1(X, [[1.0]], [[1.0]], lam1=1.0, lam2=0.5, mu=0.25, n_iter=1, return_iterates=True)
    >>> res.iterates[0].ravel(), res.Z.ravel()
    (array([0.5  , 0.625]), array([0.71875, 0.96875]))
    """
    problem = LowRankSparseProblem(D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, mu=mu)
    solver = Algorithm1(
        X, problem, tol=tol, max_iter=n_iter, return_iterates=return_iterates, track_objective=track_objective
    )
    return solver.solve()
