r"""The factored form of the model (Eq. 3-5): L = AB, solved by exact block coordinate descent.

With fixed dictionaries, Eq. 5 with :math:`Z = (AB; S)` reads

.. math:: \min_{A, B, S}\ E(A, B, S) = \tfrac12\|X - D_1AB - D_2S\|_F^2 + \tfrac{\lambda_1}{2}(\|A\|_F^2 + \|B\|_F^2)
          + \lambda_2\|S\|_1 + \phi(D)

with :math:`A` of shape (n_low, r) and :math:`B` of shape (r, n_patches); :math:`\phi(D) = \lambda_3(\|D_1\|_F^2 +
\|D_2\|_F^2)` is a constant here (:meth:`~solvers.problem.LowRankSparseProblem.eq5` includes it). By Eq. 3,
:math:`\|L\|_* = \min_{AB = L}\tfrac12(\|A\|_F^2 + \|B\|_F^2)` whenever :math:`r \ge \operatorname{rank} L`, so for
:math:`r \ge \operatorname{rank} L^*` the minimum of E equals the minimum of the nuclear-norm objective
:math:`F(Z) + \phi(D)` (:meth:`~solvers.problem.LowRankSparseProblem.objective` with ``include_phi=True``), reached
at the balanced factorisation of :math:`L^*` (Burer & Monteiro 2003; Recht, Fazel & Parrilo 2010). With a smaller r
E can only be larger: it is then the nuclear objective restricted to rank-r matrices L.

One iteration minimises over each block in turn, with :math:`R = X - D_2S`:

* A-step (exact): :math:`\nabla_A E = 0` is the Sylvester-type equation
  :math:`D_1^TD_1\,A\,(BB^T) + \lambda_1A = D_1^TRB^T`. With :math:`D_1^TD_1 = P\Lambda P^T` and
  :math:`BB^T = Q\,M\,Q^T` (eigendecompositions, in float64), :math:`A = P\big[(P^TD_1^TRB^TQ)_{ij} /
  (\Lambda_i M_j + \lambda_1)\big]Q^T` (for :math:`\lambda_1 = 0` the pseudo-inverse: zero where the denominator is 0).
* B-step (exact, ridge regression): with :math:`M = D_1A`, :math:`(M^TM + \lambda_1I)\,B = M^TR`.
* S-step: ``n_inner`` proximal-gradient (ISTA) steps from the current S with step :math:`1/\|D_2\|_2^2`:
  :math:`S \leftarrow h_{\lambda_2/\|D_2\|^2}\big(S - D_2^T(D_1AB + D_2S - X)/\|D_2\|_2^2\big)`.

The A- and B-steps are exact minimisers and an ISTA step of size :math:`1/\mathrm{Lip}` never increases its objective,
so E never increases (up to rounding). E is not convex in (A, B), but for :math:`r \ge \operatorname{rank} L^*` a local
minimiser with a column of A and the matching row of B equal to zero is a global one (Haeffele & Vidal), and a
balanced rank-deficient factorisation can be rotated (:math:`A \to AR`, :math:`B \to R^TB`, R orthogonal, E unchanged)
into that form. In our tests the method reached the nuclear-norm minimum to the accuracy of the FISTA reference
(about 1e-9 relative) for every :math:`r \ge \operatorname{rank} L^*`.

Initialisation: the minimum-norm least-squares coefficients :math:`Z_{ls} = D^+X = (L_{ls}; S_{ls})`, :math:`S_0 =
S_{ls}` and the balanced rank-r truncated SVD of :math:`L_{ls} = U\Sigma V^T`: :math:`A_0 = U_r\Sigma_r^{1/2}`,
:math:`B_0 = \Sigma_r^{1/2}V_r^T` (a warm start Z0 is split and factorised the same way). Singular values below
``1e-3`` times the largest are raised to that floor, because a zero column of A (row of B) stays zero under the
updates. So :math:`\|A_0\|_F = \|B_0\|_F`.

Stopping: the template's relative change of :math:`Z = (AB; S)`. ``result.Z = (AB; S)``; ``result.extras`` holds
``"A"``, ``"B"`` and ``"rank"``.

References
----------
S. Burer, R. D. C. Monteiro, "A nonlinear programming algorithm for solving semidefinite programs via low-rank
factorization", Math. Program. 95, 2003. B. Recht, M. Fazel, P. A. Parrilo, "Guaranteed minimum-rank solutions of
linear matrix equations via nuclear norm minimization", SIAM Review 52(3), 2010. B. D. Haeffele, R. Vidal, "Structured
low-rank matrix factorization: global optimality, algorithms, and applications", IEEE TPAMI 42(6), 2020.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_int
from .base import IterativeSolver, SolverResult
from .problem import LowRankSparseProblem, power_iteration
from .prox import soft_threshold

__all__ = ["Factored", "factored"]

_FLOOR = 1e-3  # smallest singular value of the start, relative to the largest


def _eig_solve(G: np.ndarray, lam: float, rhs: np.ndarray) -> np.ndarray:
    """``(G + lam I)^+ rhs`` for a symmetric positive semi-definite G, in float64 (zero on a zero denominator)."""
    w, V = np.linalg.eigh(G)
    den = np.clip(w, 0.0, None) + lam
    inv = np.zeros_like(den)
    ok = den > max(den.max(initial=0.0), 1.0) * 1e-14 if lam == 0 else den > 0
    inv[ok] = 1.0 / den[ok]
    return V @ (inv[:, None] * (V.T @ rhs))


class Factored(IterativeSolver):
    r"""Block coordinate descent on Eq. 5 with L = AB (module docstring for the updates).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    problem : LowRankSparseProblem
        D1 (at least one atom), D2, lam1, lam2, lam3 (in the constant :math:`\phi(D)`); ``low_rank_norm`` must be
        "nuclear" and ``ridge`` 0 (Eq. 5 has neither an l1 norm on L nor a ridge).
    rank : int, optional
        r, the number of columns of A; ``1 <= r <= min(n_low, n_patches)``. Default ``min(n_low, n_patches)``, for
        which the minimum of Eq. 5 always equals the nuclear-norm minimum.
    n_inner : int, default 10
        ISTA steps on S per iteration, ``>= 1``.
    tol : float, default 1e-6
        Relative change of ``Z = (AB; S)`` at which to stop; 0 runs exactly ``max_iter`` iterations.
    max_iter : int, default 1000
    Z0 : ndarray of shape (n_atoms, n_patches), optional
        Start: S0 is its S block, A0 and B0 the balanced rank-r factors of its L block.
    track_objective : bool, default True
        Record Eq. 5 (:meth:`~solvers.problem.LowRankSparseProblem.eq5`, with :math:`\phi(D)`) every iteration.

    Attributes
    ----------
    A : ndarray of shape (n_low, rank)
    B : ndarray of shape (rank, n_patches)
    S : ndarray of shape (n_sparse, n_patches)

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import LowRankSparseProblem
    >>> rng = np.random.default_rng(0)
    >>> prob = LowRankSparseProblem(rng.standard_normal((16, 4)), rng.standard_normal((16, 8)), lam1=2.0, lam2=0.5)
    >>> res = Factored(rng.standard_normal((16, 50)), prob, rank=3).solve()
    >>> A, B = res.extras["A"], res.extras["B"]
    >>> A.shape, B.shape, bool(np.all(np.diff(res.history["objective"]) <= 1e-9))
    ((4, 3), (3, 50), True)
    """

    name = "factored"

    def __init__(self, X, problem, *, rank=None, n_inner=10, tol=1e-6, max_iter=1000, Z0=None,
                 track_objective=True):
        if isinstance(problem, LowRankSparseProblem):
            if problem.n_low == 0:
                raise ValueError(f"the factored form needs a low-rank dictionary D1 with atoms, got D1 of shape "
                                 f"{problem.D1.shape}; for a pure sparse problem use ista/fista")
            if problem.low_rank_norm != "nuclear":
                raise ValueError(f"the factorisation L = AB of Eq. 3 represents the nuclear norm; got a problem with "
                                 f"low_rank_norm={problem.low_rank_norm!r}")
            if problem.ridge != 0:
                raise ValueError(f"Eq. 5 has no ridge term; got a problem with ridge={problem.ridge:g}")
        self._user_rank = rank
        self.n_inner = check_int(n_inner, "n_inner", low=1)
        super().__init__(X, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)

    # ------------------------------------------------------------------ setup
    def _setup(self):
        p, X = self.problem, self.X
        n = X.shape[1]
        top = min(p.n_low, n)
        if self._user_rank is None:
            self.rank = top
        else:
            self.rank = check_int(self._user_rank, "rank", low=1)
            if self.rank > top:
                raise ValueError(
                    f"rank must be <= min(n_low, n_patches) = min({p.n_low}, {n}) = {top} (the rank of L = AB cannot "
                    f"exceed it), got rank={self.rank}"
                )
        D1_64, D2_64 = p.D1.astype(np.float64), p.D2.astype(np.float64)
        self._G1 = D1_64.T @ D1_64  # float64, (n_low, n_low)
        self._eig1 = np.linalg.eigh(self._G1)
        self._D1tX = np.ascontiguousarray(p.D1.T @ X)
        self._G12 = np.ascontiguousarray(p.D1.T @ p.D2)
        if p.n_sparse:
            self._G2 = np.ascontiguousarray(p.D2.T @ p.D2)
            self._G21 = np.ascontiguousarray(self._G12.T)
            self._D2tX = np.ascontiguousarray(p.D2.T @ X)
            lip = power_iteration(D2_64)
            self._inv_lip = self.dtype.type(1.0 / lip) if lip > 0 else self.dtype.type(0.0)
            self._theta = p.lam2 / lip if lip > 0 else 0.0

    def _factorise(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Balanced rank-r factors of L (module docstring: truncated SVD, singular values floored)."""
        U, s, Vt = np.linalg.svd(L.astype(np.float64), full_matrices=False)
        r = self.rank
        top = s[0] if s.size and s[0] > 0 else 0.0
        if top == 0.0:  # L = 0: start from the scale of the data instead
            d1 = np.sqrt(max(float(self._eig1[0][-1]), 0.0))
            top = float(np.linalg.norm(self.X.astype(np.float64), 2)) / d1 if d1 > 0 else 0.0
        root = np.sqrt(np.maximum(s[:r], _FLOOR * top))
        A = U[:, :r] * root
        B = root[:, None] * Vt[:r]
        return A.astype(self.dtype), B.astype(self.dtype)

    def _start(self, Z: np.ndarray) -> np.ndarray:
        L, S = self.problem.split(Z)
        self.A, self.B = self._factorise(L)
        self.S = np.array(S, dtype=self.dtype, order="C")
        return np.vstack([self.A @ self.B, self.S])

    def _initial(self):
        Z_ls = np.linalg.lstsq(self.problem.D.astype(np.float64), self.X.astype(np.float64), rcond=None)[0]
        return self._start(Z_ls.astype(self.dtype))

    def _warm_start(self):
        self.Z = self._start(self.Z)

    # ------------------------------------------------------------------ one iteration
    def _iterate(self):
        p, lam1 = self.problem, self.problem.lam1
        Z_prev = self.Z
        A, B, S = self.A, self.B, self.S
        # T = D1^T (X - D2 S): D1^T R for both factor steps
        T = self._D1tX - self._G12 @ S if p.n_sparse else self._D1tX
        # A-step: Lambda_i M_j Ahat_ij + lam1 Ahat_ij = (P^T D1^T R B^T Q)_ij
        lamD, P = self._eig1
        mu, Qm = np.linalg.eigh(B.astype(np.float64) @ B.T.astype(np.float64))
        C = P.T @ (T @ B.T).astype(np.float64) @ Qm
        den = np.outer(np.clip(lamD, 0.0, None), np.clip(mu, 0.0, None)) + lam1
        inv = np.zeros_like(den)
        ok = den > (max(den.max(), 1.0) * 1e-14 if lam1 == 0 else 0.0)
        inv[ok] = 1.0 / den[ok]
        A = (P @ (C * inv) @ Qm.T).astype(self.dtype)
        # B-step: (A^T G1 A + lam1 I) B = A^T T
        A64 = A.astype(np.float64)
        B = _eig_solve(A64.T @ self._G1 @ A64, lam1, (A.T @ T).astype(np.float64)).astype(self.dtype)
        L = A @ B
        # S-step: n_inner ISTA steps with step 1 / ||D2||^2
        if p.n_sparse:
            c = self._D2tX - self._G21 @ L  # D2^T (X - D1 A B)
            for _ in range(self.n_inner):
                G = self._G2 @ S
                G -= c
                S = soft_threshold(S - self._inv_lip * G, self._theta)
        self.A, self.B, self.S = A, B, S
        self.Z = np.vstack([L, S])
        return Z_prev

    def _objective(self):
        return self.problem.eq5(self.X, self.A, self.B, self.S)

    def _advice(self):
        return f"; rank={self.rank}, n_inner={self.n_inner} (more ISTA steps on S per iteration can help)"

    def _result(self, converged):
        res = super()._result(converged)
        res.extras.update(A=self.A, B=self.B, rank=self.rank)
        return res


def factored(X, problem: LowRankSparseProblem, rank: int | None = None, **kw) -> SolverResult:
    """Functional form of :class:`Factored`: ``Factored(X, problem, rank=rank, **kw).solve(callback)``."""
    callback = kw.pop("callback", None)
    return Factored(X, problem, rank=rank, **kw).solve(callback)
