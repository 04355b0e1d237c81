r"""The low-rank + sparse decomposition model of the paper (Section 3.1, Eq. 1-5).

Image patches ``X`` (columns, see :mod:`solvers.patches`) are written as :math:`X \approx D_1 L + D_2 S` with a
base (low-rank) dictionary :math:`D_1`, a salient (sparse) dictionary :math:`D_2` and the coefficient matrix
:math:`Z = (L; S)` (``L`` stacked on ``S``). :class:`LowRankSparseProblem` owns every formula the solvers use.

Objectives, all with the paper's equation numbers:

* Eq. 1 (constrained): :math:`\min \|L\|_* + \lambda\|S\|_1` s.t. :math:`X = D_1L + D_2S`. We write it
  :math:`\lambda_1\|L\|_* + \lambda_2\|S\|_1` (the same minimiser for :math:`\lambda = \lambda_2/\lambda_1`):
  :meth:`LowRankSparseProblem.eq1`; solved by :class:`solvers.admm.ADMM`.
* Eq. 2, literally (no 1/2 on the data term): :math:`\|X - D_1L - D_2S\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1
  + \lambda_3\phi(D)`: :meth:`LowRankSparseProblem.eq2`.
* Eq. 5 with Z = (AB; S), literally: :math:`\tfrac12\|X - DZ\|_F^2 + \phi(D) + \tfrac{\lambda_1}{2}(\|A\|_F^2 +
  \|B\|_F^2) + \lambda_2\|S\|_1`, :math:`\phi(D) = \lambda_3(\|D_1\|_F^2 + \|D_2\|_F^2)`:
  :meth:`LowRankSparseProblem.eq5`.
* The coding objective the solvers minimise over Z (fixed dictionaries):
  :math:`F(Z) = \tfrac12\|X - DZ\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1` (+ :math:`\phi(D)` on request):
  :meth:`LowRankSparseProblem.objective`. By Eq. 3, :math:`\min_{AB = L}` of Eq. 5 equals exactly this, so it is
  Eq. 5 with the factorisation optimised out, and it is Eq. 2 with the data term halved (the minimiser of the literal
  Eq. 2 for :math:`(\lambda_1, \lambda_2)` is the minimiser of F for :math:`(\lambda_1/2, \lambda_2/2)`).
* The objective Algorithm 1 actually minimises (its fixed points are this function's minimisers, see
  :meth:`LowRankSparseProblem.algorithm1_objective`):
  :math:`G(Z) = \tfrac12\|X - DZ\|_F^2 + \tfrac{\lambda_3}{2\mu}\|Z\|_F^2 + \lambda_1\|L\|_1 + \lambda_2\|S\|_1`.
  Algorithm 1 thresholds L with an l1 norm (soft threshold), not with the nuclear norm, and its
  :math:`\hat\lambda_3 = 1 - \lambda_3` turns :math:`\lambda_3` into a ridge on the coefficients (not on the
  dictionary, as :math:`\phi` in Eq. 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_scalar

__all__ = ["LowRankSparseProblem", "power_iteration"]


def power_iteration(D: np.ndarray, *, n_iter: int = 200, tol: float = 1e-10, seed: int = 0) -> float:
    r"""Largest eigenvalue of :math:`D^TD` (:math:`\|D\|_2^2`) by power iteration, in float64.

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
    n_iter : int
        Maximum number of iterations.
    tol : float
        Stop when the estimate changes by less than ``tol`` relatively.
    seed : int
        Seed of the random start vector.

    Examples
    --------
    >>> import numpy as np
    >>> round(power_iteration(np.diag([3.0, 1.0])), 8)
    9.0
    """
    D = np.asarray(D, dtype=np.float64)
    G = D.T @ D if D.shape[0] >= D.shape[1] else None
    v = np.random.default_rng(seed).standard_normal(D.shape[1])
    v /= np.linalg.norm(v)
    est = 0.0
    for _ in range(n_iter):
        w = G @ v if G is not None else D.T @ (D @ v)
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - est) <= tol * new:
            est = new
            break
        est = new
    # Rayleigh quotient of the final vector is a lower bound at least as accurate as the norm ratio.
    Dv = D @ v
    return float(max(est, Dv @ Dv))


@dataclass(eq=False)
class LowRankSparseProblem:
    r"""Dictionaries and weights of the decomposition model (Eq. 1-5), and every formula built on them.

    Parameters
    ----------
    D1 : ndarray of shape (n_features, n_low)
        Base (low-rank) dictionary, one atom per column.
    D2 : ndarray of shape (n_features, n_sparse)
        Salient (sparse) dictionary.
    lam1 : float
        Weight of the low-rank penalty on L (nuclear norm in Eq. 2/5, l1 in Algorithm 1), ``>= 0``.
    lam2 : float
        Weight of the l1 penalty on S, ``>= 0``.
    lam3 : float, default 0
        Dictionary regulariser weight in :math:`\phi(D)`, ``>= 0``; in Algorithm 1 it gives
        :math:`\hat\lambda_3 = 1-\lambda_3`.
    mu : float, optional
        Step of Algorithm 1 (:math:`W_e = \mu D^T`). Default ``1 / lipschitz``.
    low_rank_norm : {"nuclear", "l1"}, default "nuclear"
        Penalty on L in :meth:`objective`: the nuclear norm of Eq. 2/5, or the l1 norm Algorithm 1 applies.
    ridge : float, default 0
        Weight ``r`` of an extra :math:`\tfrac{r}{2}\|Z\|_F^2` in the smooth part (Algorithm 1's
        :math:`\lambda_3/\mu`, see :meth:`algorithm1_problem`).

    Attributes
    ----------
    D : ndarray of shape (n_features, n_low + n_sparse)
        :math:`(D_1, D_2)`.
    dtype : numpy dtype
        float32 only if both dictionaries are float32.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> prob = LowRankSparseProblem(rng.standard_normal((16, 4)), rng.standard_normal((16, 8)), lam1=0.1, lam2=0.1)
    >>> Z = np.zeros((12, 5)); X = rng.standard_normal((16, 5))
    >>> L, S = prob.split(Z)
    >>> L.shape, S.shape
    ((4, 5), (8, 5))
    >>> bool(np.isclose(prob.objective(X, Z), 0.5 * (X ** 2).sum()))
    True
    """

    D1: np.ndarray
    D2: np.ndarray
    lam1: float
    lam2: float
    lam3: float = 0.0
    mu: float | None = None
    low_rank_norm: str = "nuclear"
    ridge: float = 0.0
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        D1 = check_array(self.D1, "D1", ndim=2, allow_empty=True)
        D2 = check_array(self.D2, "D2", ndim=2, allow_empty=True)
        if D1.shape[1] + D2.shape[1] == 0 or D1.shape[0] == 0:
            raise ValueError(f"the dictionaries hold no atoms: D1 shape {D1.shape}, D2 shape {D2.shape}")
        if D1.shape[0] != D2.shape[0]:
            raise ValueError(
                f"D1 and D2 must have the same number of rows (features): D1 has shape {D1.shape}, "
                f"D2 has shape {D2.shape}"
            )
        dtype = np.result_type(D1.dtype, D2.dtype)
        self.D1 = np.ascontiguousarray(D1, dtype=dtype)
        self.D2 = np.ascontiguousarray(D2, dtype=dtype)
        self.lam1 = check_scalar(self.lam1, "lam1", low=0.0)
        self.lam2 = check_scalar(self.lam2, "lam2", low=0.0)
        self.lam3 = check_scalar(self.lam3, "lam3", low=0.0)
        if self.mu is not None:
            self.mu = check_scalar(self.mu, "mu", low=0.0, low_inclusive=False)
        if self.low_rank_norm not in ("nuclear", "l1"):
            raise ValueError(f"low_rank_norm must be 'nuclear' or 'l1', got {self.low_rank_norm!r}")
        self.ridge = check_scalar(self.ridge, "ridge", low=0.0)

    # ---------------------------------------------------------------- shapes and the split Z = (L; S)
    @property
    def dtype(self) -> np.dtype:
        return self.D1.dtype

    @property
    def n_features(self) -> int:
        return self.D1.shape[0]

    @property
    def n_low(self) -> int:
        return self.D1.shape[1]

    @property
    def n_sparse(self) -> int:
        return self.D2.shape[1]

    @property
    def n_atoms(self) -> int:
        return self.n_low + self.n_sparse

    @property
    def D(self) -> np.ndarray:
        """:math:`D = (D_1, D_2)`, shape (n_features, n_atoms)."""
        if "D" not in self._cache:
            self._cache["D"] = np.ascontiguousarray(np.hstack([self.D1, self.D2]))
        return self._cache["D"]

    @property
    def gram(self) -> np.ndarray:
        """:math:`D^TD`, shape (n_atoms, n_atoms)."""
        if "gram" not in self._cache:
            D = self.D
            self._cache["gram"] = np.ascontiguousarray(D.T @ D)
        return self._cache["gram"]

    def split(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(L, S)`` of ``Z = (L; S)``: the first ``n_low`` rows and the remaining ``n_sparse`` rows."""
        return Z[: self.n_low], Z[self.n_low :]

    def join(self, L: np.ndarray, S: np.ndarray) -> np.ndarray:
        """``Z = (L; S)`` stacked along the rows."""
        return np.vstack([L, S])

    def thresholds(self, mu: float | None = None) -> np.ndarray:
        r"""Per-row thresholds :math:`\theta = \mu(\lambda_1; \lambda_2)` of Algorithm 1, shape (n_atoms,)."""
        mu = self.step if mu is None else mu
        return np.concatenate(
            [np.full(self.n_low, mu * self.lam1), np.full(self.n_sparse, mu * self.lam2)]
        ).astype(self.dtype)

    def astype(self, dtype) -> LowRankSparseProblem:
        """The same problem with dictionaries in ``dtype`` (self if already)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        return self.replace(D1=self.D1.astype(dtype), D2=self.D2.astype(dtype))

    def replace(self, **changes) -> LowRankSparseProblem:
        """A copy with some fields changed (like :func:`dataclasses.replace`)."""
        fields = dict(
            D1=self.D1, D2=self.D2, lam1=self.lam1, lam2=self.lam2, lam3=self.lam3, mu=self.mu,
            low_rank_norm=self.low_rank_norm, ridge=self.ridge,
        )
        fields.update(changes)
        return LowRankSparseProblem(**fields)

    def algorithm1_problem(self, mu: float | None = None) -> LowRankSparseProblem:
        """The problem whose :meth:`objective` Algorithm 1 minimises: l1 on L and ridge ``lam3 / mu`` on Z."""
        mu = self.step if mu is None else mu
        return self.replace(low_rank_norm="l1", ridge=self.lam3 / mu, mu=mu)

    # ---------------------------------------------------------------- input checks
    def check_X(self, X, name: str = "X") -> np.ndarray:
        """Validate a patch matrix against the dictionaries; keep float32 as float32."""
        X = check_array(X, name, ndim=2)
        if X.shape[0] != self.n_features:
            raise ValueError(
                f"{name} has shape {X.shape} but the dictionaries have {self.n_features} rows "
                f"(D1 shape {self.D1.shape}, D2 shape {self.D2.shape}); {name} must be (n_features, n_patches)"
            )
        return X

    def check_Z(self, Z, n_patches: int, name: str = "Z0") -> np.ndarray:
        Z = check_array(Z, name, ndim=2)
        if Z.shape != (self.n_atoms, n_patches):
            raise ValueError(f"{name} must have shape {(self.n_atoms, n_patches)} (n_atoms, n_patches), got {Z.shape}")
        return Z

    # ---------------------------------------------------------------- smooth part
    def lipschitz(self) -> float:
        r"""Lipschitz constant of the smooth part's gradient: :math:`\|D\|_2^2 + r` (power iteration).

        Power iteration approaches :math:`\|D\|_2^2` from below; it stops at a relative change of 1e-10, so the
        default steps ``1 / lipschitz()`` exceed the exact ``1 / Lip`` by at most about that much.
        """
        if "lip" not in self._cache:
            self._cache["lip"] = power_iteration(self.D)
        return self._cache["lip"] + self.ridge

    @property
    def step(self) -> float:
        """Algorithm 1's step mu: the value given, else ``1 / lipschitz()``."""
        return self.mu if self.mu is not None else 1.0 / self.lipschitz()

    def residual(self, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """:math:`X - DZ`."""
        return X - self.D @ Z

    def data_fit(self, X: np.ndarray, Z: np.ndarray) -> float:
        r"""Smooth part :math:`\tfrac12\|X - DZ\|_F^2 + \tfrac{r}{2}\|Z\|_F^2`, accumulated in float64."""
        R = self.residual(X, Z).astype(np.float64, copy=False)
        val = 0.5 * float(np.vdot(R, R))
        if self.ridge:
            Z64 = Z.astype(np.float64, copy=False)
            val += 0.5 * self.ridge * float(np.vdot(Z64, Z64))
        return val

    def gradient(self, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
        r"""Gradient of the smooth part in Z: :math:`D^T(DZ - X) + rZ`."""
        g = self.D.T @ (self.D @ Z - X)
        return g + self.ridge * Z if self.ridge else g

    def phi(self) -> float:
        r""":math:`\phi(D) = \lambda_3(\|D_1\|_F^2 + \|D_2\|_F^2)`."""
        sq = sum(float(np.sum(d.astype(np.float64) ** 2)) for d in (self.D1, self.D2))
        return self.lam3 * sq

    # ---------------------------------------------------------------- objectives
    def penalty(self, Z: np.ndarray) -> float:
        r""":math:`\lambda_1\|L\|_* + \lambda_2\|S\|_1` (``\|L\|_1`` when ``low_rank_norm="l1"``)."""
        L, S = self.split(Z)
        low = _nuclear(L) if self.low_rank_norm == "nuclear" else float(np.abs(L).sum(dtype=np.float64))
        return self.lam1 * low + self.lam2 * float(np.abs(S).sum(dtype=np.float64))

    def objective(self, X: np.ndarray, Z: np.ndarray, *, include_phi: bool = False) -> float:
        r"""Coding objective :math:`\tfrac12\|X - DZ\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1` [+ :math:`\phi(D)`].

        With ``ridge`` r > 0 the smooth part gains :math:`\tfrac r2\|Z\|_F^2`; with ``low_rank_norm="l1"`` L is
        penalised by its l1 norm.
        """
        val = self.data_fit(X, Z) + self.penalty(Z)
        return val + self.phi() if include_phi else val

    def algorithm1_objective(self, X: np.ndarray, Z: np.ndarray, mu: float | None = None) -> float:
        r"""The objective whose minimisers are the fixed points of Algorithm 1 with step mu.

        .. math:: G(Z) = \tfrac12\|X - DZ\|_F^2 + \tfrac{\lambda_3}{2\mu}\|Z\|_F^2 + \lambda_1\|L\|_1
                  + \lambda_2\|S\|_1

        Algorithm 1's update :math:`Z \leftarrow h_\theta(\mu D^TX + ((1-\lambda_3)I - \mu D^TD)Z)` is
        :math:`\operatorname{prox}_{\mu g}(Z - \mu\nabla f(Z))` for the smooth
        :math:`f = \tfrac12\|X - DZ\|^2 + \tfrac{\lambda_3}{2\mu}\|Z\|^2` and :math:`g = \lambda_1\|L\|_1 +
        \lambda_2\|S\|_1`: a proximal gradient step of size mu, so it converges to a minimiser of G when
        :math:`\mu\|D\|_2^2 + \lambda_3 < 2`.
        """
        return self.algorithm1_problem(mu).objective(X, Z)

    def eq1(self, L: np.ndarray, S: np.ndarray) -> float:
        r"""Objective of Eq. 1 (constraint not included): :math:`\lambda_1\|L\|_* + \lambda_2\|S\|_1`."""
        return self.lam1 * _nuclear(L) + self.lam2 * float(np.abs(S).sum(dtype=np.float64))

    def eq2(self, X: np.ndarray, L: np.ndarray, S: np.ndarray) -> float:
        r"""Eq. 2 as printed: :math:`\|X - D_1L - D_2S\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1 + \phi(D)`.

        Here :math:`\phi(D) = \lambda_3(\|D_1\|_F^2 + \|D_2\|_F^2)` includes its weight, as in Eq. 5 (:meth:`phi`).
        """
        R = (X - self.D1 @ L - self.D2 @ S).astype(np.float64, copy=False)
        return float(np.vdot(R, R)) + self.eq1(L, S) + self.phi()

    def eq5(self, X: np.ndarray, A: np.ndarray, B: np.ndarray, S: np.ndarray) -> float:
        r"""Eq. 5 as printed with :math:`Z = (AB; S)`.

        :math:`\tfrac12\|X - D_1AB - D_2S\|_F^2 + \phi(D) + \tfrac{\lambda_1}{2}(\|A\|_F^2 + \|B\|_F^2)
        + \lambda_2\|S\|_1`.
        """
        R = (X - self.D1 @ (A @ B) - self.D2 @ S).astype(np.float64, copy=False)
        A64, B64 = A.astype(np.float64, copy=False), B.astype(np.float64, copy=False)
        return (
            0.5 * float(np.vdot(R, R))
            + self.phi()
            + 0.5 * self.lam1 * (float(np.vdot(A64, A64)) + float(np.vdot(B64, B64)))
            + self.lam2 * float(np.abs(S).sum(dtype=np.float64))
        )


def _nuclear(L: np.ndarray) -> float:
    """Nuclear norm in float64; for a very wide or tall matrix from the eigenvalues of the small Gram matrix."""
    if L.size == 0:
        return 0.0
    L64 = L.astype(np.float64, copy=False)
    m, n = L64.shape
    if max(m, n) >= 8 * min(m, n):
        G = L64 @ L64.T if m <= n else L64.T @ L64
        return float(np.sqrt(np.clip(np.linalg.eigvalsh(G), 0.0, None)).sum())
    return float(np.linalg.svd(L64, compute_uv=False).sum())

