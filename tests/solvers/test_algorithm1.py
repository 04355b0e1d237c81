import warnings

import numpy as np
import pytest

from solvers import Algorithm1, ConvergenceWarning, LowRankSparseProblem, algorithm1, fista, soft_threshold

from ..conftest import load_grey, shared_path
from ._fixtures import dct_pair, random_problem_data, real_patches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_checked_case(dtype):
    """One feature, D1 = D2 = [1], X = 3, lam1 = 1, lam2 = 0.5, mu = 1/4, lam3 = 0, by hand:

    H = I - (1/4)[[1, 1], [1, 1]] = [[3/4, -1/4], [-1/4, 3/4]], B = (3/4, 3/4), theta = (1/4, 1/8)
    Z0 = h(B) = (1/2, 5/8)
    Z1' = B + H Z0 = (3/4 + 3/8 - 5/32, 3/4 - 1/8 + 15/32) = (31/32, 35/32);  Z1 = (23/32, 31/32)
    Z2' = B + H Z1 = (3/4 + 69/128 - 31/128, 3/4 - 23/128 + 93/128) = (134/128, 166/128); Z2 = (102/128, 150/128)
    """
    one = np.ones((1, 1), dtype)
    res = algorithm1(3 * one, one, one, lam1=1.0, lam2=0.5, mu=0.25, n_iter=2, return_iterates=True)
    assert len(res.iterates) == 3 and res.Z.dtype == dtype  # dyadic values: exact in float32 too
    np.testing.assert_array_equal(res.iterates[0].ravel(), [1 / 2, 5 / 8])
    np.testing.assert_array_equal(res.iterates[1].ravel(), [23 / 32, 31 / 32])
    np.testing.assert_array_equal(res.iterates[2].ravel(), [102 / 128, 150 / 128])
    np.testing.assert_array_equal(res.L, [[102 / 128]])
    np.testing.assert_array_equal(res.low_rank, [[102 / 128]])
    np.testing.assert_array_equal(res.sparse, [[150 / 128]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrices_are_the_papers(rng, dtype):
    D1, D2, X = random_problem_data(rng)
    D1, D2, X = D1.astype(dtype), D2.astype(dtype), X.astype(dtype)
    mu, lam3 = 0.1, 0.05
    s = Algorithm1(X, LowRankSparseProblem(D1, D2, lam1=0.2, lam2=0.4, lam3=lam3, mu=mu), max_iter=3,
                   return_iterates=True)
    D = np.hstack([D1, D2]).astype(np.float64)
    # storage of H, We, theta in the dtype: float32 u = 6e-8 x |entries| <= 1.x (measured 5e-8); float64 rounding of
    # the 16-term D^T D (measured 1e-16)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(s.H, (1 - lam3) * np.eye(16) - mu * D.T @ D, atol=tol)
    np.testing.assert_allclose(s.We, mu * D.T, atol=tol)
    np.testing.assert_allclose(s.theta, mu * np.r_[np.full(6, 0.2), np.full(10, 0.4)], rtol=1e-6)
    res = s.solve()
    assert res.Z.dtype == dtype
    # every step is Z_t = h(B + H Z_{t-1}), written out with numpy
    B = s.We.astype(np.float64) @ X.astype(np.float64)
    Z = np.sign(B) * np.maximum(np.abs(B) - s.theta[:, None], 0)
    for t, Zt in enumerate(res.iterates):  # float32: the 6e-8 rounding of 16-term products, compounded over 4
        # iterates of |Z| ~ 1 (measured 2e-7); float64: the same operations (measured exactly equal)
        np.testing.assert_allclose(Zt, Z, atol=50 * tol, err_msg=f"iterate {t}")
        Zp = B + s.H.astype(np.float64) @ Z
        Z = np.sign(Zp) * np.maximum(np.abs(Zp) - s.theta[:, None], 0)


def _fixed_point_vs_fista(X, D1, D2, lam1, lam2, lam3):
    prob = LowRankSparseProblem(D1, D2, lam1=lam1, lam2=lam2, lam3=lam3)
    mu = (1 - lam3) / prob.lipschitz()  # mu ||D||^2 + lam3 = 1: a monotone proximal-gradient step
    res = algorithm1(X, D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, mu=mu, n_iter=20000, tol=1e-13)
    assert res.converged
    obj = np.asarray(res.history["objective"])
    # G never increases, up to float64 rounding of its evaluation (~1e-16 x 1e3 terms; measured 2e-16)
    assert np.all(np.diff(obj) <= 1e-12 * abs(obj[0]))
    # the documented objective: l1 on L, ridge lam3/mu on Z; minimised independently by FISTA. Solver accuracy, not
    # rounding: the step is a contraction with factor 1 - lam3, so a relative change of tol = 1e-13 is within
    # tol / lam3 <= 1e-11 of the fixed point (measured 2e-12 from FISTA's); 1e-7 also covers lam3 = 0 (tno21)
    ref = fista(X, prob.algorithm1_problem(mu), tol=1e-13, max_iter=20000)
    np.testing.assert_allclose(res.Z, ref.Z, atol=1e-7 * max(1.0, np.abs(ref.Z).max()))
    # and the fixed point is a fixed point: one more step moves it by about tol |Z| (measured 4e-13)
    s = Algorithm1(X, LowRankSparseProblem(D1, D2, lam1=lam1, lam2=lam2, lam3=lam3, mu=mu), Z0=res.Z, max_iter=1)
    np.testing.assert_allclose(s.solve().Z, res.Z, atol=1e-9)
    return res


def test_fixed_point_is_minimiser_synthetic(rng):
    D1, D2, X = random_problem_data(rng, n=60)
    _fixed_point_vs_fista(X, D1, D2, lam1=0.3, lam2=0.1, lam3=0.1)


def test_fixed_point_is_minimiser_real_patches_demo(demo_ir):
    D1, D2 = dct_pair(8, 16)
    X = real_patches(demo_ir, 8, 4, n=600)
    res = _fixed_point_vs_fista(X, D1, D2, lam1=0.05, lam2=0.02, lam3=0.01)
    # nuclear norm is not what it thresholds: the fixed point is not the nuclear-norm minimiser
    prob = LowRankSparseProblem(D1, D2, lam1=0.05, lam2=0.02)
    nuc = fista(X, prob, tol=1e-10, max_iter=5000)
    assert np.abs(nuc.Z - res.Z).max() > 1e-3  # far beyond both solvers' accuracy (tol 1e-10..1e-13); measured 0.11


@pytest.mark.shared
def test_fixed_point_is_minimiser_tno21():
    img = load_grey(shared_path("data", "tno21", "ir", "01.png"))
    D1, D2 = dct_pair(8, 16)
    X = real_patches(img, 8, 4, n=800)
    _fixed_point_vs_fista(X, D1, D2, lam1=0.05, lam2=0.02, lam3=0.0)


def test_decomposition_of_real_image_reconstructs(demo_vi):
    """With small lambdas the two parts add up to the patches; the base part carries the low frequencies."""
    D1, D2 = dct_pair(8, 6)
    X = real_patches(demo_vi, 8, 8, n=None)
    res = algorithm1(X, D1, D2, lam1=1e-4, lam2=1e-4, n_iter=50)
    err = np.linalg.norm(X - res.low_rank - res.sparse) / np.linalg.norm(X)
    assert err < 0.01  # a modelling bound, not rounding: thresholds of 1e-4 remove ~1e-4 of the signal (1.4e-4)
    assert np.linalg.norm(res.low_rank) > np.linalg.norm(res.sparse)


def test_warning_and_nan_error(rng):
    D1, D2, X = random_problem_data(rng)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        algorithm1(X, D1, D2, lam1=0.01, lam2=0.01, n_iter=3, tol=1e-12)
    p = LowRankSparseProblem(D1, D2, lam1=0.0, lam2=0.0)
    with pytest.raises(FloatingPointError, match=r"iteration \d+"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            algorithm1(X * 1e300, D1, D2, lam1=0.0, lam2=0.0, mu=10 / p.lipschitz(), n_iter=2000)


def test_bad_input(rng):
    D1, D2, X = random_problem_data(rng)
    with pytest.raises(ValueError, match=r"X has shape \(10, 120\)"):
        algorithm1(X[:10], D1, D2, lam1=0.1, lam2=0.1)
    with pytest.raises(ValueError, match="lam2 must be in"):
        algorithm1(X, D1, D2, lam1=0.1, lam2=-1.0)
    with pytest.raises(ValueError, match="max_iter must be >= 0"):
        algorithm1(X, D1, D2, lam1=0.1, lam2=0.1, n_iter=-1)
    with pytest.raises(ValueError, match="non-finite"):
        algorithm1(np.where(X > 2, np.nan, X), D1, D2, lam1=0.1, lam2=0.1)
    with pytest.raises(ValueError, match="pass lam3 instead"):
        Algorithm1(X, LowRankSparseProblem(D1, D2, lam1=0.1, lam2=0.1, ridge=0.5))


def test_zero_iterations_is_thresholded_B(rng):
    D1, D2, X = random_problem_data(rng)
    res = algorithm1(X, D1, D2, lam1=0.1, lam2=0.2, mu=0.3, n_iter=0)
    D = np.hstack([D1, D2])
    # float64: the same 16-term product in another order, 16 x 1.1e-16 x |X| <= 4 -> 7e-15 (measured equal)
    np.testing.assert_allclose(res.Z, soft_threshold(0.3 * D.T @ X, 0.3 * np.r_[[0.1] * 6, [0.2] * 10]), atol=1e-14)
