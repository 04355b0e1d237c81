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

from ._setup import LAM, SMOKE, lasso_problem, patches

REL = 1e-6
CAP = {"cd": 500, "fista": 2000, "sporco_pgm": 300, "sporco_admm": 300}
if SMOKE:
    CAP = {k: 20 for k in CAP}


@cache
def sklearn_solution(dtype):
    X = patches(dtype)
    D = lasso_problem(dtype).D2
    return sparse_encode(X.T, D.T, algorithm="lasso_cd", alpha=LAM).T


@cache
def target(dtype) -> float:
    """Objective of scikit-learn's solution, evaluated in float64."""
    return lasso_problem().objective(patches(), sklearn_solution(dtype).astype(np.float64))


def _first_reaching(objectives, dtype) -> int | None:
    hits = np.flatnonzero(np.asarray(objectives) <= target(dtype) * (1 + REL))
    return int(hits[0]) + 1 if hits.size else None


def _record(benchmark, name, dtype, k=None, reached_obj=None):
    benchmark.group = f"lasso-time-to-target-{np.dtype(dtype).name}"
    benchmark.extra_info.update(solver=name, dtype=np.dtype(dtype).name, iterations=k, target=target(dtype))
    if reached_obj is not None:
        benchmark.extra_info.update(objective=reached_obj, reached=reached_obj <= target(dtype) * (1 + REL))


def _ours(cls, dtype):
    X, p = patches(dtype), lasso_problem(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = cls(X, p, tol=0, max_iter=CAP[cls.name]).solve(
            callback=lambda s: s._history["objective"][-1] <= target(dtype) * (1 + REL))
    k = _first_reaching(res.history["objective"], dtype) or res.n_iter
    return k, float(res.history["objective"][k - 1])


def test_sklearn_lasso_cd(benchmark, dtype):
    X, D = patches(dtype), lasso_problem(dtype).D2
    _record(benchmark, "sklearn lasso_cd", dtype, None, target(dtype))
    benchmark.pedantic(sparse_encode, args=(X.T, D.T), kwargs=dict(algorithm="lasso_cd", alpha=LAM), rounds=3,
                       iterations=1)


@pytest.mark.parametrize("name", ["cd", "fista"])
def test_ours(benchmark, name, dtype):
    cls = {"cd": CoordinateDescent, "fista": FISTA}[name]
    k, obj = _ours(cls, dtype)
    _record(benchmark, f"llrr {name}", dtype, k, obj)
    X, p = patches(dtype), lasso_problem(dtype)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cls(X, p, tol=0, max_iter=k, track_objective=False).solve()

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


def _sporco_run(kind: str, cap: int, dtype):
    """One SPORCO run of ``cap`` iterations; returns (solver, set-up seconds)."""
    X, D = patches(dtype), lasso_problem(dtype).D2
    if kind == "admm":
        from sporco.admm import bpdn

        opt = bpdn.BPDN.Options({"Verbose": False, "MaxMainIter": cap, "RelStopTol": 0.0, "AbsStopTol": 0.0,
                                 "AutoRho": {"Enabled": True}, "DataType": dtype})
    else:
        from sporco.pgm import bpdn

        opt = bpdn.BPDN.Options({"Verbose": False, "MaxMainIter": cap, "RelStopTol": 0.0, "DataType": dtype})
    t0 = time.perf_counter()
    solver = bpdn.BPDN(D, X, LAM, opt)
    setup = time.perf_counter() - t0
    solver.solve()
    return solver, setup


@pytest.mark.parametrize("kind", ["pgm", "admm"])
def test_sporco(benchmark, kind, dtype):
    """SPORCO's iterations cost 0.2-0.4 s here, so it runs once, to its cap, with its own per-iteration statistics:
    the time to target is the set-up time plus SPORCO's cumulative solve time ("Time") at iteration k*. When the
    target is not reached within the cap, the time of the whole run is reported: a lower bound."""
    cap = CAP[f"sporco_{kind}"]
    _record(benchmark, f"sporco {kind}.bpdn", dtype)
    solver, setup = benchmark.pedantic(_sporco_run, args=(kind, cap, dtype), rounds=1, iterations=1)
    stats = solver.getitstat()
    objs, times = np.asarray(stats.ObjFun, dtype=np.float64), np.asarray(stats.Time)
    k = _first_reaching(objs, dtype)
    _record(benchmark, f"sporco {kind}.bpdn", dtype, k or cap, float(objs[(k or cap) - 1]))
    benchmark.extra_info["time_to_target"] = setup + float(times[(k or cap) - 1])
