"""Registry of the patch solvers, so that the command line, the benchmarks and the tests enumerate them.

>>> from solvers.registry import list_solvers, get_solver
>>> "fista" in list_solvers()
True
>>> get_solver("algorithm1").__name__
'Algorithm1'
"""

from __future__ import annotations

from .admm import ADMM
from .algorithm1 import Algorithm1
from .base import IterativeSolver, SolverResult
from .cd import CoordinateDescent
from .factored import Factored
from .ista import FISTA, ISTA
from .problem import LowRankSparseProblem

__all__ = ["SOLVERS", "get_solver", "list_solvers", "solve"]

SOLVERS: dict[str, type[IterativeSolver]] = {
    "algorithm1": Algorithm1,  # the paper's iteration: l1 on L and S, ridge lam3/mu (see solvers.algorithm1)
    "ista": ISTA,  # nuclear norm on L, l1 on S (Eq. 2/5 with fixed D)
    "fista": FISTA,
    "admm": ADMM,  # the constrained Eq. 1
    "factored": Factored,  # Eq. 3-4: L = A B
    "cd": CoordinateDescent,  # separable l1 problems only
}


def list_solvers() -> list[str]:
    """Names of the registered solvers."""
    return list(SOLVERS)


def get_solver(name: str) -> type[IterativeSolver]:
    """The solver class registered under ``name``."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; choose one of {list_solvers()}") from None


def solve(name: str, X, problem: LowRankSparseProblem, *, callback=None, **options) -> SolverResult:
    """Run the solver ``name`` on patches ``X``: ``get_solver(name)(X, problem, **options).solve(callback)``."""
    return get_solver(name)(X, problem, **options).solve(callback)
