r"""Dictionary learning for the low-rank + sparse model (Eq. 2/5): learn :math:`D_1` (base) and :math:`D_2` (salient).

Minimise over :math:`D = (D_1, D_2)` and :math:`Z = (L; S)`

.. math:: J(D, Z) = \tfrac12\|X - DZ\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1
          + \lambda_3(\|D_1\|_F^2 + \|D_2\|_F^2),

which is Eq. 5 with the factorisation :math:`L = AB` optimised out (Eq. 3), i.e. Eq. 2 with the data term halved:
``problem.objective(X, Z, include_phi=True)`` of :class:`~solvers.problem.LowRankSparseProblem`. Block coordinate
descent alternates

(a) **coding**, D fixed: ``coding_iter`` iterations of a coding solver (FISTA, ISTA or Algorithm 1) warm-started
    from the previous Z;
(b) **dictionary**, Z fixed: the ridge regression :math:`\min_D \tfrac12\|X - DZ\|_F^2 + \lambda_3\|D\|_F^2`, solved
    exactly, :math:`D = XZ^T(ZZ^T + 2\lambda_3 I)^{-1}` (a Cholesky solve in float64).

**Monotonicity.** Step (b) is an exact minimiser. ISTA and Algorithm 1 (step :math:`1/\mathrm{Lip}`) never increase
the objective, FISTA can. Every step is therefore guarded: a coding result whose objective exceeds the warm start is
replaced by ``coding_iter`` ISTA steps from the warm start, and if that still does not help (rounding) the warm start
is kept; a dictionary update that does not lower J (rounding) is discarded. An outer iteration that lowers J by
nothing ends the loop. So ``J`` strictly decreases along the recorded history. The ridge on D is what fixes the
scale: without it (:math:`\lambda_3 = 0`, allowed, then step (b) is the minimum-norm least-squares solution
``lstsq``) :math:`D \to cD, Z \to Z/c` lowers the penalties for any :math:`c > 1`, so the infimum is not attained and
atoms grow. An atom no patch uses after a coding step (its row of Z is zero) is set to zero by the ridge and stays
unused, a legitimate stationary point of J; it is not re-initialised, which would break monotonicity. Atoms survive
when :math:`\lambda_2` (and :math:`\lambda_1`) are small against the correlations of unit atoms with the patches and
:math:`\lambda_3` is small against the code energy per atom. On 3000 8x8 patches of the demo image in [0, 1] with the
estimator's defaults (:math:`\lambda_1 = 0.1, \lambda_2 = \lambda_3 = 0.01`, 16 + 48 atoms) the ``"random_patches"``
and ``"sklearn"`` initialisations keep (almost) every atom, while with ``"dct"`` and ``"pca"`` about half of D2 (the
highest frequencies, whose coefficients stay below :math:`\lambda_2` on every patch) is dropped. With Algorithm 1,
:math:`\lambda_1` weighs :math:`\|L\|_1`, a much larger quantity than :math:`\|L\|_*`: use about 0.01.

**Algorithm 1 as the coding solver** learns dictionaries for the model it solves, l1 on L
(``low_rank_norm="l1"``); it is run with :math:`\lambda_3 = 0` (:math:`\hat\lambda_3 = 1`), since here
:math:`\lambda_3` weighs :math:`\phi(D)`, not Algorithm 1's ridge on Z. FISTA and ISTA use the nuclear norm.

**Orientation.** The functions here, like every solver, take ``X`` of shape (n_features, n_patches) (patches as
columns); the scikit-learn estimator :class:`LowRankSparseDictionaryLearning` takes (n_samples, n_features)
(patches as rows) and transposes.

References
----------
H. Li, T. Xu, X.-J. Wu, J. Lu, J. Kittler, "LRRNet: A novel representation learning guided fusion network for
infrared and visible images", IEEE TPAMI 45(9), 2023, Eq. 2-5. M. Elad, M. Aharon, "Image denoising via sparse and
redundant representations over learned dictionaries", IEEE TIP 15(12), 2006 (overcomplete DCT).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6

    def _validate_data(estimator, X, **kw):
        return estimator._validate_data(X, **kw)

from ._validation import check_array, check_int, check_scalar
from .algorithm1 import Algorithm1
from .base import ConvergenceWarning, IterativeSolver
from .dictionary_init import INITS, dct_atoms, initial_dictionaries
from .ista import FISTA, ISTA
from .problem import LowRankSparseProblem

__all__ = ["CODING_SOLVERS", "INITS", "dct_atoms", "initial_dictionaries", "dictionary_update", "learn_dictionaries",
           "LowRankSparseDictionaryLearning"]

CODING_SOLVERS: dict[str, type[IterativeSolver]] = {"fista": FISTA, "ista": ISTA, "algorithm1": Algorithm1}
_TINY = 1e-12


# ---------------------------------------------------------------------------------------------- the two steps
def dictionary_update(X, Z, lam3: float) -> np.ndarray:
    r"""Exact dictionary step: :math:`\arg\min_D \tfrac12\|X - DZ\|_F^2 + \lambda_3\|D\|_F^2`.

    Setting the gradient :math:`-(X - DZ)Z^T + 2\lambda_3 D` to zero gives :math:`D(ZZ^T + 2\lambda_3I) = XZ^T`,
    solved by Cholesky (``scipy.linalg.solve(assume_a="pos")``) in float64. For ``lam3 == 0`` (or a numerically
    singular system) the minimum-norm least-squares solution :math:`D = XZ^+` (``scipy.linalg.lstsq``).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
    Z : ndarray of shape (n_atoms, n_patches)
    lam3 : float
        Ridge weight, ``>= 0``.

    Returns
    -------
    D : ndarray of shape (n_features, n_atoms), dtype of X (and Z)

    Examples
    --------
    >>> Z = np.eye(2); X = np.array([[2.0, 4.0]])
    >>> dictionary_update(X, Z, lam3=0.5)
    array([[1., 2.]])
    """
    X, Z = check_array(X, "X", ndim=2), check_array(Z, "Z", ndim=2)
    lam3 = check_scalar(lam3, "lam3", low=0.0)
    dtype = np.result_type(X.dtype, Z.dtype, np.float32)
    X64, Z64 = X.astype(np.float64, copy=False), Z.astype(np.float64, copy=False)
    if X.shape[1] != Z.shape[1]:
        raise ValueError(f"X and Z must have the same number of columns (patches), got {X.shape} and {Z.shape}")
    if lam3 > 0:
        A = Z64 @ Z64.T
        A[np.diag_indices_from(A)] += 2.0 * lam3
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                return scipy.linalg.solve(A, Z64 @ X64.T, assume_a="pos").T.astype(dtype)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            pass
    return scipy.linalg.lstsq(Z64.T, X64.T)[0].T.astype(dtype)


def _resolve_solver(coding_solver) -> type[IterativeSolver]:
    if isinstance(coding_solver, str) and coding_solver in CODING_SOLVERS:
        return CODING_SOLVERS[coding_solver]
    if isinstance(coding_solver, type) and issubclass(coding_solver, IterativeSolver):
        return coding_solver
    raise ValueError(
        f"coding_solver must be one of {tuple(CODING_SOLVERS)} or an IterativeSolver subclass, got {coding_solver!r}"
    )


def _coding_problem(problem: LowRankSparseProblem, cls) -> LowRankSparseProblem:
    """Algorithm 1 codes with lam3 = 0 (its lam3 would be a ridge on Z, not phi(D)); the others use the problem."""
    return problem.replace(lam3=0.0) if issubclass(cls, Algorithm1) else problem


def _coding_step(X, problem, Z, cls, n_iter: int) -> tuple[np.ndarray, float, int]:
    """Guarded warm-started coding: returns (Z, objective without phi, fallback 0 | 1 ISTA | 2 kept Z)."""
    f0 = problem.objective(X, Z)
    coding = _coding_problem(problem, cls)
    Z_new = cls(X, coding, tol=0.0, max_iter=n_iter, Z0=Z, track_objective=False).solve().Z
    f_new = problem.objective(X, Z_new)
    if f_new <= f0:
        return Z_new, f_new, 0
    Z_new = ISTA(X, problem, tol=0.0, max_iter=n_iter, Z0=Z, track_objective=False).solve().Z
    f_new = problem.objective(X, Z_new)
    return (Z_new, f_new, 1) if f_new <= f0 else (Z, f0, 2)


# ---------------------------------------------------------------------------------------------- the loop
def _learn(X, D1, D2, *, lam1, lam2, lam3, cls, max_iter, coding_iter, tol, verbose):
    """Block coordinate descent from (D1, D2) with Z = 0. Returns (problem, Z, history, n_iter, converged)."""
    norm = "l1" if issubclass(cls, Algorithm1) else "nuclear"
    prob = LowRankSparseProblem(D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, low_rank_norm=norm)
    n_low = prob.n_low
    Z = np.zeros((prob.n_atoms, X.shape[1]), dtype=X.dtype)
    obj = prob.objective(X, Z, include_phi=True)
    hist = {"objective": [obj], "coding_objective": [], "coding_fallback": [], "dictionary_kept": [], "time": []}
    t0, converged, n_iter = time.perf_counter(), False, 0
    from tqdm.auto import tqdm

    with tqdm(total=max_iter, desc="dictionary learning", disable=not verbose) as bar:
        while n_iter < max_iter:
            Z_new, f_code, fallback = _coding_step(X, prob, Z, cls, coding_iter)
            obj_code = f_code + prob.phi()
            D = dictionary_update(X, Z_new, lam3)
            new_prob = prob.replace(D1=D[:, :n_low], D2=D[:, n_low:])
            obj_new = new_prob.objective(X, Z_new, include_phi=True)
            kept = obj_new > obj_code
            if kept:  # rounding made the exact minimiser look worse: keep the old dictionary
                new_prob, obj_new = prob, obj_code
            if not obj_new < obj:  # no decrease at all: a stationary point to working precision
                converged = True
                break
            rel = (obj - obj_new) / max(abs(obj), _TINY)
            prob, Z, obj, n_iter = new_prob, Z_new, obj_new, n_iter + 1
            for key, val in zip(hist, (obj, obj_code, fallback, int(kept), time.perf_counter() - t0), strict=True):
                hist[key].append(val)
            bar.update(1)
            bar.set_postfix(objective=f"{obj:.6g}", rel_decrease=f"{rel:.2e}")
            if tol > 0 and rel <= tol:
                converged = True
                break
    if not converged and tol > 0:
        warnings.warn(
            f"dictionary learning did not converge in max_iter={max_iter} outer iterations (last relative decrease "
            f"of the objective {rel:.3g} > tol={tol:g}); increase max_iter or coding_iter, or loosen tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    history = {k: np.asarray(v, dtype=np.int64 if k in ("coding_fallback", "dictionary_kept") else np.float64)
               for k, v in hist.items()}
    return prob, Z, history, n_iter, converged or tol == 0


def _check_params(n_low, n_sparse, lam1, lam2, lam3, max_iter, coding_iter, tol):
    n_low, n_sparse = check_int(n_low, "n_low", low=0), check_int(n_sparse, "n_sparse", low=0)
    if n_low + n_sparse < 1:
        raise ValueError(f"n_low + n_sparse must be >= 1, got n_low={n_low}, n_sparse={n_sparse}")
    lams = tuple(check_scalar(v, name, low=0.0) for v, name in ((lam1, "lam1"), (lam2, "lam2"), (lam3, "lam3")))
    iters = check_int(max_iter, "max_iter", low=1), check_int(coding_iter, "coding_iter", low=1)
    return (n_low, n_sparse) + lams + iters + (check_scalar(tol, "tol", low=0.0),)


def learn_dictionaries(X, n_low: int, n_sparse: int, *, lam1: float, lam2: float, lam3: float, init="dct",
                       coding_solver="fista", max_iter: int = 50, coding_iter: int = 20, tol: float = 1e-3,
                       random_state=None, verbose: bool = False, return_codes: bool = False):
    r"""Learn (D1, D2) for Eq. 2/5 by alternating coding and exact ridge dictionary steps (module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
        Patches as columns (solver orientation, :func:`~solvers.patches.extract_patches`). float32 stays float32.
    n_low, n_sparse : int
        Atoms of D1 (base) and D2 (salient), ``n_low + n_sparse >= 1``.
    lam1, lam2, lam3 : float
        Weights of :math:`\|L\|_*`, :math:`\|S\|_1` and :math:`\phi(D)`, ``>= 0``.
    init : {"dct", "pca", "random_patches", "sklearn"} or tuple (D1, D2), default "dct"
        See :func:`initial_dictionaries`.
    coding_solver : {"fista", "ista", "algorithm1"} or IterativeSolver subclass, default "fista"
    max_iter : int, default 50
        Outer iterations.
    coding_iter : int, default 20
        Iterations of the coding solver per outer iteration.
    tol : float, default 1e-3
        Stop when the relative decrease of the objective is at most tol; 0 runs max_iter iterations (or until no
        decrease). A ConvergenceWarning is issued when max_iter is reached first.
    random_state : int, RandomState or None
    verbose : bool
        Show a tqdm progress bar.
    return_codes : bool
        Also return the last codes Z (computed with the dictionaries before the last dictionary step).

    Returns
    -------
    D1 : ndarray of shape (n_features, n_low)
    D2 : ndarray of shape (n_features, n_sparse)
    history : dict of str to ndarray
        ``objective`` (n_iter + 1 values: at the start with Z = 0, then after each outer iteration; strictly
        decreasing), ``coding_objective`` (after each coding step, with phi), ``coding_fallback`` (0: the solver's
        result, 1: ISTA fallback, 2: warm start kept), ``dictionary_kept`` (1 where the dictionary step was
        discarded), ``time`` (seconds).
    Z : ndarray of shape (n_low + n_sparse, n_patches), only with ``return_codes``

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((16, 300))
    >>> D1, D2, hist = learn_dictionaries(X, 2, 6, lam1=0.5, lam2=0.05, lam3=0.1, max_iter=5, tol=0)
    >>> D1.shape, D2.shape, bool(np.all(np.diff(hist["objective"]) < 0))
    ((16, 2), (16, 6), True)
    """
    X = check_array(X, "X", ndim=2)
    n_low, n_sparse, lam1, lam2, lam3, max_iter, coding_iter, tol = _check_params(
        n_low, n_sparse, lam1, lam2, lam3, max_iter, coding_iter, tol)
    cls = _resolve_solver(coding_solver)
    D1, D2 = initial_dictionaries(X, n_low, n_sparse, init, random_state=random_state, alpha=lam2 or 1.0)
    prob, Z, history, _, _ = _learn(X, D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, cls=cls, max_iter=max_iter,
                                    coding_iter=coding_iter, tol=tol, verbose=verbose)
    out = (prob.D1, prob.D2, history)
    return out + (Z,) if return_codes else out


# ---------------------------------------------------------------------------------------------- the estimator
class LowRankSparseDictionaryLearning(TransformerMixin, BaseEstimator):
    """scikit-learn estimator learning the base and salient dictionaries of Eq. 2/5 (see the module docstring).

    Takes ``X`` of shape (n_samples, n_features) with one patch per ROW (scikit-learn orientation); the solvers work
    on its transpose (n_features, n_patches).

    Parameters
    ----------
    n_low, n_sparse : int, default 16, 48
        Atoms of D1 and D2.
    lam1, lam2, lam3 : float, default 0.1, 0.01, 0.01
        Weights of the nuclear norm of L (l1 with Algorithm 1), the l1 norm of S and :math:`\\phi(D)` (defaults
        suit patches scaled to [0, 1], see the module docstring).
    init : {"dct", "pca", "random_patches", "sklearn"} or tuple (D1, D2), default "dct"
        See :func:`initial_dictionaries`; a tuple is in the solver orientation, shapes (n_features, n_low) and
        (n_features, n_sparse).
    coding_solver : {"fista", "ista", "algorithm1"} or IterativeSolver subclass, default "fista"
    max_iter, coding_iter, tol : int, int, float, default 50, 20, 1e-3
        Outer iterations, coding iterations per outer iteration, relative-decrease tolerance
        (see :func:`learn_dictionaries`).
    transform_max_iter : int, default 300
        Iterations of the coding solver in :meth:`transform` (from Z = 0, tolerance 1e-6 on the relative change).
    random_state : int, RandomState or None
    verbose : bool

    Attributes
    ----------
    components_ : ndarray of shape (n_low + n_sparse, n_features)
        Atoms as rows: D1's then D2's.
    D1_ : ndarray of shape (n_features, n_low)
    D2_ : ndarray of shape (n_features, n_sparse)
    problem_ : LowRankSparseProblem
        The fitted problem (``low_rank_norm="l1"`` with Algorithm 1).
    objective_ : ndarray of shape (n_iter_ + 1,)
        The objective at the start and after each outer iteration (strictly decreasing).
    history_ : dict of str to ndarray
        Every field of :func:`learn_dictionaries`'s history.
    n_iter_ : int
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> est = LowRankSparseDictionaryLearning(n_low=2, n_sparse=6, max_iter=5, tol=0).fit(rng.random((300, 16)))
    >>> est.components_.shape, est.transform(rng.random((10, 16))).shape
    ((8, 16), (10, 8))
    """

    def __init__(self, n_low=16, n_sparse=48, *, lam1=0.1, lam2=0.01, lam3=0.01, init="dct", coding_solver="fista",
                 max_iter=50, coding_iter=20, tol=1e-3, transform_max_iter=300, random_state=None, verbose=False):
        self.n_low = n_low
        self.n_sparse = n_sparse
        self.lam1 = lam1
        self.lam2 = lam2
        self.lam3 = lam3
        self.init = init
        self.coding_solver = coding_solver
        self.max_iter = max_iter
        self.coding_iter = coding_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Learn D1 and D2 from patches ``X`` of shape (n_samples, n_features); returns self."""
        n_low, n_sparse, lam1, lam2, lam3, max_iter, coding_iter, tol = _check_params(
            self.n_low, self.n_sparse, self.lam1, self.lam2, self.lam3, self.max_iter, self.coding_iter, self.tol)
        check_int(self.transform_max_iter, "transform_max_iter", low=1)
        cls = _resolve_solver(self.coding_solver)
        # scikit-learn's checks and messages (NaN, sparse, complex, 1-D, empty); sets n_features_in_; keeps float32.
        Xs = _validate_data(self, X, dtype=[np.float64, np.float32]).T  # solver orientation (n_features, n_patches)
        D1, D2 = initial_dictionaries(Xs, n_low, n_sparse, self.init, random_state=self.random_state,
                                      alpha=lam2 or 1.0)
        prob, _, history, n_iter, _ = _learn(Xs, D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, cls=cls, max_iter=max_iter,
                                             coding_iter=coding_iter, tol=tol, verbose=self.verbose)
        self.problem_ = prob
        self.D1_, self.D2_ = prob.D1, prob.D2
        self.components_ = np.ascontiguousarray(prob.D.T)
        self.history_ = history
        self.objective_ = history["objective"]
        self.n_iter_ = n_iter
        return self

    def transform(self, X):
        """Codes of ``X`` (n_samples, n_features) with the learned dictionaries: shape (n_samples, n_atoms).

        Computed in the dtype of X (float32 stays float32) by the coding solver from Z = 0. With the nuclear norm
        the codes of the samples are coupled (``transform`` of a subset differs from the subset of ``transform``).
        """
        check_is_fitted(self)
        X = _validate_data(self, X, dtype=[np.float64, np.float32], reset=False)  # checks n_features_in_
        cls = _resolve_solver(self.coding_solver)
        problem = _coding_problem(self.problem_.astype(X.dtype), cls)  # float32 input gives float32 codes
        res = cls(X.T, problem, tol=1e-6, max_iter=self.transform_max_iter, track_objective=False).solve()
        return np.ascontiguousarray(res.Z.T)
