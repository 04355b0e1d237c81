"""The convolutional Algorithm 1 (Eq. 7-8) against loop references, an explicit matrix and FISTA.

Tolerances: the operators are float64 (FFT or direct) on values of size <= 5 (unit-norm filters, standard normal
data), sums of at most 25 taps x 5 atoms: rounding ~1.1e-16 x 125 x 5 ~ 1e-13 (measured <= 3e-15), so
``OPERATOR_ATOL = 1e-12`` with ``rtol=0``. Solver comparisons (against FISTA) are bounded by the solvers' accuracy at
their ``tol``, said where they occur. No numba reductions are involved (scipy FFT / numpy), so results do not
depend on threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from solvers import FISTA, ConvergenceWarning, LowRankSparseProblem, algorithm1, extract_patches
from solvers.convolutional import ConvAlgorithm1, ConvProblem, conv_algorithm1, patch_dictionary_to_filters

from ._fixtures import dct_pair

OPERATOR_ATOL = 1e-12  # float64 operators: ~1e-16 x 125-term sums x |values| <= 5 -> 1e-13 (module docstring)
METHODS = ("fft", "direct")
BOUNDARIES = ("zero", "reflect")


# ------------------------------------------------------------------ references written with loops
def _padded(a, c, boundary):
    return np.pad(a, c, mode="constant" if boundary == "zero" else "reflect")


def ref_synthesis(Z, filters, boundary):
    """y[i, j] = sum_k sum_uv d_k[u, v] z_k[i - u + c, j - v + c] (true convolution), z_k extended by the boundary."""
    K, s, _ = filters.shape
    c = s // 2
    H, W = Z.shape[1:]
    y = np.zeros((H, W))
    for k in range(K):
        zp = _padded(Z[k], c, boundary)  # zp[p + c, q + c] = z[p, q]
        for i in range(H):
            for j in range(W):
                for u in range(s):
                    for v in range(s):
                        y[i, j] += filters[k, u, v] * zp[i - u + 2 * c, j - v + 2 * c]
    return y


def ref_analysis(R, filters, boundary):
    """a_k[i, j] = sum_uv d_k[u, v] r[i + u - c, j + v - c] (correlation), r extended by the boundary."""
    K, s, _ = filters.shape
    c = s // 2
    H, W = R.shape
    rp = _padded(R, c, boundary)
    a = np.zeros((K, H, W))
    for k in range(K):
        for i in range(H):
            for j in range(W):
                for u in range(s):
                    for v in range(s):
                        a[k, i, j] += filters[k, u, v] * rp[i + u, j + v]
    return a


def ref_step(x, Z, filters, theta, lam3, mu, boundary):
    V = mu * ref_analysis(x - ref_synthesis(Z, filters, boundary), filters, boundary) + (1 - lam3) * Z
    return np.sign(V) * np.maximum(np.abs(V) - theta[:, None, None], 0.0)


def explicit_matrix(filters, shape):
    """The (H*W, K*H*W) matrix of the zero-boundary synthesis, entry by entry from the convolution's definition."""
    K, s, _ = filters.shape
    c = s // 2
    H, W = shape
    A = np.zeros((H * W, K * H * W))
    for k in range(K):
        for p in range(H):
            for q in range(W):
                for i in range(max(0, p - c), min(H, p + c + 1)):
                    for j in range(max(0, q - c), min(W, q + c + 1)):
                        A[i * W + j, (k * H + p) * W + q] = filters[k, i - p + c, j - q + c]
    return A


def random_filters(rng, K=4, s=3):
    f = rng.standard_normal((K, s, s))
    return f / np.linalg.norm(f.reshape(K, -1), axis=1)[:, None, None]


# ------------------------------------------------------------------ (1) operators
@pytest.mark.parametrize("method", METHODS)
def test_zero_boundary_pair_is_adjoint_and_reflect_is_not(rng, method):
    f = random_filters(rng, K=5, s=5)
    Z, R = rng.standard_normal((5, 11, 13)), rng.standard_normal((11, 13))
    prob = ConvProblem(f, 2, lam1=0.1, lam2=0.1, boundary="zero", method=method)
    lhs, rhs = np.vdot(prob.synthesis(Z), R), np.vdot(Z, prob.analysis(R))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)  # float64 inner products of 715 terms: ~1e-13 (measured 3e-16)
    refl = prob.replace(boundary="reflect")
    # not adjoint: measured 0.8 relative, far beyond rounding
    assert abs(np.vdot(refl.synthesis(Z), R) - np.vdot(Z, refl.analysis(R))) > 1e-3 * abs(lhs)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", METHODS)
def test_operators_equal_loop_reference(rng, boundary, method):
    f = random_filters(rng, K=3, s=5)
    Z, R = rng.standard_normal((3, 7, 9)), rng.standard_normal((7, 9))
    prob = ConvProblem(f, 1, lam1=0.1, lam2=0.1, boundary=boundary, method=method)
    np.testing.assert_allclose(prob.synthesis(Z), ref_synthesis(Z, f, boundary), rtol=0, atol=OPERATOR_ATOL)
    np.testing.assert_allclose(prob.analysis(R), ref_analysis(R, f, boundary), rtol=0, atol=OPERATOR_ATOL)
    L = prob.low_rank_image(Z)
    np.testing.assert_allclose(L, ref_synthesis(Z[:1], f[:1], boundary), rtol=0, atol=OPERATOR_ATOL)
    np.testing.assert_allclose(L + prob.sparse_image(Z), prob.synthesis(Z), rtol=0, atol=OPERATOR_ATOL)


@pytest.mark.parametrize("shape", [(8, 8), (12, 10)])  # dense eigenvalues below 100 pixels, Lanczos above
def test_explicit_matrix_and_lipschitz(rng, shape):
    f = random_filters(rng, K=4, s=3)
    A = explicit_matrix(f, shape)
    prob = ConvProblem(f, 2, lam1=0.1, lam2=0.1, boundary="zero")
    Z, R = rng.standard_normal((4, *shape)), rng.standard_normal(shape)
    np.testing.assert_allclose(prob.synthesis(Z).ravel(), A @ Z.ravel(), rtol=0, atol=OPERATOR_ATOL)
    np.testing.assert_allclose(prob.analysis(R).ravel(), A.T @ R.ravel(), rtol=0, atol=OPERATOR_ATOL)
    exact = np.linalg.norm(A, 2) ** 2
    lip = prob.lipschitz(shape)
    # rel 1e-8: eigsh's tol (dense eigvalsh below 100 pixels: measured 7e-16); a Ritz value is never above the true
    # value, up to float64 rounding of the two eigen-solvers (1e-12 >> their 1e-15)
    assert lip == pytest.approx(exact, rel=1e-8) and lip <= exact * (1 + 1e-12)
    bound = prob.lipschitz(shape, method="bound")
    assert bound == prob.lipschitz_bound(shape) >= exact * (1 - 1e-12)  # an upper bound, up to float64 rounding
    assert bound < 1.5 * exact  # its documented excess on small images (30% at worst; measured 14%, 7%)


def test_auto_engine_matches_reference(rng):
    for s in (3, 11):  # direct below s = 9, FFT above
        f = random_filters(rng, K=2, s=s)
        Z, R = rng.standard_normal((2, 12, 13)), rng.standard_normal((12, 13))
        prob = ConvProblem(f, 1, lam1=0.1, lam2=0.1, boundary="reflect")
        # float64 with 11 x 11 filters: 242-term sums, 10x OPERATOR_ATOL (measured 3e-15)
        np.testing.assert_allclose(prob.synthesis(Z), ref_synthesis(Z, f, "reflect"), rtol=0, atol=10 * OPERATOR_ATOL)
        np.testing.assert_allclose(prob.analysis(R), ref_analysis(R, f, "reflect"), rtol=0, atol=10 * OPERATOR_ATOL)


def test_patch_dictionary_filters_match_extract_patches(demo_ir):
    """analysis at pixel (i, j) = D^T (the patch centred at (i, j)), with the row-major convention of patches."""
    D = np.hstack(dct_pair(5, 3))
    f = patch_dictionary_to_filters(D, 5)
    np.testing.assert_array_equal(f[7].ravel(), D[:, 7])
    img = demo_ir[100:120, 50:80] / 255.0
    a = ConvProblem(f, 3, lam1=0.0, lam2=0.0).analysis(img)
    X = extract_patches(img, 5, 1)  # top-left corners (p, q), p < 16, q < 26, row-major
    np.testing.assert_allclose(a[:, 2:-2, 2:-2].reshape(25, -1), D.T @ X, rtol=0, atol=OPERATOR_ATOL)  # float64


# ------------------------------------------------------------------ (2) one iteration == the loop reference
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("method", METHODS)
def test_iterations_equal_loop_reference(rng, dtype, boundary, method):
    f = random_filters(rng, K=4, s=3)
    x = rng.standard_normal((7, 9))
    lam1, lam2, lam3, mu = 0.1, 0.3, 0.2, 0.15
    res = conv_algorithm1(x.astype(dtype), f.astype(dtype), 2, lam1=lam1, lam2=lam2, lam3=lam3, mu=mu, n_iter=2,
                          boundary=boundary, method=method, return_iterates=True)
    assert res.Z.dtype == dtype and all(z.dtype == dtype for z in res.iterates)
    assert res.low_rank.dtype == dtype and res.low_rank.shape == x.shape
    theta = mu * np.array([lam1, lam1, lam2, lam2])
    Z = ref_step(x, np.zeros((4, 7, 9)), f, theta, lam3, mu, boundary)  # Z_0 = h(C2 * X)
    # one step is a synthesis and an analysis of 9 taps x 4 atoms (~72-term sums): float32 u 6e-8 x 72 -> 4e-6 of
    # max|Z| (measured 2e-7), float64 1e-14 (1e-10 is loose); the reconstruction sums two of those images (10x)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    for t, Zt in enumerate(res.iterates):
        np.testing.assert_allclose(Zt, Z, atol=tol * np.abs(Z).max(), err_msg=f"iterate {t}")
        Z = ref_step(x, Zt.astype(np.float64), f, theta, lam3, mu, boundary)
    assert len(res.iterates) == 3 and res.n_iter == 2
    np.testing.assert_array_equal(res.L, res.Z[:2])
    np.testing.assert_allclose(res.low_rank + res.sparse, res.reconstruction, atol=10 * tol)


def test_one_by_one_atoms_are_the_patch_algorithm_per_pixel(rng):
    f = rng.standard_normal((5, 1, 1))
    x = rng.standard_normal((6, 7))
    conv = conv_algorithm1(x, f, 2, lam1=0.2, lam2=0.1, lam3=0.1, n_iter=5)  # default mu on both sides
    D = f.reshape(1, 5)
    pat = algorithm1(x.reshape(1, -1), D[:, :2], D[:, 2:], lam1=0.2, lam2=0.1, lam3=0.1, n_iter=5)
    # float64 both ways: the same 1/||D||^2 (measured equal), then 5 iterations of the same arithmetic in another
    # order, ~1e-16 x 5 iterations x |Z| <= 1 (measured 7e-16; objectives 2e-16 relative)
    np.testing.assert_allclose(conv.extras["mu"], pat.problem.step, rtol=1e-9)
    np.testing.assert_allclose(conv.Z.reshape(5, -1), pat.Z, rtol=0, atol=OPERATOR_ATOL)
    np.testing.assert_allclose(conv.history["objective"], pat.history["objective"], rtol=1e-10)


def test_warm_start_continues_the_iteration(rng):
    f, x = random_filters(rng), rng.standard_normal((9, 9))
    prob = ConvProblem(f, 2, lam1=0.05, lam2=0.05)
    full = ConvAlgorithm1(x, prob, max_iter=3, return_iterates=True).solve()
    part = ConvAlgorithm1(x, prob, max_iter=1, Z0=full.iterates[2]).solve()
    np.testing.assert_allclose(part.Z, full.Z, rtol=0, atol=1e-13)  # the same float64 operations (measured equal)


# ------------------------------------------------------------------ (3) zero boundary: proximal gradient on G
def test_zero_boundary_is_monotone_and_converges_to_the_minimiser(rng):
    f, x = random_filters(rng, K=4, s=3), rng.standard_normal((8, 8))
    lam1, lam2, lam3 = 0.05, 0.1, 0.05
    prob = ConvProblem(f, 2, lam1=lam1, lam2=lam2, lam3=lam3, boundary="zero")
    res = ConvAlgorithm1(x, prob, tol=1e-13, max_iter=5000).solve()
    assert res.converged
    obj = res.history["objective"]
    # monotone up to float64 rounding of G: ~1e-16 x 320 terms (measured 2e-16)
    assert np.all(np.diff(obj) <= 1e-13 * obj[0])
    mu = res.extras["mu"]
    # dense eigenvalues at 64 pixels: float64 rounding (measured 8e-16); 1e-6 would also hold eigsh's tol 1e-8
    assert mu == pytest.approx(1 / np.linalg.norm(explicit_matrix(f, (8, 8)), 2) ** 2, rel=1e-6)
    # the same G as a patch-free matrix problem, minimised independently
    A = explicit_matrix(f, (8, 8))
    mat = LowRankSparseProblem(A[:, :128], A[:, 128:], lam1=lam1, lam2=lam2, low_rank_norm="l1", ridge=lam3 / mu)
    Zr = rng.standard_normal((4, 8, 8))
    # the same G in float64 two ways: ~1e-16 x 320 terms
    assert prob.objective(x, Zr, mu) == pytest.approx(mat.objective(x.reshape(-1, 1), Zr.reshape(-1, 1)), rel=1e-12)
    # solver accuracy: both at relative change <= 1e-13 on a strongly convex G (ridge lam3 / mu); measured 1e-12.
    # The objective is flat at the minimiser: its error is ~ the square of that distance
    ref = FISTA(x.reshape(-1, 1), mat, tol=1e-14, max_iter=20000).solve()
    np.testing.assert_allclose(res.Z.reshape(-1, 1), ref.Z, atol=1e-6)
    assert obj[-1] == pytest.approx(mat.objective(x.reshape(-1, 1), ref.Z), rel=1e-10)
    # monotone for any mu with mu Lip + lam3 < 2 (sufficient decrease of proximal gradient), not only mu = 1/Lip;
    # a different mu is a different G (ridge lam3 / mu), so only monotonicity is compared
    long = ConvAlgorithm1(x, prob.replace(mu=(1.9 - lam3) * mu), max_iter=300).solve().history["objective"]
    assert np.all(np.diff(long) <= 1e-13 * long[0])  # as above: float64 rounding of G


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_boundary_monotone_on_real_image(demo_ir, dtype):
    f = patch_dictionary_to_filters(np.hstack(dct_pair(5, 3)), 5).astype(dtype)
    x = (demo_ir[150:182, 100:132] / 255.0).astype(dtype)
    res = conv_algorithm1(x, f, 3, lam1=0.01, lam2=0.02, lam3=0.1, boundary="zero", n_iter=40)
    obj = res.history["objective"]
    # G is accumulated in float64 but its residual x - C1 * Z is computed in the dtype: float32 u 6e-8 x 25 taps x
    # 25 atoms ~ 4e-5 of |r| in the worst case, ~1e-6 typically -> 1e-5 of G; float64 ~1e-16 x 1e3 -> 1e-12.
    # (Measured: every step lowers G by >= 7.6e-8 relative.)
    slack = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.diff(obj) <= slack * obj[0])
    assert obj[-1] < (1 - 1e-3) * obj[0]  # a real descent (measured 1.4%), not rounding


# ------------------------------------------------------------------ (4) a real image
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_real_image_decomposition(demo_ir, boundary):
    x = demo_ir[100:164, 60:124] / 255.0
    f = patch_dictionary_to_filters(np.hstack(dct_pair(5, 3)), 5)  # 3 lowest DCT frequencies are the base atoms
    res = conv_algorithm1(x, f, 3, lam1=1e-4, lam2=1e-4, n_iter=30, boundary=boundary, return_iterates=True)
    prob = res.problem
    assert res.Z.shape == (25, 64, 64) and res.L.shape == (3, 64, 64) and res.S.shape == (22, 64, 64)
    assert res.low_rank.shape == res.sparse.shape == x.shape
    errs = [np.linalg.norm(x - prob.synthesis(Z)) / np.linalg.norm(x) for Z in res.iterates]
    # monotone up to float64 rounding of the norms (errs ~ 0.1: ~1e-16 x 4096 pixels x 0.1 < 1e-13)
    assert np.all(np.diff(errs) <= 1e-12) and errs[-1] < 0.5 * errs[0]
    assert errs[-1] < 0.02  # modelling bound: thresholds of 1e-4 leave ~1e-4 of the image (measured 1.2e-4)
    # the base atoms carry the smooth content, the salient ones the details
    assert np.linalg.norm(res.low_rank) > 5 * np.linalg.norm(res.sparse)
    grad = lambda im: np.abs(np.diff(im, axis=0)).mean() + np.abs(np.diff(im, axis=1)).mean()  # noqa: E731
    assert grad(res.sparse) / np.linalg.norm(res.sparse) > grad(res.low_rank) / np.linalg.norm(res.low_rank)


def test_nonconvergence_warns_with_advice(rng):
    with pytest.warns(ConvergenceWarning, match="not a gradient method"):
        conv_algorithm1(rng.standard_normal((9, 9)), random_filters(rng), 2, lam1=0.01, lam2=0.01, n_iter=2,
                        tol=1e-14)


# ------------------------------------------------------------------ (5) bad input
def test_bad_input(rng):
    f, x = random_filters(rng), rng.standard_normal((9, 9))
    kw = dict(lam1=0.1, lam2=0.1)
    with pytest.raises(ValueError, match=r"s odd.*got shape \(4, 4, 4\)"):
        conv_algorithm1(x, rng.standard_normal((4, 4, 4)), 2, **kw)
    with pytest.raises(ValueError, match=r"s odd.*got shape \(4, 3, 5\)"):
        conv_algorithm1(x, rng.standard_normal((4, 3, 5)), 2, **kw)
    with pytest.raises(ValueError, match=r"filters must be a 3-D array, got 2-D with shape \(3, 3\)"):
        conv_algorithm1(x, f[0], 0, **kw)
    with pytest.raises(ValueError, match=r"image of shape \(2, 9\) is smaller than the filters \(3 x 3\)"):
        conv_algorithm1(x[:2], f, 2, **kw)
    with pytest.raises(ValueError, match="image contains non-finite"):
        conv_algorithm1(np.where(x > 1, np.nan, x), f, 2, **kw)
    with pytest.raises(ValueError, match=r"n_low must be <= n_atoms = 4 .* got 5"):
        conv_algorithm1(x, f, 5, **kw)
    with pytest.raises(ValueError, match="boundary must be one of"):
        conv_algorithm1(x, f, 2, boundary="wrap", **kw)
    with pytest.raises(ValueError, match="mu must be in"):
        conv_algorithm1(x, f, 2, mu=-1.0, **kw)
    with pytest.raises(ValueError, match=r"Z0 must have shape \(4, 9, 9\)"):
        ConvAlgorithm1(x, ConvProblem(f, 2, **kw), Z0=np.zeros((4, 9, 8)))
    with pytest.raises(TypeError, match="problem must be a ConvProblem"):
        ConvAlgorithm1(x, LowRankSparseProblem(np.eye(9), np.eye(9), **kw))
    with pytest.raises(ValueError, match="method must be 'auto', 'lanczos' or 'bound'"):
        ConvProblem(f, 2, **kw).lipschitz((9, 9), method="power")
    with pytest.raises(ValueError, match=r"shape\[0\] must be >= 3"):
        ConvProblem(f, 2, **kw).lipschitz((2, 9))
    with pytest.raises(ValueError, match=r"D must have size \* size = 9 rows"):
        patch_dictionary_to_filters(np.ones((8, 4)), 3)
