import numpy as np
import pytest

from solvers import LowRankSparseProblem, power_iteration, svt

from ._fixtures import random_problem_data


def test_split_join_shapes(rng):
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.2)
    Z = rng.standard_normal((16, X.shape[1]))
    L, S = p.split(Z)
    assert L.shape == (6, 120) and S.shape == (10, 120)
    assert np.shares_memory(L, Z)
    np.testing.assert_array_equal(p.join(L, S), Z)
    np.testing.assert_array_equal(p.D, np.hstack([D1, D2]))
    np.testing.assert_allclose(p.thresholds(0.5), [0.05] * 6 + [0.1] * 10)  # one float64 product: << rtol 1e-7


@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_gradient_matches_finite_differences(rng, ridge):
    D1, D2, X = random_problem_data(rng, n=7)
    p = LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.2, ridge=ridge)
    Z = rng.standard_normal((16, 7))
    G = p.gradient(X, Z)
    E = rng.standard_normal(Z.shape)
    h = 1e-6
    fd = (p.data_fit(X, Z + h * E) - p.data_fit(X, Z - h * E)) / (2 * h)
    # the data fit is quadratic, so the central difference has no truncation error; float64 rounding of f
    # (u |f| ~ 2e-14, |f| ~ 150) divided by h gives 2e-8 on a slope of ~1 (measured 5e-9)
    assert fd == pytest.approx(np.vdot(G, E), rel=1e-7)


def test_lipschitz_is_largest_eigenvalue(rng):
    D1, D2, _ = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.2)
    exact = np.linalg.eigvalsh(p.D.T @ p.D)[-1]
    # power iteration stops when its estimate changes by <= tol = 1e-10 relatively; the error left is then about
    # tol / (1 - (lam_2 / lam_1)^2): 2e-10 for D (ratio 0.72; measured 4e-11) and 7e-10 for `wide` (ratio 0.92;
    # measured 5e-10), hence 1e-8
    assert p.lipschitz() == pytest.approx(exact, rel=1e-8)
    assert p.step == pytest.approx(1 / exact, rel=1e-8)
    assert p.replace(ridge=0.5).lipschitz() == pytest.approx(exact + 0.5, rel=1e-8)
    wide = rng.standard_normal((5, 40))
    assert power_iteration(wide) == pytest.approx(np.linalg.eigvalsh(wide @ wide.T)[-1], rel=1e-8)


def test_eq5_at_balanced_factorisation_equals_objective(rng):
    """Eq. 3: min over A B = L of (||A||^2 + ||B||^2)/2 is ||L||_*, attained at A = U sqrt(s), B = sqrt(s) V^T."""
    D1, D2, X = random_problem_data(rng)
    p = LowRankSparseProblem(D1, D2, lam1=0.3, lam2=0.2, lam3=0.05)
    Z = rng.standard_normal((16, X.shape[1]))
    L, S = p.split(Z)
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    A, B = U * np.sqrt(s), np.sqrt(s)[:, None] * Vt
    # float64 identities: the SVD reproduces L to ~1e-15 and both sides sum ~2000 terms (1e-16 x 2000 -> 2e-13)
    assert p.eq5(X, A, B, S) == pytest.approx(p.objective(X, Z, include_phi=True), rel=1e-12)
    # any other factorisation of L costs more
    R = rng.standard_normal((6, 6)) + 3 * np.eye(6)
    assert p.eq5(X, A @ R, np.linalg.solve(R, B), S) > p.objective(X, Z, include_phi=True)
    # Eq. 2 as printed: no 1/2 on the data term
    resid = X - D1 @ L - D2 @ S
    phi = 0.05 * (np.sum(D1**2) + np.sum(D2**2))
    nuc = np.linalg.svd(L, compute_uv=False).sum()
    # the same formula in float64 (sums of ~2000 terms: 2e-13)
    assert p.eq2(X, L, S) == pytest.approx(np.sum(resid**2) + 0.3 * nuc + 0.2 * np.abs(S).sum() + phi, rel=1e-12)


def test_eq2_minimiser_is_objective_minimiser_at_half_lambdas(rng):
    """Minimising the literal Eq. 2 at (lam1, lam2) == minimising our coding objective at (lam1/2, lam2/2)."""
    from solvers import fista

    D1, D2, X = random_problem_data(rng, n=40)
    half = LowRankSparseProblem(D1, D2, lam1=0.5, lam2=0.25)
    Z = fista(X, half, tol=1e-12, max_iter=5000).Z
    full = LowRankSparseProblem(D1, D2, lam1=1.0, lam2=0.5)
    L, S = full.split(Z)
    best = full.eq2(X, L, S)
    for _ in range(100):
        E = 1e-4 * rng.standard_normal(Z.shape)
        L2, S2 = full.split(Z + E)
        # perturbations raise it by >= 6e-3 (measured); 1e-10 allows float64 rounding of eq2 (~1e-16 x 289 x 1e3)
        # and FISTA's distance from the minimum at tol 1e-12
        assert full.eq2(X, L2, S2) >= best - 1e-10


def test_nuclear_norm_fast_path_matches_svd(rng):
    L = rng.standard_normal((6, 400))
    p = LowRankSparseProblem(np.eye(6), np.zeros((6, 0)), lam1=1.0, lam2=0.0)
    # the fast path takes singular values from the 6 x 6 Gram matrix: eigenvalue errors u ||L||^2 shift sigma by
    # u ||L||^2 / (2 sigma), ~1e-15 relative for these well-conditioned sigmas (all ~20)
    assert p.penalty(L) == pytest.approx(np.linalg.svd(L, compute_uv=False).sum(), rel=1e-10)
    assert svt(L, 0.0).shape == L.shape


def test_float32_problem_keeps_dtype(rng):
    D1, D2, _ = random_problem_data(rng)
    p = LowRankSparseProblem(D1.astype(np.float32), D2.astype(np.float32), lam1=0.1, lam2=0.1)
    assert p.dtype == np.float32 and p.D.dtype == np.float32
    assert p.astype(np.float64).dtype == np.float64


def test_bad_input(rng):
    D1, D2, X = random_problem_data(rng)
    with pytest.raises(ValueError, match=r"D1 has shape \(16, 6\), D2 has shape \(15, 10\)"):
        LowRankSparseProblem(D1, D2[:15], lam1=0.1, lam2=0.1)
    with pytest.raises(ValueError, match="lam1 must be in"):
        LowRankSparseProblem(D1, D2, lam1=-0.1, lam2=0.1)
    with pytest.raises(ValueError, match="mu must be in"):
        LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.1, mu=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        LowRankSparseProblem(np.full((16, 2), np.inf), D2, lam1=0.1, lam2=0.1)
    with pytest.raises(TypeError, match="lam2 must be a real number"):
        LowRankSparseProblem(D1, D2, lam1=0.1, lam2="0.1")
    with pytest.raises(ValueError, match="low_rank_norm"):
        LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.1, low_rank_norm="l2")
    p = LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.1)
    with pytest.raises(ValueError, match=r"X has shape \(15, 120\).*16 rows"):
        p.check_X(X[:15])
