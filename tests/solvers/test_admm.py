"""ADMM for the constrained Eq. 1: feasibility, optimality against independent references, residuals, errors.

Tolerances: ADMM is numpy / LAPACK only (no numba reductions; the suite runs BLAS on one thread), so results are
reproducible. A bound is either rounding of the final float64 projection (about 1e-16 x cond(D), cond(D) ~ 10 here)
or the solver's own accuracy, set by its stopping tolerance ``tol`` on the relative primal and dual residuals
(default 1e-6, 1e-5 in float32); each assertion says which, with the value measured where the margin is small.
"""

import numpy as np
import pytest
from scipy.linalg import null_space
from scipy.optimize import linprog

from solvers import ConvergenceWarning, LowRankSparseProblem
from solvers.admm import ADMM, RHO_RULES, admm

from ._fixtures import dct_pair, real_patches


def _random_problem(rng, dtype=np.float64, m=16, n_low=8, n_sparse=12, n=100, lam1=3.0, lam2=0.3):
    D1 = rng.standard_normal((m, n_low))
    D2 = rng.standard_normal((m, n_sparse))
    X = rng.standard_normal((m, n))
    p = LowRankSparseProblem(D1.astype(dtype), D2.astype(dtype), lam1=lam1, lam2=lam2)
    return p, X.astype(dtype)


def _constraint_error(p, X, Z):
    X64, D64, Z64 = X.astype(np.float64), p.D.astype(np.float64), Z.astype(np.float64)
    return np.linalg.norm(X64 - D64 @ Z64) / np.linalg.norm(X64)


def _dual_lower_bound(p, X, Y):
    """<Y, X> for Y scaled into the dual feasible set {||D1^T Y||_2 <= lam1, ||D2^T Y||_inf <= lam2}.

    By weak duality this is <= eq1(L, S) for every feasible (L, S), however Y was obtained.
    """
    Y = Y.astype(np.float64)
    ratios = [1.0, np.abs(p.D2.astype(np.float64).T @ Y).max() / p.lam2]
    if p.n_low:
        low = p.D1.astype(np.float64).T @ Y
        ratios.append(np.linalg.norm(low, 2) / p.lam1 if p.low_rank_norm == "nuclear" else np.abs(low).max() / p.lam1)
    return float(np.vdot(Y / max(ratios), X.astype(np.float64)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constraint_met_on_random_overcomplete_dictionaries(rng, dtype):
    p, X = _random_problem(rng, dtype)
    res = admm(X, p)
    assert res.converged
    assert res.Z.dtype == dtype and res.Z.shape == (p.n_atoms, X.shape[1])
    # projected in float64 (1e-15); the float32 cast of Z adds 6e-8 x cond(D) ~10 -> 6e-7 (measured 4e-8)
    assert _constraint_error(p, X, res.Z) <= 1e-6
    # the ADMM iterate itself (before the final projection onto the constraint) meets it to the tolerance: the
    # constraint residual is part of the primal residual, which the solver stops at tol (1e-6; 1e-5 in float32)
    assert _constraint_error(p, X, res.extras["Z_iterate"]) <= (1e-5 if dtype == np.float32 else 1e-6)
    # D1 L + D2 S in the dtype: the 6e-7 above plus float32 rounding of 20-term products (20 x 6e-8) -> 1e-5
    np.testing.assert_allclose(res.low_rank + res.sparse, X, atol=1e-5 * np.abs(X).max())
    # the auxiliary W is exactly low rank where the nuclear norm bites, and feasible up to the residual
    J = res.extras["W"][: p.n_low].astype(np.float64)
    # SVT zeroes singular values exactly; float32 storage leaves them at ~u ||J|| (measured 8e-8 of max|J|)
    assert np.linalg.matrix_rank(J, tol=1e-6 * np.abs(J).max()) < p.n_low
    # ||X - DW|| <= ||X - DZ|| + ||D||_2 ||Z - W|| <= sqrt(1 + ||D||_2^2) tol ||X||, ||D||_2 = 7.5: 7.6e-5 in float32
    assert _constraint_error(p, X, res.extras["W"]) <= 1e-4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constraint_met_on_real_image_patches(demo_ir, dtype):
    X = real_patches(demo_ir[100:156, 120:184], size=8, stride=4).astype(dtype)
    D1, D2 = dct_pair(8, 16)
    D2 = np.hstack([D2, np.random.default_rng(3).standard_normal((64, 32)) / 8])
    p = LowRankSparseProblem(D1.astype(dtype), D2.astype(dtype), lam1=1.0, lam2=0.1)
    res = admm(X, p, tol=1e-5)
    assert res.converged
    assert res.Z.dtype == dtype
    assert _constraint_error(p, X, res.Z) <= 1e-6  # float64 projection; float32 cast of Z: 6e-8 x cond(D) (3e-8)
    assert _constraint_error(p, X, res.extras["Z_iterate"]) <= 1e-5  # part of the primal residual, stopped at tol
    # optimality certificate: the scaled multiplier gives a lower bound within 1e-3 of the objective. Accuracy of
    # the method, not rounding: a dual residual of tol = 1e-5 in Frobenius norm over 465 x 80 entries lets single
    # entries of D^T Y1 violate the dual constraint by ~sqrt(#entries) tol ~ 2e-3 (measured gap 2e-4 / 4e-4)
    obj = p.eq1(res.L.astype(np.float64), res.S.astype(np.float64))
    assert obj - _dual_lower_bound(p, X, res.extras["Y1"]) <= 1e-3 * obj


def _linprog_weighted_l1(D, weights, X):
    """min sum_i w_i |z_i| s.t. D z = x, column by column, with z = u - v, u, v >= 0 (HiGHS)."""
    K = D.shape[1]
    cols = []
    for x in X.T:
        r = linprog(np.concatenate([weights, weights]), A_eq=np.hstack([D, -D]), b_eq=x, bounds=(0, None),
                    method="highs")
        assert r.status == 0, r.message
        cols.append(r.x[:K] - r.x[K:])
    return np.array(cols).T


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pure_sparse_case_is_basis_pursuit_and_equals_linprog(rng, dtype):
    D2 = rng.standard_normal((10, 25))
    X = rng.standard_normal((10, 6))
    p = LowRankSparseProblem(np.zeros((10, 0), dtype=dtype), D2.astype(dtype), lam1=0.0, lam2=0.7)
    res = admm(X.astype(dtype), p, tol=1e-8 if dtype == np.float64 else 1e-6, max_iter=20000)
    ref = _linprog_weighted_l1(D2, np.ones(25), X)
    best = 0.7 * np.abs(ref).sum()
    assert res.L.shape == (0, 6)
    ours = p.eq1(res.L, res.S.astype(np.float64))
    # solver accuracy at tol 1e-8 (float64) / 1e-6 (float32) and HiGHS's 1e-7 feasibility tolerance: measured
    # 8e-9 / 1.4e-6 relative; the basis pursuit minimiser is unique (generic D), measured 6e-7 / 6e-5 of max|S|
    assert abs(ours - best) <= 1e-5 * best
    np.testing.assert_allclose(res.S, ref, atol=1e-5 * np.abs(ref).max() if dtype == np.float64 else 1e-3)


def test_l1_on_both_blocks_equals_weighted_linprog(rng):
    D1, D2 = rng.standard_normal((10, 8)), rng.standard_normal((10, 12))
    X = rng.standard_normal((10, 5))
    p = LowRankSparseProblem(D1, D2, lam1=1.5, lam2=0.5, low_rank_norm="l1")
    res = admm(X, p, tol=1e-8, max_iter=20000)
    ref = _linprog_weighted_l1(p.D, np.r_[np.full(8, 1.5), np.full(12, 0.5)], X)
    best = p.penalty(ref)
    # solver accuracy at tol 1e-8 and HiGHS's 1e-7 feasibility tolerance (measured 4e-9; minimiser 1e-7 of max)
    assert abs(p.penalty(res.Z) - best) <= 1e-5 * best
    np.testing.assert_allclose(res.Z, ref, atol=1e-5 * np.abs(ref).max())


def test_no_feasible_perturbation_lowers_eq1(rng):
    p, X = _random_problem(rng, n=40)
    res = admm(X, p, tol=1e-9, max_iter=20000)
    assert res.converged
    Z = res.Z
    N = null_space(p.D)  # D N = 0: Z + N V is feasible for every V
    assert N.shape == (p.n_atoms, p.n_atoms - p.n_features)
    best = p.eq1(*p.split(Z))
    scale = np.linalg.norm(Z) / np.sqrt(Z.size)
    for t in (1e-3, 1e-1):
        for _ in range(150):
            V = N @ rng.standard_normal((N.shape[1], X.shape[1]))
            Zp = Z + t * scale * V / np.linalg.norm(V) * np.sqrt(Z.size)
            assert _constraint_error(p, X, Zp) <= 1e-10  # D N = 0 up to float64 rounding (1e-16 x ||D|| ||NV||)
            assert p.eq1(*p.split(Zp)) >= best * (1 - 1e-8)  # Z is optimal to its tol 1e-9 residuals, not exactly
    # the check has power: from the minimum-norm feasible point some of those directions do go down
    Z_ls = np.linalg.pinv(p.D) @ X
    start = p.eq1(*p.split(Z_ls))
    lowered = [p.eq1(*p.split(Z_ls + 1e-2 * N @ rng.standard_normal((N.shape[1], X.shape[1])))) < start
               for _ in range(50)]
    assert any(lowered) and best < start


def test_duality_gap_closes_and_bounds_hold(rng):
    p, X = _random_problem(rng, n=100)
    res = admm(X, p, tol=1e-8, max_iter=20000)
    obj = p.eq1(*p.split(res.Z))
    lower = _dual_lower_bound(p, X, res.extras["Y1"])
    assert lower <= obj * (1 + 1e-12)  # weak duality, exact but for float64 rounding of 1600-term sums (~1e-13)
    assert obj - lower <= 1e-5 * obj  # solver accuracy at tol 1e-8 (measured gap 5e-8)
    # Y2 = D^T Y1 holds after every multiplier update (the Z-step's optimality condition), exactly but for float64
    # rounding accumulated over the iterations (~1e-16 x n_iter; measured 8e-14 of max|Y2|)
    np.testing.assert_allclose(res.extras["Y2"], p.D.T @ res.extras["Y1"], atol=1e-10 * np.abs(res.extras["Y2"]).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_history_residuals_go_to_zero(rng, dtype):
    p, X = _random_problem(rng, dtype, n=100)
    res = admm(X, p)  # tol 1e-6 in float64, 1e-5 in float32
    tol = 1e-6 if dtype == np.float64 else 1e-5
    h = res.history
    for key in ("objective", "rel_change", "time", "primal_residual", "constraint_residual", "dual_residual",
                "penalty"):
        assert h[key].shape == (res.n_iter,), key
    assert res.converged and h["primal_residual"][-1] <= tol and h["dual_residual"][-1] <= tol  # the stopping rule
    assert h["primal_residual"][0] > 1e-2 and h["dual_residual"][0] > 1e-2  # (the start is far from converged)
    # primal = hypot(constraint, other) >= constraint, exactly but for the rounding of hypot (1 ulp, 2e-16)
    assert np.all(h["constraint_residual"] <= h["primal_residual"] * (1 + 1e-12))
    assert np.all(np.diff(h["penalty"]) >= 0) and h["penalty"][-1] > h["penalty"][0]
    # the objective is Eq. 1 of the (unprojected) Z iterate: the same float64 evaluation (measured equal; 1e-12
    # allows for LAPACK's SVD of L in another call)
    assert h["objective"][-1] == pytest.approx(p.eq1(*p.split(res.extras["Z_iterate"])), rel=1e-12)
    # the final projection moves Z by <= ||D^+||_2 ||X - DZ_k|| ~ cond(D) tol relatively (measured 1e-7 / 8e-9)
    assert h["objective"][-1] == pytest.approx(p.eq1(*p.split(res.Z)), rel=1e-5)


@pytest.mark.parametrize("rule", RHO_RULES)
def test_every_penalty_rule_reaches_the_same_minimum(rng, rule):
    p, X = _random_problem(rng, n=60)
    ref = admm(X, p, tol=1e-9, max_iter=20000)
    kw = dict(rho_max=2.0) if rule == "geometric" else {}
    res = admm(X, p, rho_rule=rule, tol=1e-7, max_iter=20000, **kw)
    assert res.converged
    # both at tol <= 1e-7, where the objective is within ~1e-8 of the optimum (measured <= 2.4e-8 over the rules)
    assert p.eq1(*p.split(res.Z)) == pytest.approx(p.eq1(*p.split(ref.Z)), rel=1e-6)
    if rule == "geometric":
        assert np.all(np.diff(res.history["penalty"]) >= 0) and res.history["penalty"][-1] == 2.0


def test_iterates_do_not_depend_on_the_scale_of_X_and_lambda(rng):
    p, X = _random_problem(rng, n=50)
    a = admm(X, p)
    b = admm(100.0 * X, p.replace(lam1=10 * p.lam1, lam2=10 * p.lam2))
    assert a.n_iter == b.n_iter
    # the same iterations up to float64 rounding (x100 and x10 are not exact in binary): measured 1e-15 of max|Z|
    np.testing.assert_allclose(100.0 * a.Z, b.Z, rtol=1e-6, atol=1e-8 * np.abs(b.Z).max())


def test_zero_data_gives_zero_coefficients(rng):
    p, X = _random_problem(rng, n=10)
    res = admm(np.zeros_like(X), p)
    assert res.converged and res.n_iter == 1
    assert not res.Z.any()


def test_warm_start_from_a_solution_stays_there(rng):
    p, X = _random_problem(rng, n=40)
    first = admm(X, p, tol=1e-8, max_iter=20000)
    again = admm(X, p, Z0=first.Z, tol=1e-8, max_iter=20000)
    assert p.eq1(*p.split(again.Z)) == pytest.approx(p.eq1(*p.split(first.Z)), rel=1e-7)  # both at tol 1e-8 (2e-12)
    assert _constraint_error(p, X, again.Z) <= 1e-12  # float64 projection: 1e-16 x cond(D) ~10 (measured 3e-16)


def test_max_iter_warns_with_the_residuals_and_still_returns_a_feasible_point(rng):
    p, X = _random_problem(rng, n=30)
    with pytest.warns(ConvergenceWarning, match="primal residual .* dual residual"):
        res = admm(X, p, max_iter=3)
    assert not res.converged and res.n_iter == 3
    assert _constraint_error(p, X, res.Z) <= 1e-12  # float64 projection: 1e-16 x cond(D) ~10


def test_rank_deficient_dictionary(rng):
    B = rng.standard_normal((16, 10))  # D = B C has rank 10 < 16 features
    D = B @ rng.standard_normal((10, 20))
    p = LowRankSparseProblem(D[:, :8], D[:, 8:], lam1=1.0, lam2=0.3)
    with pytest.raises(ValueError, match=r"full row rank \(rank 10 < n_features = 16\).*infeasible"):
        ADMM(rng.standard_normal((16, 5)), p)
    X = B @ rng.standard_normal((10, 5))  # in the range of D: feasible, with a warning
    with pytest.warns(UserWarning, match="lies in the range of D"):
        res = admm(X, p, tol=1e-7, max_iter=5000)
    # float64 projection with the rank-10 pseudo-inverse (cond 10 on the range of D; X in the range to 1e-15)
    assert _constraint_error(p, X, res.Z) <= 1e-10


def test_bad_input_gives_clear_errors(rng):
    p, X = _random_problem(rng, n=10)
    with pytest.raises(ValueError, match=r"X has shape \(15, 10\).*16 rows"):
        ADMM(X[:15], p)
    with pytest.raises(ValueError, match=r"Z0 must have shape \(20, 10\)"):
        ADMM(X, p, Z0=np.zeros((20, 9)))
    with pytest.raises(ValueError, match=r"rho_factor must be in \[1.0, inf\), got 0.5"):
        ADMM(X, p, rho_factor=0.5)
    with pytest.raises(ValueError, match="rho0 must be in"):
        ADMM(X, p, rho0=-1.0)
    with pytest.raises(ValueError, match=r"rho_max=0.001 must be >= rho0=1"):
        ADMM(X, p, rho0=1.0, rho_max=1e-3)
    with pytest.raises(ValueError, match="rho_rule must be one of"):
        ADMM(X, p, rho_rule="fast")
    with pytest.raises(ValueError, match="tol must be in"):
        ADMM(X, p, tol=-1.0)
    with pytest.raises(ValueError, match="no ridge term; got a problem with ridge=0.5"):
        ADMM(X, p.replace(ridge=0.5))
    with pytest.raises(TypeError, match="problem must be a LowRankSparseProblem"):
        ADMM(X, {"D1": p.D1})
    with pytest.raises(ValueError, match="X contains non-finite"):
        ADMM(np.full_like(X, np.nan), p)
