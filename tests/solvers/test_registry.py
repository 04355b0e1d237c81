import numpy as np
import pytest

from solvers import LowRankSparseProblem
from solvers.registry import get_solver, list_solvers, solve

from ._fixtures import random_problem_data


def test_registry_lists_every_solver():
    assert {"algorithm1", "ista", "fista", "admm", "factored", "cd"} <= set(list_solvers())
    for name in list_solvers():
        assert get_solver(name).name == name
    with pytest.raises(ValueError, match="unknown solver 'lbfgs'"):
        get_solver("lbfgs")


@pytest.mark.parametrize("name", ["ista", "fista", "factored"])
def test_nuclear_norm_solvers_agree_through_the_registry(rng, name):
    D1, D2, X = random_problem_data(rng, n=40)
    p = LowRankSparseProblem(D1, D2, lam1=2.0, lam2=0.1)
    ref = solve("fista", X, p, tol=1e-12, max_iter=20000)
    opts = {"tol": 1e-12, "max_iter": 20000}
    res = solve(name, X, p, **opts)
    assert res.n_iter > 0 and {"objective", "rel_change", "time"} <= set(res.history)
    # all at relative change 1e-12; the objective is flat at the minimum (measured equal to the last digit)
    assert p.objective(X, res.Z) == pytest.approx(p.objective(X, ref.Z), rel=1e-6)


@pytest.mark.parametrize("name", ["algorithm1", "cd", "fista"])
def test_l1_solvers_agree_through_the_registry(rng, name):
    D1, D2, X = random_problem_data(rng, n=40)
    p = LowRankSparseProblem(D1, D2, lam1=0.2, lam2=0.1, low_rank_norm="l1")
    ref = solve("fista", X, p, tol=1e-13, max_iter=50000)
    res = solve(name, X, p, tol=1e-13, max_iter=50000)
    np.testing.assert_allclose(res.Z, ref.Z, atol=1e-6)  # solver accuracy at tol 1e-13 (measured <= 3e-8)


def test_admm_through_the_registry_meets_the_constraint(rng):
    D1, D2, X = random_problem_data(rng, n_features=8, n=30)
    p = LowRankSparseProblem(D1, D2, lam1=1.0, lam2=0.1)
    res = solve("admm", X, p, max_iter=20000)
    assert res.converged
    # projected onto the constraint in float64 (measured 2e-16)
    assert np.linalg.norm(X - D1 @ res.L - D2 @ res.S) <= 1e-6 * np.linalg.norm(X)
    L, S = p.split(res.extras["Z_iterate"])
    # the iterate meets it to ADMM's default tol 1e-6 on the primal residual (measured 3e-7)
    assert np.linalg.norm(X - D1 @ L - D2 @ S) <= 1e-6 * np.linalg.norm(X)
