"""Time to reach scikit-learn lasso_cd's objective (relative 1e-6) on the pure-sparse benchmark problem.

The target is the objective 1/2||X - DZ||^2 + 0.1 ||Z||_1 of ``sklearn.decomposition.sparse_encode(algorithm=
"lasso_cd")`` with its defaults. Every other solver is first run once with its objective recorded per iteration to
find the first iteration k* whose objective is <= target * (1 + 1e-6); the benchmark then times a fresh run of exactly
k* iterations (set-up included, objective tracking off). A solver that does not reach the target within its
iteration cap is timed at the cap and marked "not reached".
"""

from __future__ import annotations

import time
import warnings
from functools import cache

import numpy as np
import pytest
from sklearn.decomposition import sparse_encode

from solvers import FISTA, ConvergenceWarning
from solvers.cd import CoordinateDescent

from ._setup import LAM, lasso_problem, patches

REL = 1e-6
CAP = {"cd": 500, "fista": 2000, "sporco_pgm": 300, "sporco_admm": 300}


@cache
def sklearn_solution():
    X = patches()
    D = lasso_problem().D2
    return sparse_encode(X.T, D.T, algorithm="lasso_cd", alpha=LAM).T


@cache
def target() -> float:
    return lasso_problem().objective(patches(), sklearn_solution())


def _first_reaching(objectives) -> int | None:
    hits = np.flatnonzero(np.asarray(objectives) <= target() * (1 + REL))
    return int(hits[0]) + 1 if hits.size else None


def _record(benchmark, name, k, reached_obj):
    benchmark.group = "lasso-time-to-target"
    benchmark.extra_info.update(
        solver=name, iterations=k, target=target(), reached=reached_obj is not None and reached_obj
        <= target() * (1 + REL), objective=reached_obj,
    )


def _ours(cls, **kw):
    X, p = patches(), lasso_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = cls(X, p, tol=0, max_iter=CAP[cls.name], **kw).solve(
            callback=lambda s: s._history["objective"][-1] <= target() * (1 + REL))
    k = _first_reaching(res.history["objective"]) or res.n_iter
    return k, float(res.history["objective"][k - 1])


def test_sklearn_lasso_cd(benchmark):
    X, D = patches(), lasso_problem().D2
    sklearn_solution()
    _record(benchmark, "sklearn lasso_cd", None, target())
    benchmark.pedantic(sparse_encode, args=(X.T, D.T), kwargs=dict(algorithm="lasso_cd", alpha=LAM), rounds=3,
                       iterations=1)


@pytest.mark.parametrize("name", ["cd", "fista"])
def test_ours(benchmark, name):
    cls = {"cd": CoordinateDescent, "fista": FISTA}[name]
    k, obj = _ours(cls)
    _record(benchmark, f"llrr {name}", k, obj)
    X, p = patches(), lasso_problem()

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cls(X, p, tol=0, max_iter=k, track_objective=False).solve()

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


def _sporco_run(kind: str, cap: int):
    """One SPORCO run of ``cap`` iterations; returns (solver, set-up seconds)."""
    X, D = patches(), lasso_problem().D2
    if kind == "admm":
        from sporco.admm import bpdn

        opt = bpdn.BPDN.Options({"Verbose": False, "MaxMainIter": cap, "RelStopTol": 0.0, "AbsStopTol": 0.0,
                                 "AutoRho": {"Enabled": True}})
    else:
        from sporco.pgm import bpdn

        opt = bpdn.BPDN.Options({"Verbose": False, "MaxMainIter": cap, "RelStopTol": 0.0})
    t0 = time.perf_counter()
    solver = bpdn.BPDN(D, X, LAM, opt)
    setup = time.perf_counter() - t0
    solver.solve()
    return solver, setup


@pytest.mark.parametrize("kind", ["pgm", "admm"])
def test_sporco(benchmark, kind):
    """SPORCO's iterations cost 0.2-0.4 s here, so it runs once, to its cap, with its own per-iteration statistics:
    the time to target is the set-up time plus SPORCO's cumulative solve time ("Time") at iteration k*. When the
    target is not reached within the cap, the time of the whole run is reported: a lower bound."""
    cap = CAP[f"sporco_{kind}"]
    solver, setup = benchmark.pedantic(_sporco_run, args=(kind, cap), rounds=1, iterations=1)
    stats = solver.getitstat()
    objs, times = np.asarray(stats.ObjFun), np.asarray(stats.Time)
    k = _first_reaching(objs)
    _record(benchmark, f"sporco {kind}.bpdn", k or cap, float(objs[(k or cap) - 1]))
    benchmark.extra_info["time_to_target"] = setup + float(times[(k or cap) - 1])
