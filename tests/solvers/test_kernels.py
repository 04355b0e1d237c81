"""Every numba kernel against a numpy reference written out here.

The reductions (restart_inner, change_norms) are ``prange`` loops: each thread sums its chunk into its own slot and
the slots are added at the end, so the order of the float64 additions depends on the number of threads (with the
default workqueue layer the chunks go to fixed threads, so a given thread count repeats bit for bit). They are
compared against numpy with the worst-case bound of a float64 sum of n terms in any order, computed by both sides:
``|error| <= 2 (n - 1) u sum|t_i| <= n eps sum|t_i|`` (u = eps / 2 = 1.1e-16); the per-term products are the same
operations on both sides. Measured errors are 1e-14 relative at n = 70,001 with 1 or 2 threads.
"""

import numpy as np
import pytest

from solvers import _kernels
from solvers.base import _change_norms

EPS = np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, 70_001])
def test_momentum_and_restart_inner(rng, dtype, n):
    z_new, z_prev, y = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    terms = (y.astype(np.float64) - z_new) * (z_new.astype(np.float64) - z_prev)
    ref_dot = np.vdot(y.astype(np.float64) - z_new, z_new.astype(np.float64) - z_prev)
    # a sum of n mixed-sign terms in a thread-dependent order: module docstring
    bound = n * EPS * np.abs(terms).sum()
    assert _kernels.restart_inner(y, z_new, z_prev) == pytest.approx(ref_dot, rel=0, abs=bound)
    out = np.empty_like(y)
    beta = dtype(0.37)
    _kernels.momentum(z_new, z_prev, beta, out)
    np.testing.assert_array_equal(out, z_new + beta * (z_new - z_prev))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (128, 700)])
def test_change_norms(rng, dtype, shape):
    new, old = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    d, o = _change_norms(new, old)
    rel = new.size * EPS  # sums of n positive terms in a thread-dependent order: module docstring (2e-11 here)
    assert d == pytest.approx(np.sum((new.astype(np.float64) - old) ** 2), rel=rel)
    assert o == pytest.approx(np.sum(old.astype(np.float64) ** 2), rel=rel)
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
    # one column per thread, serial within it (no cross-thread sums): the kernel updates the residual where the
    # reference takes G[j] @ z, float64 sums of K = 6 terms of size ~3: ~1e-16 x 6 x 3 (measured <= 7e-16)
    np.testing.assert_allclose(Zt, ref, atol=1e-12)
    np.testing.assert_allclose(Rt, Bt - ref @ G, atol=1e-12)
    np.testing.assert_allclose(zsq, (ref**2).sum(1), rtol=1e-12)
    obj = 0.5 * np.einsum("ij,jk,ik->i", ref, G, ref) - (Bt * ref).sum(1) + (theta * np.abs(ref)).sum(1)
    np.testing.assert_allclose(colobj, obj, atol=1e-12)
