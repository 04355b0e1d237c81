"""Dictionary learning for Eq. 2/5: monotone outer objective, exact dictionary step, initialisations, estimator API."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from solvers import ISTA, ConvergenceWarning, IterativeSolver, LowRankSparseProblem
from solvers.dictionary import (
    LowRankSparseDictionaryLearning,
    dct_atoms,
    dictionary_update,
    initial_dictionaries,
    learn_dictionaries,
)

from ._fixtures import dct_pair, real_patches

N_LOW, N_SPARSE = 8, 24
# lam1 weighs the nuclear norm for FISTA/ISTA and the l1 norm of L for Algorithm 1 (a much larger quantity).
LAMS = {"fista": dict(lam1=0.1, lam2=0.01, lam3=0.01), "ista": dict(lam1=0.1, lam2=0.01, lam3=0.01),
        "algorithm1": dict(lam1=0.01, lam2=0.01, lam3=0.01)}


@pytest.fixture(scope="module")
def patches(demo_vi):
    """2000 real 8x8 patches (stride 4) of the demo visible image in [0, 1], solver orientation (64, 2000)."""
    return real_patches(demo_vi, size=8, stride=4, n=2000)


def _user_init(X):
    rng = np.random.default_rng(3)
    D = X[:, rng.choice(X.shape[1], N_LOW + N_SPARSE, replace=False)] + 0.01 * rng.standard_normal((64, 32))
    D /= np.linalg.norm(D, axis=0)
    return D[:, :N_LOW], D[:, N_LOW:]


def _centroids(D):
    """Energy-weighted mean DCT frequency u + v of each column (the documented split rule)."""
    basis = dct_atoms(64, 64)
    freq = np.sort(np.add.outer(np.arange(8), np.arange(8)).ravel())
    energy = (basis.T @ (D / np.linalg.norm(D, axis=0))) ** 2
    return freq @ energy / energy.sum(axis=0)


# ------------------------------------------------------------------------------------------- the outer objective
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["fista", "algorithm1"])
@pytest.mark.parametrize("init", ["dct", "pca", "random_patches", "sklearn", "user"])
def test_objective_decreases_every_outer_iteration(patches, init, solver, dtype):
    X = patches.astype(dtype)
    init_arg = _user_init(X) if init == "user" else init
    lams = LAMS[solver]
    D1, D2, hist, Z = learn_dictionaries(X, N_LOW, N_SPARSE, **lams, init=init_arg, coding_solver=solver,
                                         max_iter=6, coding_iter=5, tol=0, random_state=0, return_codes=True)
    obj = hist["objective"]
    assert D1.dtype == D2.dtype == Z.dtype == dtype
    assert D1.shape == (64, N_LOW) and D2.shape == (64, N_SPARSE) and Z.shape == (N_LOW + N_SPARSE, 2000)
    assert len(obj) >= 4  # at most one early stop for lack of progress, not before a few iterations
    assert np.all(np.diff(obj) < 0), obj
    assert obj[-1] < 0.05 * obj[0]  # from Z = 0 the data term 1/2||X||^2 dominates; learning removes most of it
    # Each outer iteration: the coding step then the dictionary step, neither increases the objective.
    assert np.all(hist["coding_objective"] <= obj[:-1]) and np.all(obj[1:] <= hist["coding_objective"])
    # The history is the model's objective at the returned (D, Z), not a bookkeeping artefact.
    norm = "l1" if solver == "algorithm1" else "nuclear"
    prob = LowRankSparseProblem(D1, D2, **lams, low_rank_norm=norm)
    # the same evaluation (measured equal in both dtypes); 1e-6 = 15 x float32's u (6e-8) for a recomputation
    assert prob.objective(X, Z, include_phi=True) == pytest.approx(obj[-1], rel=1e-6)
    if dtype == np.float64:  # the guards are for rounding: in float64 every dictionary step is accepted
        assert hist["dictionary_kept"].sum() == 0
    if solver == "algorithm1":  # with lam3 = 0 inside, Algorithm 1 is ISTA on the l1 model: monotone by itself
        assert hist["coding_fallback"].sum() == 0


def test_ista_coding_and_zero_ridge(patches):
    """ISTA coding is monotone by itself; lam3 = 0 (least-squares dictionary step) still decreases the objective."""
    _, _, hist = learn_dictionaries(patches, N_LOW, N_SPARSE, lam1=0.1, lam2=0.01, lam3=0.0, coding_solver="ista",
                                    max_iter=5, coding_iter=5, tol=0)
    assert np.all(np.diff(hist["objective"]) < 0)
    assert hist["coding_fallback"].sum() == 0


class _AscentSolver(IterativeSolver):
    """A deliberately bad coding solver: gradient ASCENT steps on the data term (raises the objective)."""

    name = "ascent"

    def _iterate(self):
        prev = self.Z.copy()
        self.Z = self.Z + self.problem.gradient(self.X, self.Z) / self.problem.lipschitz()
        return prev


def test_guard_falls_back_to_ista_when_coding_increases_the_objective(patches):
    X = patches[:, :600]
    kw = dict(lam1=0.1, lam2=0.01, lam3=0.01, max_iter=4, coding_iter=4, tol=0)
    D1, D2, hist = learn_dictionaries(X, N_LOW, N_SPARSE, coding_solver=_AscentSolver, **kw)
    assert np.all(hist["coding_fallback"] == 1)
    assert np.all(np.diff(hist["objective"]) < 0)
    # The fallback is ISTA from the same warm start with the same number of steps: the run equals an ISTA run.
    R1, R2, ref = learn_dictionaries(X, N_LOW, N_SPARSE, coding_solver="ista", **kw)
    # the same float64 arithmetic in the same order (measured bitwise equal): the bounds only allow a reordering
    np.testing.assert_allclose(hist["objective"], ref["objective"], rtol=1e-12)
    np.testing.assert_allclose(np.hstack([D1, D2]), np.hstack([R1, R2]), rtol=1e-10, atol=1e-12)


def test_tolerance_stops_early_and_max_iter_warns(patches):
    X = patches[:, :600]
    _, _, hist = learn_dictionaries(X, 4, 12, lam1=0.1, lam2=0.01, lam3=0.01, max_iter=200, coding_iter=5, tol=1e-2)
    assert 2 <= len(hist["objective"]) - 1 < 200
    rel = -np.diff(hist["objective"]) / hist["objective"][:-1]
    assert rel[-1] <= 1e-2 < rel[0]  # the stopping rule's tol=1e-2 itself
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        learn_dictionaries(X, 4, 12, lam1=0.1, lam2=0.01, lam3=0.01, max_iter=2, coding_iter=5, tol=1e-12)


# ------------------------------------------------------------------------------------------- the dictionary step
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lam3", [0.0, 0.05, 3.0])
def test_dictionary_update_is_the_exact_minimiser(patches, rng, dtype, lam3):
    X = patches[:, :500].astype(dtype)
    Z = (rng.standard_normal((20, 500)) * (rng.random((20, 500)) < 0.3)).astype(dtype)
    D = dictionary_update(X, Z, lam3)
    assert D.dtype == dtype and D.shape == (64, 20)
    X64, Z64, D64 = (a.astype(np.float64) for a in (X, Z, D))
    grad = X64 @ Z64.T - D64 @ (Z64 @ Z64.T + 2 * lam3 * np.eye(20))
    scale = np.linalg.norm(X64 @ Z64.T)
    # the normal equations' residual: storing D in the dtype gives u x cond(ZZ^T + 2 lam3 I) (~2.3) relative, i.e.
    # 1.4e-7 in float32 (measured 3e-8) and 3e-16 in float64 (measured 2e-15)
    assert np.linalg.norm(grad) <= (1e-6 if dtype == np.float32 else 1e-12) * scale

    def f(Dm):
        return 0.5 * np.sum((X64 - Dm @ Z64) ** 2) + lam3 * np.sum(Dm**2)

    base = f(D64)
    for _ in range(5):  # the quadratic increase 1/2 ||1e-3 E Z||^2 is 1e-5 of f, far above its float64 rounding
        E = rng.standard_normal(D.shape)
        assert f(D64 + 1e-3 * E) > base and f(D64 - 1e-3 * E) > base


@pytest.mark.parametrize("lam3", [0.0, 0.1])
def test_dictionary_update_unused_atom_is_zero(rng, lam3):
    """A zero row of Z (an atom no patch uses) gives a zero atom: ridge, or the minimum-norm lstsq for lam3 = 0."""
    X, Z = rng.standard_normal((9, 50)), rng.standard_normal((4, 50))
    Z[2] = 0.0
    D = dictionary_update(X, Z, lam3)
    np.testing.assert_array_equal(D[:, 2], 0.0)
    keep = [0, 1, 3]
    # the same solve in float64 on a smaller system: ~1e-16 x cond x |D| (measured 3e-16)
    np.testing.assert_allclose(D[:, keep], dictionary_update(X, Z[keep], lam3), atol=1e-12)


def test_dictionary_update_bad_input(rng):
    with pytest.raises(ValueError, match=r"same number of columns.*\(9, 50\).*\(4, 49\)"):
        dictionary_update(rng.standard_normal((9, 50)), rng.standard_normal((4, 49)), 0.1)
    with pytest.raises(ValueError, match="lam3"):
        dictionary_update(rng.standard_normal((9, 50)), rng.standard_normal((4, 50)), -1.0)


# ------------------------------------------------------------------------------------------- initialisations
def test_dct_atoms_orthonormal_and_ordered_by_frequency():
    D = dct_atoms(64, 64)  # float64 throughout: 64-term sums, 64 x 1.1e-16 = 7e-15 (measured 7e-16)
    np.testing.assert_allclose(D.T @ D, np.eye(64), atol=1e-12)
    np.testing.assert_allclose(D[:, 0], 1 / 8)  # DC first
    ref1, ref2 = dct_pair(8, 16)  # the scipy.fft.dct reference, same order (u + v, then u)
    np.testing.assert_allclose(D, np.hstack([ref1, ref2]), atol=1e-12)
    D1d = dct_atoms(10, 10)  # not a square patch: 1-D DCT-II
    np.testing.assert_allclose(D1d.T @ D1d, np.eye(10), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dct_init_split_and_overcomplete(patches, dtype):
    X = patches.astype(dtype)
    D1, D2 = initial_dictionaries(X, N_LOW, N_SPARSE, "dct")
    assert D1.dtype == D2.dtype == dtype
    D = np.hstack([D1, D2]).astype(np.float64)
    # float32 storage of the atoms (u x |entries| <= 0.25, summed over 64 pixels: ~1e-6; measured 8e-8)
    np.testing.assert_allclose(D.T @ D, np.eye(32), atol=1e-6)  # undercomplete: distinct orthonormal DCT atoms
    np.testing.assert_allclose(D, dct_atoms(64, 64)[:, :32], atol=1e-6)  # the 8 lowest frequencies are D1
    O1, O2 = initial_dictionaries(X, 16, 128, "dct")  # overcomplete: 12 x 12 frequency grid, unit atoms, full rank
    O = np.hstack([O1, O2]).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(O, axis=0), 1.0, rtol=1e-6)  # float32 storage: u (measured 4e-8)
    assert np.linalg.matrix_rank(O) == 64
    np.testing.assert_allclose(O[:, 0], 1 / 8, rtol=1e-6)  # DC first (float32 storage, as above)
    assert _centroids(O1).mean() < _centroids(O2).mean()  # low frequencies to D1


def test_pca_init_is_leading_eigenvectors(patches):
    D1, D2 = initial_dictionaries(patches, N_LOW, N_SPARSE, "pca")
    D = np.hstack([D1, D2])
    # float64 eigenvectors: orthonormal and eigen-residuals to ~64 x 1.1e-16 x ||M|| (measured 2e-15, 1e-15 of
    # evals[0]); a small eigenvalue is accurate to u ||M|| absolutely, 1e-9 relative covers evals[0] / evals[31]
    # up to 1e6 (measured 1e-11)
    np.testing.assert_allclose(D.T @ D, np.eye(32), atol=1e-10)
    M = patches @ patches.T
    evals = np.linalg.eigvalsh(M)[::-1][:32]
    np.testing.assert_allclose(np.einsum("ik,ij,jk->k", D, M, D), evals, rtol=1e-9)  # Rayleigh quotients, in order
    np.testing.assert_allclose(M @ D, D * evals, atol=1e-8 * evals[0])
    assert np.all(D[np.argmax(np.abs(D), axis=0), np.arange(32)] > 0)  # documented sign convention


def test_random_patches_init_is_seeded_normalised_patches(patches):
    D1, D2 = initial_dictionaries(patches, N_LOW, N_SPARSE, "random_patches", random_state=7)
    E1, E2 = initial_dictionaries(patches, N_LOW, N_SPARSE, "random_patches", random_state=7)
    F1, _ = initial_dictionaries(patches, N_LOW, N_SPARSE, "random_patches", random_state=8)
    np.testing.assert_array_equal(D1, E1)
    np.testing.assert_array_equal(D2, E2)
    assert not np.array_equal(D1, F1)
    D = np.hstack([D1, D2])
    U = patches / np.linalg.norm(patches, axis=0)
    # every atom is one of the normalised patches: cosine 1 up to float64 rounding of 64-term sums (measured 8e-16)
    assert np.all(np.max(U.T @ D, axis=0) > 1 - 1e-12)
    assert _centroids(D1).max() <= _centroids(D2).min()  # the smoothest go to D1


def test_sklearn_init_reproducible_unit_atoms(patches):
    D1, D2 = initial_dictionaries(patches, N_LOW, N_SPARSE, "sklearn", alpha=0.01)
    E1, E2 = initial_dictionaries(patches, N_LOW, N_SPARSE, "sklearn", alpha=0.01)
    np.testing.assert_array_equal(np.hstack([D1, D2]), np.hstack([E1, E2]))  # random_state=None means seed 0
    np.testing.assert_allclose(np.linalg.norm(np.hstack([D1, D2]), axis=0), 1.0, rtol=1e-10)  # float64: 2e-16
    assert _centroids(D1).max() <= _centroids(D2).min()


def test_user_init_is_copied_and_checked(patches):
    U1, U2 = _user_init(patches)
    D1, D2 = initial_dictionaries(patches.astype(np.float32), N_LOW, N_SPARSE, (U1, U2))
    # np.allclose's rtol 1e-5 over the float32 cast (u = 6e-8)
    assert D1.dtype == np.float32 and np.allclose(D1, U1) and not np.shares_memory(D1, U1)
    with pytest.raises(ValueError, match=r"\(64, 8\) and \(64, 24\).*\(64, 8\) and \(64, 23\)"):
        initial_dictionaries(patches, N_LOW, N_SPARSE, (U1, U2[:, 1:]))
    with pytest.raises(ValueError, match="init must be one of"):
        initial_dictionaries(patches, N_LOW, N_SPARSE, "kmeans")


# ------------------------------------------------------------------------------------------- estimator API
@pytest.fixture(scope="module")
def fitted(patches):
    return LowRankSparseDictionaryLearning(n_low=4, n_sparse=12, max_iter=5, coding_iter=5, tol=0).fit(patches.T)


def test_estimator_fit_attributes(patches, fitted):
    est = LowRankSparseDictionaryLearning(n_low=4, n_sparse=12, max_iter=3, coding_iter=5, tol=0)
    assert est.fit(patches.T[:300]) is est
    f = fitted
    assert f.components_.shape == (16, 64) and f.D1_.shape == (64, 4) and f.D2_.shape == (64, 12)
    np.testing.assert_array_equal(f.components_, np.hstack([f.D1_, f.D2_]).T)
    assert f.n_features_in_ == 64 and f.n_iter_ == 5 and f.objective_.shape == (6,)
    assert np.all(np.diff(f.objective_) < 0)
    assert isinstance(f.problem_, LowRankSparseProblem) and f.problem_.lam1 == 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimator_transform_gives_near_optimal_codes(patches, fitted, dtype):
    X = patches.T[:200].astype(dtype)
    codes = fitted.transform(X)
    assert codes.shape == (200, 16) and codes.dtype == dtype
    # A fixed point of the proximal gradient map of the fitted problem: one more ISTA step barely moves it.
    prob = fitted.problem_.astype(np.float64)
    Z = codes.T.astype(np.float64)
    Z1 = ISTA(X.T.astype(np.float64), prob, Z0=Z, max_iter=1, tol=0).solve().Z
    # transform stops at relative change 1e-6 (float32 codes add u = 6e-8): measured 3e-7 in both dtypes; 1e-3 is
    # loose, as codes far from the fixed point (Z = 0, say) move by O(1)
    assert np.linalg.norm(Z1 - Z) <= 1e-3 * np.linalg.norm(Z)
    assert prob.objective(X.T, Z) < prob.objective(X.T, np.zeros_like(Z))


def test_estimator_clone_and_not_fitted(fitted):
    c = clone(fitted)
    assert c.get_params() == fitted.get_params()
    assert not hasattr(c, "components_")
    with pytest.raises(NotFittedError):
        c.transform(np.zeros((3, 64)))


def test_estimator_algorithm1_learns_the_l1_model(patches):
    est = LowRankSparseDictionaryLearning(n_low=4, n_sparse=12, lam1=0.01, coding_solver="algorithm1", max_iter=3,
                                          coding_iter=5, tol=0).fit(patches.T[:500])
    assert est.problem_.low_rank_norm == "l1" and np.all(np.diff(est.objective_) < 0)
    assert est.transform(patches.T[:10]).shape == (10, 16)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (dict(lam1=-0.1), ValueError, r"lam1 must be in \[0.0, inf\), got -0.1"),
        (dict(lam2=-1), ValueError, "lam2"),
        (dict(lam3=-1e-3), ValueError, "lam3"),
        (dict(n_low=0, n_sparse=0), ValueError, "n_low \\+ n_sparse must be >= 1, got n_low=0, n_sparse=0"),
        (dict(n_low=-1), ValueError, "n_low must be >= 0"),
        (dict(init="wavelet"), ValueError, "init must be one of .* got 'wavelet'"),
        (dict(coding_solver="admm"), ValueError, "coding_solver must be one of .* got 'admm'"),
        (dict(max_iter=0), ValueError, "max_iter must be >= 1"),
        (dict(tol=-1.0), ValueError, "tol"),
    ],
)
def test_estimator_bad_parameters(patches, params, error, match):
    with pytest.raises(error, match=match):
        LowRankSparseDictionaryLearning(**params).fit(patches.T[:100])


def test_estimator_bad_input(patches, fitted):
    X = patches.T[:100].copy()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LowRankSparseDictionaryLearning(max_iter=1).fit(X)
    with pytest.raises(ValueError, match="X has 49 features, but LowRankSparseDictionaryLearning is expecting 64"):
        fitted.transform(np.zeros((5, 49)))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted.transform(np.zeros(64))


def test_verbose_shows_a_progress_bar(patches, capsys):
    LowRankSparseDictionaryLearning(n_low=2, n_sparse=4, max_iter=2, coding_iter=2, tol=0, verbose=True).fit(
        patches.T[:100])
    assert "dictionary learning" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::solvers.base.ConvergenceWarning")  # tiny random data, few iterations
@pytest.mark.parametrize(
    "check", ["check_get_params_invariance", "check_set_params", "check_dont_overwrite_parameters",
              "check_fit_idempotent", "check_n_features_in", "check_n_features_in_after_fitting",
              "check_fit2d_predict1d", "check_estimators_empty_data_messages", "check_complex_data",
              "check_estimator_sparse_array", "check_estimators_nan_inf", "check_transformer_general",
              "check_estimators_dtypes", "check_estimators_pickle"])
def test_sklearn_estimator_checks(check):
    """A selection of scikit-learn's checks (all but check_methods_subset_invariance pass: with the nuclear norm the
    codes of the samples are coupled, so transform of a subset is not the subset of transform)."""
    from sklearn.utils import estimator_checks

    est = LowRankSparseDictionaryLearning(n_low=2, n_sparse=3, max_iter=2, coding_iter=3, tol=0, random_state=0)
    getattr(estimator_checks, check)(type(est).__name__, est)
