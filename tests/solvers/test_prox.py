import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from solvers import L1Prox, NuclearProx, _kernels, soft_threshold, soft_threshold_numpy, svt

floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def definition(x, theta):
    return np.sign(x) * np.maximum(np.abs(x) - theta, 0)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("theta", [0.0, 0.3, 2.5, -0.7])
def test_soft_threshold_equals_definition(rng, engine, dtype, theta):
    x = (3 * rng.standard_normal((137, 153))).astype(dtype)  # above the size at which numba takes over
    x[0, :5] = 0.0
    out = soft_threshold(x, theta, engine=engine)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, definition(x, dtype(theta)))


def test_known_values():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(soft_threshold(x, 1.0), [-1.0, 0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(soft_threshold(x, -0.5), [-2.5, -1.0, 0.0, 1.0, 2.5])


@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=floats),
       arrays(np.float32, 6, elements=st.floats(-5, 5, width=32)))
@settings(max_examples=60, deadline=None)
def test_numba_kernels_equal_numpy(x, theta):
    t = theta[: x.shape[0]]
    b = soft_threshold_numpy(x, t)
    a = np.empty_like(x)
    _kernels.soft_threshold_rows(x, t, a)
    np.testing.assert_array_equal(a, b)
    y = x.copy()  # in place
    _kernels.soft_threshold_rows(y, t, y)
    np.testing.assert_array_equal(y, b)
    flat = np.empty(x.size, x.dtype)
    _kernels.soft_threshold_scalar(x.ravel(), t[0], flat)
    np.testing.assert_array_equal(flat, soft_threshold_numpy(x.ravel(), t[0]))
    _kernels.soft_threshold_elementwise(x.ravel(), np.resize(t, x.size), flat)
    np.testing.assert_array_equal(flat, soft_threshold_numpy(x.ravel(), np.resize(t, x.size)))
    z = np.full_like(x, 0.25)
    _kernels.add_soft_threshold_rows(x, z, t, a)
    np.testing.assert_array_equal(a, soft_threshold_numpy(x + z, t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_and_noncontiguous(rng, dtype):
    x = rng.standard_normal((200, 300)).astype(dtype)
    th = rng.uniform(-1, 1, (200, 300)).astype(dtype)
    np.testing.assert_array_equal(soft_threshold(x, th), definition(x, th))
    view = x[:, ::3]
    np.testing.assert_array_equal(soft_threshold(view, 0.4), definition(view, dtype(0.4)))
    np.testing.assert_array_equal(soft_threshold(view, th[:, 0]), definition(view, th[:, :1]))
    small = x[:3, :4]  # below the size threshold: the numpy path, same formula
    np.testing.assert_array_equal(soft_threshold(small, 0.4), definition(small, dtype(0.4)))


def test_nan_propagates_like_numpy():
    x = np.array([np.nan, 1.0, -1.0])
    np.testing.assert_array_equal(np.isnan(soft_threshold(x, 0.5)), [True, False, False])
    out = np.empty_like(x)
    _kernels.soft_threshold_scalar(x, 0.5, out)
    np.testing.assert_array_equal(np.isnan(out), [True, False, False])


def test_soft_threshold_is_the_prox(rng):
    """No random perturbation lowers 1/2||u - x||^2 + theta||u||_1 below the prox point."""
    x = rng.standard_normal(200)
    theta = 0.4
    p = soft_threshold(x, theta)

    def f(u):
        return 0.5 * np.sum((u - x) ** 2) + theta * np.abs(u).sum()

    best = f(p)
    for _ in range(300):  # the prox is exact: only float64 rounding of f (~1e-16 x 200 terms x |f| ~ 50 -> 1e-12)
        assert f(p + 1e-3 * rng.standard_normal(200)) >= best - 1e-12
        assert f(p + rng.standard_normal(200)) >= best - 1e-12


@pytest.mark.parametrize("method", ["svd", "gram"])
@pytest.mark.parametrize("shape", [(6, 200), (200, 6), (12, 15)])
def test_svt_is_the_prox_of_the_nuclear_norm(rng, method, shape):
    M = rng.standard_normal(shape)
    tau = 3.0
    P, rank = svt(M, tau, method=method, return_rank=True)
    s = np.linalg.svd(M, compute_uv=False)
    assert rank == np.count_nonzero(s > tau)
    # float64 SVDs (the Gram route squares the condition, still ~1e-15 here: measured <= 4e-15)
    np.testing.assert_allclose(np.linalg.svd(P, compute_uv=False)[:rank], s[:rank] - tau, rtol=1e-9)

    def f(U):
        return 0.5 * np.sum((U - M) ** 2) + tau * np.linalg.svd(U, compute_uv=False).sum()

    best = f(P)
    for _ in range(50):  # perturbations raise f by >= 7e-4 (measured); 1e-10 is float64 rounding of f (|f| ~ 230)
        assert f(P + 1e-3 * rng.standard_normal(shape)) >= best - 1e-10


def test_svt_gram_equals_svd(rng):
    M = rng.standard_normal((64, 5000)) @ np.diag(np.linspace(0, 1, 5000))
    # float64: the Gram route's eigenvalue errors u sigma_max^2 (sigma_max ~ 40) move a kept sigma >= 2 by
    # ~u sigma_max^2 / sigma ~ 1e-13 (measured 1.4e-14)
    np.testing.assert_allclose(svt(M, 2.0, method="gram"), svt(M, 2.0, method="svd"), atol=1e-9)
    M32 = M.astype(np.float32)
    assert svt(M32, 2.0).dtype == np.float32


def test_prox_objects(rng):
    x = rng.standard_normal((5, 7))
    l1 = L1Prox(0.5)  # the approx comparisons (default rel 1e-6) are float64 norms computed two ways (~1e-15)
    assert l1(x) == pytest.approx(0.5 * np.abs(x).sum())
    np.testing.assert_array_equal(l1.prox(x, 2.0), definition(x, 1.0))
    nuc = NuclearProx(0.5)
    assert nuc(x) == pytest.approx(0.5 * np.linalg.svd(x, compute_uv=False).sum())
    np.testing.assert_allclose(nuc.prox(x, 2.0), svt(x, 1.0))  # the same float64 SVT (default rtol 1e-7)


def test_bad_input():
    with pytest.raises(ValueError, match="theta must be a scalar, one value per row"):
        soft_threshold(np.zeros((3, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="engine"):
        soft_threshold(np.zeros(3), 0.1, engine="cuda")
    with pytest.raises(ValueError, match="out must have"):
        soft_threshold(np.zeros(3), 0.1, out=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="tau"):
        svt(np.eye(3), -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        soft_threshold(np.zeros(3), np.nan)


@pytest.mark.parametrize("n", [9001, 11])  # the parallel kernels and the small-array path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_and_affine_threshold_paths(rng, dtype, n):
    from solvers._linalg import affine_threshold

    x = rng.standard_normal((128, n)).astype(dtype)
    rows = rng.uniform(-0.5, 1.0, 128).astype(dtype)
    np.testing.assert_array_equal(soft_threshold(x, 0.3), definition(x, dtype(0.3)))
    np.testing.assert_array_equal(soft_threshold(x, rows), definition(x, rows[:, None]))
    H = (0.01 * rng.standard_normal((128, 128))).astype(dtype)
    out = np.empty_like(x)
    affine_threshold(H, x, x, rows, out)
    # h(x + H x): 128-term products of size 0.01 x 3: u x 128 x 0.04 x 5 (|x| <= 5): 2e-6 in float32, 3e-15 in
    # float64 (measured equal: the same BLAS product)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, definition(x + H @ x, rows[:, None]), atol=tol)


def test_svt_float32_matches_svd_to_single_precision(rng):
    """The Gram route in float32 loses accuracy only on singular values far below the largest (they are zeroed)."""
    M = (rng.standard_normal((32, 4000)) * np.linspace(0.05, 1, 4000)).astype(np.float32)
    ref = svt(M.astype(np.float64), 5.0, method="svd")
    out = svt(M, 5.0, method="gram")
    assert out.dtype == np.float32
    # float32 Gram route: eigenvalue errors u sigma_max^2 (u = 6e-8, sigma_max ~ 40) move a sigma near the threshold
    # 5 by ~u sigma_max^2 / 5 ~ 2e-5, and the eigenvectors of close sigmas more; 2e-4 of max (measured 3e-7)
    np.testing.assert_allclose(out, ref, atol=2e-4 * np.abs(ref).max())


def test_svt_validates_its_input():
    with pytest.raises(ValueError, match="2-D"):
        svt(np.ones(5), 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        svt(np.array([[1.0, np.nan]]), 1.0)
