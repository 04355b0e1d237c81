"""Every numba kernel against a numpy reference written out here."""

import numpy as np
import pytest

from solvers import _kernels
from solvers.base import _change_norms


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, 70_001])
def test_momentum_and_restart_inner(rng, dtype, n):
    z_new, z_prev, y = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    ref_dot = np.vdot(y.astype(np.float64) - z_new, z_new.astype(np.float64) - z_prev)
    assert _kernels.restart_inner(y, z_new, z_prev) == pytest.approx(ref_dot, rel=1e-10, abs=1e-10)
    out = np.empty_like(y)
    beta = dtype(0.37)
    _kernels.momentum(z_new, z_prev, beta, out)
    np.testing.assert_array_equal(out, z_new + beta * (z_new - z_prev))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (128, 700)])
def test_change_norms(rng, dtype, shape):
    new, old = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    d, o = _change_norms(new, old)
    assert d == pytest.approx(np.sum((new.astype(np.float64) - old) ** 2), rel=1e-12)
    assert o == pytest.approx(np.sum(old.astype(np.float64) ** 2), rel=1e-12)
    new[1, 2] = np.nan
    assert not np.isfinite(_change_norms(new, old)[0])
    new[1, 2] = np.inf
    assert not np.isfinite(_change_norms(new, old)[0])


def test_cd_sweep_is_one_cyclic_coordinate_pass(rng):
    K, n = 6, 4
    D = rng.standard_normal((10, K))
    G = D.T @ D
    X = rng.standard_normal((10, n))
    Bt = np.ascontiguousarray((D.T @ X).T)
    theta = np.full(K, 0.3)
    Zt = np.zeros((n, K))
    Rt = Bt.copy()
    done = np.zeros(n, bool)
    zsq, colobj = np.zeros(n), np.zeros(n)
    _kernels.cd_sweep(G, Bt, theta, Zt, Rt, done, zsq, colobj, 0.0)
    ref = np.zeros((n, K))
    for i in range(n):  # the textbook update, coordinate by coordinate
        z = ref[i]
        for j in range(K):
            u = Bt[i, j] - G[j] @ z + G[j, j] * z[j]
            z[j] = np.sign(u) * max(abs(u) - theta[j], 0) / G[j, j]
    np.testing.assert_allclose(Zt, ref, atol=1e-12)
    np.testing.assert_allclose(Rt, Bt - ref @ G, atol=1e-12)
    np.testing.assert_allclose(zsq, (ref**2).sum(1), rtol=1e-12)
    obj = 0.5 * np.einsum("ij,jk,ik->i", ref, G, ref) - (Bt * ref).sum(1) + (theta * np.abs(ref)).sum(1)
    np.testing.assert_allclose(colobj, obj, atol=1e-12)
