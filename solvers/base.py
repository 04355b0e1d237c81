"""The template every iterative solver follows (SPORCO/SCICO style).

A solver is constructed from the data, a :class:`~solvers.problem.LowRankSparseProblem` and its options; ``step()``
performs one iteration; ``solve(callback=None)`` loops until the relative change of the iterate
``||Z_k - Z_{k-1}||_F / max(||Z_{k-1}||_F, tiny)`` is at most ``tol`` or ``max_iter`` iterations have run, and returns a
:class:`SolverResult`. Each iteration appends to a history of named fields (at least ``objective``, ``rel_change``,
``time``; ADMM adds residuals). Reaching ``max_iter`` without meeting ``tol`` issues a :class:`ConvergenceWarning`
saying what to change; a NaN or Inf in the iterate raises :class:`FloatingPointError` naming the iteration.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from ._linalg import SMALL
from ._validation import check_int, check_scalar, common_float_dtype
from .problem import LowRankSparseProblem

__all__ = ["ConvergenceWarning", "SolverResult", "IterativeSolver"]

_TINY = 1e-30


def _change_norms(new: np.ndarray, old: np.ndarray) -> tuple[float, float]:
    """Squared norms of ``new - old`` and of ``old`` (float64); the first is NaN/Inf if ``new`` is not finite."""
    if (new.size >= SMALL and new.flags.c_contiguous and old.flags.c_contiguous and new.dtype == old.dtype
            and new.shape == old.shape):
        return _kernels.change_norms(new.reshape(-1), old.reshape(-1))
    d = (new.astype(np.float64) - old).ravel()
    o = old.astype(np.float64, copy=False).ravel()
    return float(d @ d), float(o @ o)


class ConvergenceWarning(UserWarning):
    """A solver stopped at max_iter before meeting its tolerance."""


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    Z : ndarray of shape (n_atoms, n_patches)
        The coefficients ``(L; S)``.
    n_iter : int
        Iterations performed.
    converged : bool
        Whether the stopping criterion was met (always True for a fixed number of iterations without tolerance).
    history : dict of str to ndarray
        One value per iteration for each named field (``objective``, ``rel_change``, ``time`` in seconds since the
        start, plus solver-specific fields).
    problem : LowRankSparseProblem
    iterates : list of ndarray, optional
        Every iterate when requested (Algorithm 1: Z_0 .. Z_T).
    extras : dict
        Solver-specific outputs (e.g. the factors A, B of the factored solver).
    """

    Z: np.ndarray
    n_iter: int
    converged: bool
    history: dict[str, np.ndarray]
    problem: LowRankSparseProblem
    iterates: list[np.ndarray] | None = None
    extras: dict = field(default_factory=dict)

    @property
    def L(self) -> np.ndarray:
        """Low-rank coefficients, shape (n_low, n_patches)."""
        return self.problem.split(self.Z)[0]

    @property
    def S(self) -> np.ndarray:
        """Sparse coefficients, shape (n_sparse, n_patches)."""
        return self.problem.split(self.Z)[1]

    @property
    def low_rank(self) -> np.ndarray:
        """The base (low-rank) part ``P_l = D1 L``, shape (n_features, n_patches)."""
        return self.problem.D1.astype(self.Z.dtype, copy=False) @ self.L

    @property
    def sparse(self) -> np.ndarray:
        """The salient (sparse) part ``P_s = D2 S``, shape (n_features, n_patches)."""
        return self.problem.D2.astype(self.Z.dtype, copy=False) @ self.S


class IterativeSolver:
    """Base class: holds the state, runs the loop, records the history.

    Subclasses implement :meth:`_initial` (the starting Z), :meth:`_iterate` (one update of ``self.Z``, returning
    the previous iterate as an array that does not share memory with the new one, or the relative change as a float
    when the update measures it more cheaply, NaN for a non-finite iterate) and :meth:`_objective`; they may add
    history fields through :meth:`_extra_history`.

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
        Patch matrix.
    problem : LowRankSparseProblem
    tol : float, default 1e-6
        Relative change of the iterate below which the solver stops; 0 runs exactly ``max_iter`` iterations.
    max_iter : int, default 500
    Z0 : ndarray of shape (n_atoms, n_patches), optional
        Warm start.
    track_objective : bool, default True
        Record the objective every iteration (costs one objective evaluation per iteration).
    """

    name = "base"
    problem_type: type = LowRankSparseProblem
    extra_fields: tuple[str, ...] = ()

    def __init__(
        self,
        X,
        problem: LowRankSparseProblem,
        *,
        tol: float = 1e-6,
        max_iter: int = 500,
        Z0=None,
        track_objective: bool = True,
    ):
        if not isinstance(problem, self.problem_type):
            raise TypeError(f"problem must be a {self.problem_type.__name__}, got {type(problem).__name__}")
        self.X, self.problem, self.dtype = self._validate(X, problem)
        self.tol = check_scalar(tol, "tol", low=0.0)
        self.max_iter = check_int(max_iter, "max_iter", low=0)
        self.track_objective = bool(track_objective)
        self.n_iter = 0
        self._setup()
        if Z0 is None:
            self.Z = self._initial()
        else:
            self.Z = np.array(self._check_start(Z0), dtype=self.dtype, order="C")
            self._warm_start()
        self._fields = ("objective", "rel_change", "time") + self.extra_fields
        self._history: dict[str, list[float]] = {f: [] for f in self._fields}
        self._t0: float | None = None
        self._last_rel = np.inf

    # -------------------------------------------------------------- to implement
    def _validate(self, X, problem) -> tuple[np.ndarray, object, np.dtype]:
        """Check the data against the problem; return ``(X, problem, dtype)`` to iterate on (float32 kept)."""
        X = problem.check_X(X)
        dtype = common_float_dtype(X, problem.D1)
        return np.ascontiguousarray(X, dtype=dtype), problem.astype(dtype), dtype

    def _check_start(self, Z0) -> np.ndarray:
        """Check a warm start Z0 against the data."""
        return self.problem.check_Z(Z0, self.X.shape[1])

    def _setup(self) -> None:
        """Precompute what every iteration needs (called once, before the start)."""

    def _initial(self) -> np.ndarray:
        return np.zeros((self.problem.n_atoms, self.X.shape[1]), dtype=self.dtype)

    def _warm_start(self) -> None:
        """Adjust auxiliary state to a user-given Z0."""

    def _iterate(self) -> np.ndarray:
        raise NotImplementedError

    def _objective(self) -> float:
        return self.problem.objective(self.X, self.Z)

    def _extra_history(self) -> dict[str, float]:
        return {}

    # -------------------------------------------------------------- the template
    def step(self) -> float:
        """Perform one iteration; return the relative change of Z. Raises on NaN/Inf."""
        if self._t0 is None:
            self._t0 = time.perf_counter()
        prev = self._iterate()
        self.n_iter += 1
        if isinstance(prev, np.ndarray):
            dsq, psq = _change_norms(self.Z, prev)
            finite = bool(np.isfinite(dsq))
            rel = float(np.sqrt(dsq)) / max(float(np.sqrt(psq)), _TINY) if finite else np.nan
        else:  # the subclass measured the relative change itself (NaN if the iterate is not finite)
            rel = float(prev)
            finite = np.isfinite(rel)
        if not finite:
            raise FloatingPointError(
                f"{self.name}: the iterate became non-finite (NaN or Inf) at iteration {self.n_iter}; "
                "the step is probably too large for the dictionaries (check mu against 1/lipschitz) or the input "
                "holds extreme values"
            )
        self._last_rel = rel
        h = self._history
        h["rel_change"].append(rel)
        h["objective"].append(self._objective() if self.track_objective else np.nan)
        h["time"].append(time.perf_counter() - self._t0)
        for k, v in self._extra_history().items():
            h[k].append(v)
        return rel

    def _converged(self, rel: float) -> bool:
        return rel <= self.tol

    def solve(self, callback: Callable[[IterativeSolver], bool | None] | None = None) -> SolverResult:
        """Iterate until convergence or ``max_iter``.

        Parameters
        ----------
        callback : callable, optional
            Called as ``callback(solver)`` after every iteration; returning True stops the loop.

        Returns
        -------
        SolverResult
        """
        converged = False
        while self.n_iter < self.max_iter:
            rel = self.step()
            if callback is not None and callback(self):
                break
            if self.tol > 0 and self._converged(rel):
                converged = True
                break
        if self.tol == 0:
            converged = True  # a fixed number of iterations was asked for
        elif not converged and self.n_iter >= self.max_iter:
            warnings.warn(
                f"{self.name} did not converge in max_iter={self.max_iter} iterations (last relative change "
                f"{self._last_rel:.3g} > tol={self.tol:g}); increase max_iter or loosen tol"
                + self._advice(),
                ConvergenceWarning,
                stacklevel=2,
            )
        return self._result(converged)

    def _advice(self) -> str:
        return ""

    def _result(self, converged: bool) -> SolverResult:
        return SolverResult(
            Z=self.Z,
            n_iter=self.n_iter,
            converged=converged,
            history={k: np.asarray(v, dtype=np.float64) for k, v in self._history.items()},
            problem=self.problem,
        )
