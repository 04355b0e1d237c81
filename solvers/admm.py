r"""Inexact augmented Lagrangian method (ADMM) for the constrained decomposition of Eq. 1.

.. math:: \min_{L, S}\ \lambda_1\|L\|_* + \lambda_2\|S\|_1 \quad\text{s.t.}\quad X = D_1L + D_2S = DZ

(the paper's Eq. 1 with :math:`\lambda = \lambda_2/\lambda_1`; the dictionaries are fixed). As in the inexact ALM of
Lin, Chen & Ma (2010) and the LRR solver of Liu et al. (2013), auxiliary variables :math:`W = (J; K)` copy
:math:`Z = (L; S)` so that every step has a closed form:

.. math:: \min\ \lambda_1\|J\|_* + \lambda_2\|K\|_1 \quad\text{s.t.}\quad X = DZ,\ Z = W.

With multipliers :math:`Y_1` (for :math:`X - DZ`), :math:`Y_2` (for :math:`Z - W`) and penalty :math:`\rho`, one
iteration is

.. math::
    J_k &= \mathrm{SVT}_{\lambda_1/\rho_k}\big(L_{k-1} + Y_{2,L}/\rho_k\big),\qquad
    K_k = h_{\lambda_2/\rho_k}\big(S_{k-1} + Y_{2,S}/\rho_k\big)\\
    (D^TD + I)\,Z_k &= D^T(X + Y_1/\rho_k) + W_k - Y_2/\rho_k\\
    Y_1 &\leftarrow Y_1 + \rho_k(X - DZ_k),\qquad Y_2 \leftarrow Y_2 + \rho_k(Z_k - W_k)

The Z-step uses :math:`(D^TD + I)^{-1}`, computed once from a Cholesky factorisation (``scipy.linalg.cho_factor``)
and applied as two matrix products, :math:`Z_k = P(X + Y_1/\rho_k) + Q(W_k - Y_2/\rho_k)` with
:math:`Q = (D^TD + I)^{-1}`, :math:`P = QD^T` (faster than two triangular solves per iteration).

Penalty rule: :math:`\rho` never decreases, :math:`\rho_{k+1} = \min(\rho_k\cdot\text{rho\_factor}, \rho_{\max})` when
the rule says grow, else :math:`\rho_{k+1} = \rho_k`:

* ``"balance"`` (default): grow while the primal residual exceeds the dual residual (the increasing half of the
  residual balancing of He, Yang & Wang 2000 / Boyd et al. 2011, Sec. 3.4.1). For ``tol = 1e-7`` with
  rho_factor 1.1 it needed 430 iterations on a random 16 x 200 problem (``"lin"``: 3000) and 5900 on 465 image
  patches of 8 x 8 with 80 atoms (``"lin"``: not converged after 6000).
* ``"lin"``: grow only when the dual residual is below ``tol`` (the adaptive penalty of Lin, Liu & Su 2011).
* ``"geometric"``: grow every iteration (Lin's ``inexact_alm_rpca`` code, Liu's LRR code). It reaches feasibility
  fast, but once :math:`\rho` is far above its useful range the dual residual decreases very slowly (a thousand
  times rho0 was already too much in our tests): use it with a ``rho_max`` of the size of the useful penalty.

The default start :math:`\rho_0 = 1.25\max(\lambda_1, \lambda_2)/\|X\|_2` is Lin's :math:`1.25/\|X\|_2` for a unit
weight on the nuclear norm: the first W-step thresholds almost everything and :math:`\rho` grows into the range where
the thresholds :math:`\lambda/\rho` are of the size of the coefficients. As :math:`\rho` is non-decreasing and bounded
it is eventually constant, and from then on the method is ordinary two-block ADMM (blocks W and Z), which converges
for any fixed :math:`\rho`.

Residuals (history fields; dimensionless, so the iterates and the stopping do not depend on the scale of X or of
:math:`(\lambda_1, \lambda_2)`):

* ``constraint_residual`` :math:`\|X - DZ_k\|_F/\|X\|_F` (Eq. 1's constraint, for the Z iterate);
* ``primal_residual`` :math:`\|(X - DZ_k;\ Z_k - W_k)\|_F/\|X\|_F` (the whole constraint of the split problem);
* ``dual_residual`` :math:`\rho_k\|Z_k - Z_{k-1}\|_F/\|Y_2\|_F`. After the multiplier updates the Z-step's optimality
  condition holds exactly (:math:`D^TY_1 = Y_2`) while the W-step's holds up to :math:`\rho_k(Z_k - Z_{k-1})`
  (:math:`Y_2 - \rho_k(Z_k - Z_{k-1}) \in \partial(\lambda_1\|J\|_* + \lambda_2\|K\|_1)(W_k)`): this is the
  residual that certifies optimality (Boyd et al. 2011, Sec. 3.3; Z is the block updated second; the change of W
  is not, as W may keep moving on a flat face of the penalty). It is measured relative to the dual variable
  :math:`Y_2 = D^TY_1` (Boyd's relative criterion), which has the units of :math:`\lambda`;
* ``penalty``: :math:`\rho_k` used in iteration k;
* ``objective``: Eq. 1, :math:`\lambda_1\|L_k\|_* + \lambda_2\|S_k\|_1`
  (:meth:`~solvers.problem.LowRankSparseProblem.eq1`), of the Z iterate.

Stopping: ``primal_residual <= tol`` and ``dual_residual <= tol`` (not the template's relative change). With
``tol = 1e-6`` the objective was within 2e-8 (relative) of the optimum in our tests. Float32 rounding keeps the
residuals near 1e-6 .. 1e-5, hence the float32 default ``tol = 1e-5``. ADMM is slow to high accuracy: thousands of
iterations for ``tol = 1e-7`` on image patches.

Returned solution: the last Z iterate projected onto the constraint set,
:math:`Z = Z_k + D^+(X - DZ_k)` (:math:`D^+` the pseudo-inverse, computed once from an SVD of D in float64), so that
:math:`\|X - D_1L - D_2S\|_F/\|X\|_F` is at rounding level (about 1e-15 in float64, 1e-7 in float32) whatever ``tol``;
the projection moves Z by at most :math:`\|D^+\|_2\|X - DZ_k\|_F`. The auxiliary :math:`W_k` (exactly low-rank /
sparse, feasible only up to the residuals), the unprojected :math:`Z_k` and the multipliers are in ``result.extras``
(``"W"``, ``"Z_iterate"``, ``"Y1"``, ``"Y2"``, ``"rho"``). :math:`Y_1` is an approximate solution of the dual
problem :math:`\max_Y \langle Y, X\rangle` s.t. :math:`\|D_1^TY\|_2 \le \lambda_1`, :math:`\|D_2^TY\|_\infty \le
\lambda_2`.

Feasibility: the constraint can hold for every X only if :math:`D = (D_1, D_2)` has full row rank. A rank-deficient D
raises ``ValueError`` when X is not in its range (relative distance > 1e-6) and warns otherwise.

References
----------
Z. Lin, M. Chen, Y. Ma, "The augmented Lagrange multiplier method for exact recovery of corrupted low-rank matrices",
arXiv:1009.5055, 2010. G. Liu, Z. Lin, S. Yan, J. Sun, Y. Yu, Y. Ma, "Robust recovery of subspace structures by
low-rank representation", IEEE TPAMI 35(1), 2013. S. Boyd et al., "Distributed optimization and statistical learning
via the alternating direction method of multipliers", Found. Trends Mach. Learn. 3(1), 2011. B. He, H. Yang, S. Wang,
"Alternating direction method with self-adaptive penalty parameters for monotone variational inequalities", J. Optim.
Theory Appl. 106(2), 2000. Z. Lin, R. Liu, Z. Su, "Linearized alternating direction method with adaptive penalty for
low-rank representation", NIPS 2011.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ._validation import check_scalar, common_float_dtype
from .base import IterativeSolver, SolverResult
from .problem import LowRankSparseProblem
from .prox import soft_threshold, svt

__all__ = ["ADMM", "admm", "RHO_RULES"]

RHO_RULES = ("balance", "lin", "geometric")
_BALANCE = 1.0  # "balance" grows rho while primal > _BALANCE * dual
_TINY = 1e-30


class ADMM(IterativeSolver):
    r"""Inexact ALM / ADMM for Eq. 1 with an increasing penalty (module docstring for the updates).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    problem : LowRankSparseProblem
        D1, D2 (``D = (D1, D2)`` must have full row rank, or X must lie in its range), lam1, lam2; lam3 and mu are
        not used, ridge must be 0 (Eq. 1 has no ridge term). With ``low_rank_norm="l1"`` the J-step soft-thresholds
        instead of the SVT and the objective is :meth:`~solvers.problem.LowRankSparseProblem.penalty`.
    rho0 : float, optional
        Initial penalty; default ``1.25 * max(lam1, lam2) / ||X||_2`` (``1.25 / ||X||_2`` if both are 0).
    rho_factor : float, default 1.1
        Growth factor of the penalty, ``>= 1`` (1 keeps it fixed: plain ADMM).
    rho_max : float, default 1e10
        Upper bound of the penalty, ``>= rho0``.
    rho_rule : {"balance", "lin", "geometric"}, default "balance"
        When the penalty grows (module docstring): while the primal residual exceeds the dual one, when the dual
        residual is below ``tol``, or every iteration.
    tol : float, optional
        Bound on the relative primal and dual residuals; 0 runs exactly ``max_iter`` iterations. Default 1e-6 in
        float64 and 1e-5 in float32 (float32 rounding keeps the residuals near 1e-6 .. 1e-5).
    max_iter : int, default 2000
    Z0 : ndarray of shape (n_atoms, n_patches), optional
        Start for Z (and W); default the minimum-norm feasible point :math:`D^+X`. The multipliers start at 0.
    track_objective : bool, default True
        Record Eq. 1 of every iterate.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import LowRankSparseProblem
    >>> rng = np.random.default_rng(0)
    >>> prob = LowRankSparseProblem(rng.standard_normal((8, 4)), rng.standard_normal((8, 12)), lam1=1.0, lam2=0.3)
    >>> X = rng.standard_normal((8, 40))
    >>> res = ADMM(X, prob).solve()
    >>> res.converged, bool(np.linalg.norm(X - prob.D @ res.Z) <= 1e-12 * np.linalg.norm(X))
    (True, True)
    """

    name = "admm"
    extra_fields = ("primal_residual", "constraint_residual", "dual_residual", "penalty")

    def __init__(self, X, problem, *, rho0=None, rho_factor=1.1, rho_max=1e10, rho_rule="balance", tol=None,
                 max_iter=2000, Z0=None, track_objective=True):
        self.rho_factor = check_scalar(rho_factor, "rho_factor", low=1.0)
        self.rho_max = check_scalar(rho_max, "rho_max", low=0.0, low_inclusive=False)
        self._user_rho0 = None if rho0 is None else check_scalar(rho0, "rho0", low=0.0, low_inclusive=False)
        if isinstance(problem, LowRankSparseProblem) and problem.ridge != 0:
            raise ValueError(f"ADMM solves Eq. 1, which has no ridge term; got a problem with ridge={problem.ridge:g}")
        if tol is None:
            single = isinstance(problem, LowRankSparseProblem) and common_float_dtype(
                problem.check_X(X), problem.D1) == np.float32
            tol = 1e-5 if single else 1e-6
        if rho_rule not in RHO_RULES:
            raise ValueError(f"rho_rule must be one of {RHO_RULES}, got {rho_rule!r}")
        self.rho_rule = rho_rule
        super().__init__(X, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)

    # ------------------------------------------------------------------ setup
    def _setup(self):
        p, X = self.problem, self.X
        D64 = p.D.astype(np.float64)
        X64 = X.astype(np.float64, copy=False)
        m = p.n_features
        U, s, Vt = np.linalg.svd(D64, full_matrices=False)
        rank = int(np.count_nonzero(s > max(D64.shape) * np.finfo(np.float64).eps * s[0])) if s[0] > 0 else 0
        if rank < m:
            Ur = U[:, :rank]
            dist = np.linalg.norm(X64 - Ur @ (Ur.T @ X64)) / max(np.linalg.norm(X64), _TINY)
            msg = (f"D = (D1, D2) of shape {D64.shape} does not have full row rank (rank {rank} < n_features = {m}), "
                   "so X = D1 L + D2 S is not solvable for every X")
            if dist > 1e-6:
                raise ValueError(f"{msg}; this X is at relative distance {dist:.3g} from the range of D, so Eq. 1 is "
                                 "infeasible. Use dictionaries with at least n_features independent atoms, or the "
                                 "penalised problem (ista/fista)")
            warnings.warn(f"{msg}; this X lies in the range of D, so ADMM proceeds", UserWarning, stacklevel=4)
        # pseudo-inverse D^+ = V_r diag(1/s_r) U_r^T, for the start D^+X and the final projection
        self._pinv = (Vt[:rank].T / s[:rank]) @ U[:, :rank].T
        self._nx = max(float(np.linalg.norm(X64)), _TINY)
        gram = D64.T @ D64
        # (D^TD + I)^{-1} from one Cholesky factorisation, applied as two matrix products per iteration:
        # Z = P (X + Y1/rho) + Q (W - Y2/rho) with Q = (D^TD + I)^{-1}, P = Q D^T.
        Q = cho_solve(cho_factor(gram + np.eye(p.n_atoms), lower=True), np.eye(p.n_atoms))
        self._Q = np.ascontiguousarray(Q, dtype=self.dtype)
        self._P = np.ascontiguousarray(Q @ D64.T, dtype=self.dtype)
        if self._user_rho0 is None:
            xs = float(np.sqrt(np.linalg.eigvalsh(X64 @ X64.T if m <= X.shape[1] else X64.T @ X64)[-1]))
            xs = xs if xs > 0 else 1.0
            lam = max(p.lam1, p.lam2)
            self.rho0 = 1.25 * (lam if lam > 0 else 1.0) / xs
        else:
            self.rho0 = self._user_rho0
        if self.rho_max < self.rho0:
            raise ValueError(f"rho_max={self.rho_max:g} must be >= rho0={self.rho0:g}")
        self.rho = self.rho0
        self.Y1 = np.zeros_like(X)
        self.Y2 = np.zeros((p.n_atoms, X.shape[1]), dtype=self.dtype)
        self._stats = (np.inf, np.inf, np.inf, self.rho)

    def _initial(self):
        Z = (self._pinv @ self.X.astype(np.float64, copy=False)).astype(self.dtype)
        self.W = Z.copy()
        return Z

    def _warm_start(self):
        self.W = self.Z.copy()

    # ------------------------------------------------------------------ one iteration
    def _iterate(self):
        p, rho = self.problem, self.rho
        nl = p.n_low
        Z_prev = self.Z
        inv = self.dtype.type(1.0 / rho)
        V = Z_prev + inv * self.Y2
        W = np.empty_like(V)
        if nl and p.low_rank_norm == "nuclear":
            W[:nl] = svt(V[:nl], p.lam1 / rho)
        elif nl:
            soft_threshold(V[:nl], p.lam1 / rho, out=W[:nl])
        soft_threshold(V[nl:], p.lam2 / rho, out=W[nl:])
        Z = self._P @ (self.X + inv * self.Y1)
        Z += self._Q @ (W - inv * self.Y2)
        R1 = self.X - p.D @ Z
        R2 = Z - W
        self.Y1 += self.dtype.type(rho) * R1
        self.Y2 += self.dtype.type(rho) * R2
        r1 = float(np.linalg.norm(R1)) / self._nx
        r2 = float(np.linalg.norm(R2)) / self._nx
        primal = float(np.hypot(r1, r2))
        dual = rho * float(np.linalg.norm(Z - Z_prev)) / max(float(np.linalg.norm(self.Y2)), _TINY)
        self._stats = (primal, r1, dual, rho)
        if self.rho_rule == "balance":
            grow = primal > _BALANCE * dual
        else:
            grow = self.rho_rule == "geometric" or dual <= self.tol
        if grow:
            self.rho = min(rho * self.rho_factor, self.rho_max)
        self.W, self.Z = W, Z
        return Z_prev

    def _objective(self):
        return self.problem.penalty(self.Z)  # = problem.eq1(L, S) for the nuclear norm

    def _extra_history(self):
        return dict(zip(self.extra_fields, self._stats, strict=True))

    def _converged(self, rel):
        primal, _, dual, _ = self._stats
        return primal <= self.tol and dual <= self.tol

    def _advice(self):
        primal, _, dual, rho = self._stats
        hint = f"; last primal residual {primal:.3g}, dual residual {dual:.3g}, rho {rho:.3g}"
        if dual > 100 * primal and rho >= self.rho_max:
            hint += " (rho reached rho_max and the dual residual lags: lower rho_max or rho_factor)"
        elif primal > 100 * dual:
            hint += " (the primal residual lags: raise rho_factor or rho0)"
        return hint

    def _result(self, converged):
        res = super()._result(converged)
        Z_it = self.Z
        X64 = self.X.astype(np.float64, copy=False)
        Z64 = Z_it.astype(np.float64)
        Z64 += self._pinv @ (X64 - self.problem.D.astype(np.float64) @ Z64)
        res.Z = Z64.astype(self.dtype)
        res.extras.update(Z_iterate=Z_it, W=self.W, Y1=self.Y1, Y2=self.Y2, rho=self.rho)
        return res


def admm(X, problem: LowRankSparseProblem, **kw) -> SolverResult:
    """Functional form of :class:`ADMM`: ``ADMM(X, problem, **kw).solve(callback)`` (``callback`` may be in kw)."""
    callback = kw.pop("callback", None)
    return ADMM(X, problem, **kw).solve(callback)
