"""solvers.latlrr: the inexact ALM meets LatLRR's constraint at an optimum, and MDLatLRR's decomposition adds up."""

from __future__ import annotations

import numpy as np
import pytest

from solvers.latlrr import LatLRRProblem, latlrr, learn_projection, md_decompose, overlap_add, patch_columns


def _data(seed=0, d=8, n=30, rank=4):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((d, n)) < 0.1) * rng.standard_normal((d, n))
    return rng.standard_normal((d, rank)) @ rng.standard_normal((rank, n)) + 0.1 * spikes


def test_the_alm_meets_the_constraint_and_no_feasible_point_nearby_is_lower():
    X = _data()
    res = latlrr(X, lam=0.5)
    p = res.problem
    assert res.converged and res.n_iter < 400
    assert np.abs(p.residual(res.Z, res.L, res.E)).max() < 1e-6
    assert res.history["residual"][-1] < 1e-6 and res.history["constraint"][-1] < 1e-6
    # the penalty grows geometrically from mu0 up to its cap
    mu = res.history["penalty"]
    assert mu[0] == 1e-6 and np.allclose(mu[1:6] / mu[:5], 1.1) and mu.max() <= 1e6
    # convex problem: a local optimum over the feasible set is global. Move Z and L anywhere (small and large steps),
    # absorb the change in E so that the constraint holds, and the objective never goes down.
    E0 = res.E + p.residual(res.Z, res.L, res.E)  # exactly feasible
    f0 = p.objective(res.Z, res.L, E0)
    rng = np.random.default_rng(1)
    for _ in range(100):
        s = 10.0 ** rng.uniform(-4, 0)
        Z, L = res.Z + s * rng.standard_normal(res.Z.shape), res.L + s * rng.standard_normal(res.L.shape)
        assert p.objective(Z, L, X - X @ Z - L @ X) >= f0 - 1e-9
    # and below the obvious feasible points: all error (E = X), self-representation (Z = I), projection (L = I)
    d, n = X.shape
    zeros_n, zeros_d = np.zeros((n, n)), np.zeros((d, d))
    for Z, L in ((zeros_n, zeros_d), (np.eye(n), zeros_d), (zeros_n, np.eye(d))):
        assert f0 < p.objective(Z, L, X - X @ Z - L @ X)


def test_the_objective_rises_to_the_optimum_from_the_infeasible_side():
    """The ALM starts at Z = L = 0 with almost all thresholded: infeasible and below the optimum. Once the penalty is
    large, every later iterate is closer to feasible and the objective settles on the optimum."""
    res = latlrr(_data(3), lam=0.5)
    h = res.history
    late = h["penalty"] >= 1.0
    assert h["objective"][0] < h["objective"][-1]
    c = h["constraint"][late]
    assert np.all(c[10::10] < c[:-10:10]) and c[-1] < 1e-3 * c[0]  # the residual falls, ten iterations at a time
    assert abs(h["objective"][late][-5:] - h["objective"][-1]).max() < 1e-4 * h["objective"][-1]


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_the_objective_of_the_feasible_iterates_falls_to_the_optimum(seed):
    """(Z_k, L_k) with E = X - XZ_k - LX_k meets the constraint at every iteration: its objective starts far below the
    trivial feasible point (Z = L = 0, E = X) and, once the penalty is large, falls ten iterations at a time to the
    optimum, where it meets the ALM's own objective."""
    X = _data(seed)
    res = latlrr(X, lam=0.5)
    f, h = res.history["feasible_objective"], res.history
    assert res.converged
    assert f[-1] < f[0] < 0.5 * np.abs(X).sum()
    late = f[h["penalty"] >= 1.0]
    block_max = [late[i : i + 10].max() for i in range(0, len(late) - 9, 10)]
    assert len(block_max) >= 5 and np.all(np.diff(block_max) <= 0)
    assert abs(f[-1] - h["objective"][-1]) < 1e-5 * f[-1]
    assert abs(f[-1] - res.problem.objective(res.Z, res.L, X - X @ res.Z - res.L @ X)) < 1e-9 * f[-1]


def test_latlrr_without_sparse_error_recovers_the_closed_form_split():
    """For lam large (E forced to 0) and X of rank r, the minimiser splits X between XZ and LX with Z and L in the
    row and column spaces of X (Liu & Yan 2011: Z = V W V^T, L = U (I - W) U^T for a diagonal W)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 12))
    res = latlrr(X, lam=100.0)
    assert np.abs(res.E).max() < 1e-5
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    r = int((s > 1e-8 * s[0]).sum())
    V, Uc = Vt[:r].T, U[:, :r]
    np.testing.assert_allclose(V @ (V.T @ res.Z @ V) @ V.T, res.Z, atol=1e-5)
    np.testing.assert_allclose(Uc @ (Uc.T @ res.L @ Uc) @ Uc.T, res.L, atol=1e-5)
    np.testing.assert_allclose(X @ res.Z + res.L @ X, X, atol=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="X must be a non-empty 2-D array"):
        latlrr(np.ones(5))
    with pytest.raises(ValueError, match="NaN or Inf"):
        latlrr(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="lam must be in"):
        LatLRRProblem(np.eye(2), 0.0)
    with pytest.raises(ValueError, match="rho must be in"):
        latlrr(np.eye(2), rho=1.0)
    res = latlrr(_data(), lam=0.5, max_iter=5)
    assert not res.converged and res.n_iter == 5


def test_patch_columns_and_overlap_add_follow_the_matlab_layout():
    img = np.arange(20.0).reshape(4, 5)
    cols = patch_columns(img, 2)
    assert cols.shape == (4, 3 * 4)
    # position (0, 1) is the second column; a patch is vectorised column by column (MATLAB's temp(:))
    np.testing.assert_array_equal(cols[:, 1], [1.0, 6.0, 2.0, 7.0])
    np.testing.assert_array_equal(cols[:, 4], img[1:3, 0:2].T.ravel())
    # putting the unchanged patches back and averaging gives the image
    np.testing.assert_allclose(overlap_add(cols, img.shape, 2), img)
    # averaging: a constant patch value c at every position gives c everywhere
    np.testing.assert_allclose(overlap_add(np.full_like(cols, 3.0), img.shape, 2), 3.0)
    with pytest.raises(ValueError, match="expected columns of shape"):
        overlap_add(cols[:, :-1], img.shape, 2)
    with pytest.raises(ValueError, match="at least 8 x 8"):
        patch_columns(img, 8)


def test_md_decompose_adds_up_level_by_level():
    rng = np.random.default_rng(0)
    img = rng.random((20, 24))
    P = rng.standard_normal((9, 9)) * 0.1
    base, details = md_decompose(img, P, levels=3)
    assert len(details) == 3 and details[0].shape == (9, 18 * 22)
    rebuilt = base.copy()
    b = img
    for cols in details:
        np.testing.assert_allclose(cols, P @ patch_columns(b, 3))
        part = overlap_add(cols, img.shape, 3)
        rebuilt += part
        b = b - part
    np.testing.assert_allclose(rebuilt, img, atol=1e-12)
    # the identity projection moves everything into the first detail level
    base, details = md_decompose(img, np.eye(9), levels=2)
    np.testing.assert_allclose(base, 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="projection must be s"):
        md_decompose(img, np.eye(8))


def test_learn_projection_runs_latlrr_on_distinct_patches():
    rng = np.random.default_rng(2)
    imgs = [rng.random((16, 24)), rng.random((9, 17))]  # 6 + 2 distinct 8 x 8 blocks (edges cropped)
    res = learn_projection(imgs, n_patches=8, lam=0.4, max_iter=2000)
    assert res.converged and res.L.shape == (64, 64)
    X = res.problem.X
    assert X.shape == (64, 8)
    blocks = {tuple(imgs[0][i:i + 8, j:j + 8].T.ravel()) for i in (0, 8) for j in (0, 8, 16)}
    blocks |= {tuple(imgs[1][0:8, j:j + 8].T.ravel()) for j in (0, 8)}
    assert {tuple(c) for c in X.T} == blocks
    with pytest.raises(ValueError, match="fewer than n_patches=9"):
        learn_projection(imgs, n_patches=9)
    with pytest.raises(ValueError, match="training image 0 must be grey"):
        learn_projection([np.zeros((8, 8, 3))])
