"""The factored form of Eq. 3-5 (L = AB): monotone, equal to the nuclear-norm minimum when the rank allows, errors.

Tolerances: comparisons with the nuclear-norm minimum are bounded by the solvers' accuracy at their ``tol`` (measured
values noted); monotonicity allows float64 rounding of Eq. 5 (~1e-16 x 1e3 terms -> 1e-12) or float32 rounding of
the iterates (6e-8 x ~10 -> 1e-6). Ranks use a singular-value threshold of 1e-6 of max|L|, between the rounding
level of the zeroed singular values (measured 1e-15) and the smallest kept one (0.15 of the largest).
"""

import numpy as np
import pytest

from solvers import ConvergenceWarning, LowRankSparseProblem, fista
from solvers.factored import Factored, factored

from ._fixtures import dct_pair, real_patches


def _random_problem(rng, dtype=np.float64, lam1=15.0, lam2=0.5, lam3=0.1, n=200):
    D1, D2 = rng.standard_normal((16, 8)), rng.standard_normal((16, 12))
    X = rng.standard_normal((16, n))
    p = LowRankSparseProblem(D1.astype(dtype), D2.astype(dtype), lam1=lam1, lam2=lam2, lam3=lam3)
    return p, X.astype(dtype)


def _nuclear_reference(p, X):
    """FISTA's minimiser of the nuclear-norm objective, its value (with phi) and the rank of L*."""
    ref = fista(X.astype(np.float64), p.astype(np.float64), tol=1e-10, max_iter=100000)
    assert ref.converged
    rank = int(np.linalg.matrix_rank(ref.L, tol=1e-6 * np.abs(ref.L).max()))
    return ref, p.objective(X.astype(np.float64), ref.Z, include_phi=True), rank


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eq5_objective_never_increases(rng, dtype):
    p, X = _random_problem(rng, dtype)
    res = factored(X, p, rank=5, n_inner=3, tol=0, max_iter=300)
    obj = res.history["objective"]
    assert res.Z.dtype == dtype and res.extras["A"].dtype == dtype
    slack = 1e-12 if dtype == np.float64 else 1e-6  # module docstring (measured: float32 rises by 4e-9 at most)
    assert np.all(np.diff(obj) <= slack * obj[0])
    assert obj[-1] < 0.9 * obj[0]  # a real descent (measured 0.71)
    # the recorded objective is the literal Eq. 5 (with phi) of the returned factors: the same float64 evaluation
    A, B = res.extras["A"], res.extras["B"]
    assert obj[-1] == pytest.approx(p.eq5(X, A, B, res.S), rel=1e-12)
    assert p.phi() > 0


def test_reaches_the_nuclear_norm_minimum_when_rank_is_large_enough(rng):
    p, X = _random_problem(rng)
    ref, best, rank_star = _nuclear_reference(p, X)
    assert 1 <= rank_star < p.n_low  # the nuclear norm bites: the test covers r < n_low
    for r in (rank_star, rank_star + 2, p.n_low):
        res = factored(X, p, rank=r, tol=1e-10, max_iter=20000)
        assert res.converged
        final = res.history["objective"][-1]
        assert abs(final - best) <= 1e-6 * best, r  # both at tol 1e-10 (measured 5e-10)
        # Burer-Monteiro: the optimal factorisation is balanced, (||A||^2 + ||B||^2) / 2 = ||AB||_*, up to the
        # solver's accuracy (measured 2e-16 -- the balancing is exact at every step)
        A, B = res.extras["A"], res.extras["B"]
        half = 0.5 * (np.sum(A**2) + np.sum(B**2))
        assert half == pytest.approx(np.linalg.svd(A @ B, compute_uv=False).sum(), rel=1e-5)
        # the data fit of two tol-1e-10 solutions (measured 2e-9 of max|X|)
        np.testing.assert_allclose(p.D @ res.Z, p.D @ ref.Z, atol=1e-4 * np.abs(X).max())
        assert np.linalg.matrix_rank(res.L, tol=1e-6 * np.abs(res.L).max()) == rank_star


def test_too_small_rank_cannot_reach_the_nuclear_minimum(rng):
    p, X = _random_problem(rng)
    _, best, rank_star = _nuclear_reference(p, X)
    r = rank_star - 1
    res = factored(X, p, rank=r, tol=1e-9, max_iter=20000)
    final = res.history["objective"][-1]
    # strictly above: rank r < rank L* cannot represent L* (measured 3e-4 above, far beyond the solvers' 1e-9)
    assert final >= best * (1 + 1e-5)
    assert np.linalg.matrix_rank(res.L) <= r
    assert res.extras["A"].shape == (p.n_low, r) and res.extras["B"].shape == (r, X.shape[1])
    # and it is still at least the value of Eq. 5 at the nuclear problem's best rank-r competitor: never below best
    assert final >= best


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_Z_is_AB_stacked_on_S_and_rank_is_bounded(rng, rank):
    p, X = _random_problem(rng, lam1=2.0, n=50)
    res = factored(X, p, rank=rank, tol=1e-6)
    A, B = res.extras["A"], res.extras["B"]
    assert res.extras["rank"] == rank
    np.testing.assert_array_equal(res.L, A @ B)
    assert np.linalg.matrix_rank(res.L) <= rank
    assert res.Z.shape == (p.n_atoms, X.shape[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_real_patches_match_the_nuclear_minimum(demo_ir, dtype):
    X = real_patches(demo_ir[80:160, 100:196], size=8, stride=4)
    D1, D2 = dct_pair(8, 10)
    D2 = np.hstack([D2, np.random.default_rng(3).standard_normal((64, 32)) / 8])  # overcomplete: FISTA iterates
    p = LowRankSparseProblem(D1, D2, lam1=2.0, lam2=0.05, lam3=0.01)
    ref, best, rank_star = _nuclear_reference(p, X)
    assert rank_star < p.n_low
    res = factored(X.astype(dtype), p.astype(dtype), rank=rank_star + 1, tol=1e-10 if dtype == np.float64 else 1e-6,
                   max_iter=5000)
    assert res.Z.dtype == dtype
    final = p.eq5(X, *(res.extras[k].astype(np.float64) for k in "AB"), res.S.astype(np.float64))
    # solver accuracy: tol 1e-10 in float64 (measured 8e-11); tol 1e-6 and float32 iterates (measured 2e-7)
    assert abs(final - best) <= (1e-6 if dtype == np.float64 else 1e-4) * best
    obj = res.history["objective"]
    assert np.all(np.diff(obj) <= (1e-12 if dtype == np.float64 else 1e-6) * obj[0])  # module docstring


def test_warm_start_from_the_nuclear_solution_keeps_the_objective(rng):
    p, X = _random_problem(rng, n=80)
    ref, best, rank_star = _nuclear_reference(p, X)
    res = factored(X, p, rank=rank_star, Z0=ref.Z, tol=1e-9, max_iter=5000)
    # started at the balanced factorisation of L*: Eq. 5 equals the nuclear objective from the first iterate on,
    # up to the accuracy of FISTA's L* (tol 1e-10) and of this run (tol 1e-9): measured 1e-9 below best
    assert res.history["objective"][0] <= best * (1 + 1e-6)
    assert res.history["objective"][-1] == pytest.approx(best, rel=1e-8)


def test_pure_low_rank_problem_without_D2(rng):
    D1 = rng.standard_normal((16, 8))
    X = rng.standard_normal((16, 60))
    p = LowRankSparseProblem(D1, np.zeros((16, 0)), lam1=10.0, lam2=0.0)
    _, best, _ = _nuclear_reference(p, X)
    res = factored(X, p, tol=1e-10, max_iter=20000)
    assert res.S.shape == (0, 60)
    assert res.history["objective"][-1] == pytest.approx(best, rel=1e-6)  # both at tol 1e-10 (measured 2e-16)


def test_max_iter_warns(rng):
    p, X = _random_problem(rng, n=30)
    with pytest.warns(ConvergenceWarning, match="factored did not converge.*rank=2"):
        res = factored(X, p, rank=2, max_iter=2)
    assert not res.converged and res.n_iter == 2


def test_bad_input_gives_clear_errors(rng):
    p, X = _random_problem(rng, n=10)
    with pytest.raises(ValueError, match="rank must be >= 1, got 0"):
        Factored(X, p, rank=0)
    with pytest.raises(ValueError, match=r"rank must be <= min\(n_low, n_patches\) = min\(8, 10\) = 8.*got rank=9"):
        Factored(X, p, rank=9)
    with pytest.raises(ValueError, match=r"min\(8, 5\) = 5.*got rank=6"):
        Factored(X[:, :5], p, rank=6)
    with pytest.raises(TypeError, match="rank must be an integer, got 2.5"):
        Factored(X, p, rank=2.5)
    with pytest.raises(ValueError, match="n_inner must be >= 1, got 0"):
        Factored(X, p, n_inner=0)
    with pytest.raises(ValueError, match=r"X has shape \(15, 10\)"):
        Factored(X[:15], p)
    with pytest.raises(ValueError, match=r"Z0 must have shape \(20, 10\)"):
        Factored(X, p, Z0=np.zeros((8, 10)))
    with pytest.raises(ValueError, match=r"needs a low-rank dictionary D1 with atoms, got D1 of shape \(16, 0\)"):
        Factored(X, LowRankSparseProblem(np.zeros((16, 0)), p.D2, lam1=0.0, lam2=0.5))
    with pytest.raises(ValueError, match="represents the nuclear norm; got a problem with low_rank_norm='l1'"):
        Factored(X, p.replace(low_rank_norm="l1"))
    with pytest.raises(ValueError, match="Eq. 5 has no ridge term; got a problem with ridge=1"):
        Factored(X, p.replace(ridge=1.0))
    with pytest.raises(TypeError, match="problem must be a LowRankSparseProblem"):
        Factored(X, None)
