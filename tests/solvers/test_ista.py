"""ISTA / FISTA: monotone, one minimiser, optimality, sklearn's Lasso, float32.

Tolerances: comparisons of minimisers are bounded by the solvers' accuracy at their ``tol`` (relative change of Z),
not by rounding; the values measured are noted. The stopping test (``solvers._kernels.change_norms``) and FISTA's
restart test (``restart_inner``) are numba ``prange`` float64 reductions whose partial sums depend on the number of
threads (1e-16 relative), which can move a stop or a restart by an iteration; every bound here is orders of magnitude
above such a change.
"""

import numpy as np
import pytest
from sklearn.decomposition import sparse_encode

from solvers import FISTA, ISTA, ConvergenceWarning, LowRankSparseProblem, fista, ista

from ..conftest import load_grey, shared_path
from ._fixtures import dct_pair, random_problem_data, real_patches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ista_objective_never_increases(rng, dtype):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1.astype(dtype), D2.astype(dtype), lam1=0.5, lam2=0.1)
    res = ista(X.astype(dtype), p, max_iter=400, tol=0)
    obj = res.history["objective"]
    assert res.Z.dtype == dtype
    # monotone up to rounding: float64 ~1e-16 x 1e3 terms; float32 iterates 6e-8 x ~100 (products, SVD) -> 1e-5
    # (measured: every step lowers the objective by >= 7e-7 relative)
    slack = 1e-12 if dtype == np.float64 else 1e-5
    assert np.all(np.diff(obj) <= slack * obj[0])
    assert obj[-1] < obj[0]


def test_ista_and_fista_reach_the_same_minimiser(rng):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=5.0, lam2=0.1)
    a = ista(X, p, max_iter=50000, tol=1e-13)
    b = fista(X, p, max_iter=50000, tol=1e-13)
    c = fista(X, p, max_iter=50000, tol=1e-13, restart=False)
    assert a.converged and b.converged and c.converged
    np.testing.assert_allclose(a.Z, b.Z, atol=1e-6)  # all at tol 1e-13 (measured 3e-10, |Z| <= 4.4)
    np.testing.assert_allclose(c.Z, b.Z, atol=1e-6)
    assert b.n_iter < a.n_iter
    # the nuclear-norm prox really bites: L is low rank
    assert np.linalg.matrix_rank(b.L, tol=1e-8) < min(b.L.shape)  # singular values 4.9, 3.6, then <= 7e-16


def test_minimiser_is_optimal_against_perturbations(rng):
    D1, D2, X = random_problem_data(rng, n=30)
    p = LowRankSparseProblem(D1, D2, lam1=0.5, lam2=0.1)
    Z = fista(X, p, tol=1e-13, max_iter=20000).Z
    best = p.objective(X, Z)
    for _ in range(200):  # perturbations raise it by >= 4e-4 (measured); 1e-10 allows float64 rounding of the
        # objective (~1e-16 x 92 x 1e3 terms) and FISTA's distance from the minimum at tol 1e-13
        assert p.objective(X, Z + 1e-4 * rng.standard_normal(Z.shape)) >= best - 1e-10


@pytest.mark.parametrize("solver", [ista, fista])
def test_pure_sparse_equals_sklearn_lasso(rng, solver, demo_ir):
    D2 = dct_pair(8, 0)[1][:, :40] + 0.1 * rng.standard_normal((64, 40))
    X = real_patches(demo_ir, 8, 4, n=300)
    lam = 0.05
    p = LowRankSparseProblem(np.zeros((64, 0)), D2, lam1=0.0, lam2=lam)
    ours = solver(X, p, tol=1e-12, max_iter=100000).Z
    ref = sparse_encode(X.T, D2.T, algorithm="lasso_cd", alpha=lam, max_iter=100000).T
    # sklearn stops at its default duality-gap tol 1e-4, ours at relative change 1e-12 (measured 8e-8); ours is at
    # least as low, up to float64 rounding of the objective
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert p.objective(X, ours) <= p.objective(X, ref) * (1 + 1e-9)


@pytest.mark.shared
def test_real_tno21_patches_ista_fista_agree():
    img = load_grey(shared_path("data", "tno21", "vi", "05.png"))
    D1, D2 = dct_pair(8, 16)
    X = real_patches(img, 8, 4, n=1500)
    p = LowRankSparseProblem(D1, D2, lam1=0.2, lam2=0.02)
    a = fista(X, p, tol=1e-12, max_iter=20000)
    b = ista(X, p, tol=1e-12, max_iter=20000)
    np.testing.assert_allclose(a.Z, b.Z, atol=1e-6)  # both at tol 1e-12
    # ISTA is monotone up to float64 rounding of the objective over 64 x 1500 values (~1e-16 x 1e5 -> 1e-11)
    assert np.all(np.diff(b.history["objective"]) <= 1e-10 * b.history["objective"][0])


def test_warm_start_from_solution_stops_at_once(rng):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.5, lam2=0.1)
    sol = fista(X, p, tol=1e-13, max_iter=20000)
    again = FISTA(X, p, Z0=sol.Z, tol=1e-9).solve()
    assert again.n_iter <= 2


def test_history_and_callback(rng):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.5, lam2=0.1)
    seen = []
    res = FISTA(X, p, max_iter=100, tol=0).solve(callback=lambda s: seen.append(s.n_iter) or s.n_iter >= 7)
    assert res.n_iter == 7 and seen == list(range(1, 8))
    assert set(res.history) >= {"objective", "rel_change", "time"}
    assert np.all(np.diff(res.history["time"]) >= 0)


def test_step_checks_and_warning(rng):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.5, lam2=0.1)
    lip = p.lipschitz()
    with pytest.raises(ValueError, match="not below 2/Lipschitz"):
        ISTA(X, p, step=2.5 / lip)
    ISTA(X, p, step=1.9 / lip)  # allowed
    with pytest.raises(ValueError, match="step must be in"):
        FISTA(X, p, step=-1.0)
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        ista(X, p, max_iter=2, tol=1e-12)
    with pytest.raises(ValueError, match=r"Z0 must have shape \(16, 120\)"):
        ISTA(X, p, Z0=np.zeros((16, 3)))


@pytest.mark.parametrize("solver", [ista, fista])
def test_float32_reaches_the_float64_minimum(rng, solver):
    D1, D2, X = random_problem_data(rng)
    p64 = LowRankSparseProblem(D1, D2, lam1=5.0, lam2=0.1)
    p32 = p64.astype(np.float32)
    ref = fista(X, p64, tol=1e-12, max_iter=20000)
    res = solver(X.astype(np.float32), p32, tol=1e-6, max_iter=20000)
    assert res.Z.dtype == np.float32
    # the objective is flat at the minimum: float32 codes (u = 6e-8) at tol 1e-6 change it by ~1e-9 (measured 1.3e-9)
    assert p64.objective(X, res.Z.astype(np.float64)) == pytest.approx(p64.objective(X, ref.Z), rel=1e-5)
