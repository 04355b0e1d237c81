"""Starting dictionaries for dictionary learning: DCT, PCA, random patches, scikit-learn, or given.

:func:`dct_atoms` (unit-norm 2-D DCT atoms, lowest frequency first, orthonormal or overcomplete) is also the fixed
dictionary of the demo and the benchmarks.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.utils import check_random_state

from ._validation import check_array, check_int

__all__ = ["INITS", "dct_atoms", "initial_dictionaries"]

INITS = ("dct", "pca", "random_patches", "sklearn")
_TINY = 1e-12
_SKLEARN_MAX_PATCHES = 1024


def _frequency_grid(n_features: int, m: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine atoms (columns, unnormalised) on an m-per-axis frequency grid and their frequency ``u + v``."""
    s = math.isqrt(n_features)
    square = s * s == n_features
    side = s if square else n_features
    m = side if m is None else m
    C = np.cos(np.pi * np.outer(2 * np.arange(side) + 1, np.arange(m)) / (2 * m))  # (side, m)
    if not square:
        return C, np.arange(m)
    atoms = np.einsum("iu,jv->ijuv", C, C).reshape(side * side, m * m)
    return atoms, np.add.outer(np.arange(m), np.arange(m)).ravel()


def dct_atoms(n_features: int, n_atoms: int) -> np.ndarray:
    r"""Unit-norm DCT atoms, lowest frequency first, shape (n_features, n_atoms), float64.

    For ``n_features = s*s`` the atoms are separable 2-D cosines :math:`c_u(i)c_v(j)` with
    :math:`c_u(i) = \cos(\pi u(2i+1)/(2m))`, :math:`m = \max(s, \lceil\sqrt{n\_atoms}\rceil)` frequencies per axis,
    pixel ``(i, j)`` at row ``i*s + j`` (as :func:`~solvers.patches.extract_patches`), sorted by ``u + v`` then ``u``.
    With ``n_atoms <= s*s`` (m = s) they are the orthonormal DCT-II basis; beyond, the overcomplete DCT of Elad &
    Aharon. Other ``n_features`` get the 1-D cosines :math:`c_u` with :math:`m = \max(n\_features, n\_atoms)`.

    Examples
    --------
    >>> D = dct_atoms(64, 64)
    >>> bool(np.allclose(D.T @ D, np.eye(64)))
    True
    """
    n_features = check_int(n_features, "n_features", low=1)
    n_atoms = check_int(n_atoms, "n_atoms", low=1)
    s = math.isqrt(n_features)
    m = max(s, math.ceil(math.sqrt(n_atoms))) if s * s == n_features else max(n_features, n_atoms)
    atoms, freq = _frequency_grid(n_features, m)
    D = atoms[:, np.argsort(freq, kind="stable")[:n_atoms]]
    return D / np.linalg.norm(D, axis=0)


def _split_by_frequency(atoms: np.ndarray, n_low: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-normalise atoms (columns) and give the n_low with the lowest spectral centroid to D1, the rest to D2.

    The centroid of an atom is the mean DCT frequency ``u + v`` weighted by its energy in the orthonormal DCT basis.
    """
    atoms = atoms / np.maximum(np.linalg.norm(atoms, axis=0), _TINY)
    basis, freq = _frequency_grid(atoms.shape[0])
    basis = basis / np.linalg.norm(basis, axis=0)
    energy = (basis.T @ atoms) ** 2
    centroid = freq @ energy / np.maximum(energy.sum(axis=0), _TINY)
    order = np.argsort(centroid, kind="stable")
    return atoms[:, order[:n_low]], atoms[:, order[n_low:]]


def initial_dictionaries(X, n_low: int, n_sparse: int, init="dct", *, random_state=None, alpha: float = 1.0):
    """Starting dictionaries (D1, D2) for :func:`learn_dictionaries`, in the dtype of X.

    Parameters
    ----------
    X : ndarray of shape (n_features, n_patches)
        Patch matrix (patches as columns).
    n_low, n_sparse : int
        Atoms in D1 and D2.
    init : {"dct", "pca", "random_patches", "sklearn"} or tuple (D1, D2)
        * ``"dct"``: :func:`dct_atoms` of ``n_low + n_sparse`` atoms; the n_low lowest frequencies (DC first) form D1.
        * ``"pca"``: eigenvectors of the uncentred second moment :math:`XX^T` (the mean/DC direction included), by
          decreasing eigenvalue, sign fixed so the largest entry is positive: the n_low leading ones form D1, the next
          n_sparse D2; atoms beyond n_features are unit-normalised random patches.
        * ``"random_patches"``: ``n_low + n_sparse`` distinct non-zero patches drawn with ``random_state``,
          unit-normalised, split by spectral centroid (the smoothest to D1).
        * ``"sklearn"``: the components of :class:`sklearn.decomposition.MiniBatchDictionaryLearning` (``alpha``,
          ``fit_algorithm="cd"``, one epoch in batches of 256 over at most 1024 patches drawn with ``random_state``,
          0 when None, so the default is reproducible), split by spectral centroid like random patches.
        * ``(D1, D2)``: user dictionaries of shapes (n_features, n_low), (n_features, n_sparse), copied.
    random_state : int, RandomState or None
    alpha : float, default 1
        Sparsity weight of the scikit-learn initialisation.

    Returns
    -------
    D1 : ndarray of shape (n_features, n_low)
    D2 : ndarray of shape (n_features, n_sparse)
    """
    X = check_array(X, "X", ndim=2)
    n_low, n_sparse = check_int(n_low, "n_low", low=0), check_int(n_sparse, "n_sparse", low=0)
    n, K = X.shape[0], n_low + n_sparse
    if isinstance(init, tuple):
        if len(init) != 2:
            raise ValueError(f"init as a tuple must be (D1, D2), got a tuple of length {len(init)}")
        D1 = check_array(init[0], "init D1", ndim=2, allow_empty=True)
        D2 = check_array(init[1], "init D2", ndim=2, allow_empty=True)
        if D1.shape != (n, n_low) or D2.shape != (n, n_sparse):
            raise ValueError(
                f"init dictionaries must have shapes {(n, n_low)} and {(n, n_sparse)} (n_features, n_low / n_sparse), "
                f"got {D1.shape} and {D2.shape}"
            )
        return D1.astype(X.dtype, copy=True), D2.astype(X.dtype, copy=True)
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init must be one of {INITS} or a tuple (D1, D2), got {init!r}")
    X64 = X.astype(np.float64, copy=False)
    rng = check_random_state(random_state)
    if init == "dct":
        D = dct_atoms(n, K)
        D1, D2 = D[:, :n_low], D[:, n_low:]
    elif init == "pca":
        w, V = np.linalg.eigh(X64 @ X64.T)
        V = V[:, ::-1][:, : min(K, n)]
        V *= np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
        if K > n:
            V = np.hstack([V, _random_patches(X64, K - n, rng)])
        D1, D2 = V[:, :n_low], V[:, n_low:]
    elif init == "random_patches":
        D1, D2 = _split_by_frequency(_random_patches(X64, K, rng), n_low)
    else:
        from sklearn.decomposition import MiniBatchDictionaryLearning
        from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

        seed = check_random_state(0 if random_state is None else random_state)
        cols = seed.choice(X.shape[1], _SKLEARN_MAX_PATCHES, replace=False) if X.shape[1] > _SKLEARN_MAX_PATCHES \
            else slice(None)
        model = MiniBatchDictionaryLearning(n_components=K, alpha=alpha, max_iter=1, batch_size=256,
                                            fit_algorithm="cd", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)  # an initialisation need not converge
            model.fit(X64[:, cols].T)
        D1, D2 = _split_by_frequency(model.components_.T, n_low)
    return np.ascontiguousarray(D1, dtype=X.dtype), np.ascontiguousarray(D2, dtype=X.dtype)


def _random_patches(X64: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    norms = np.linalg.norm(X64, axis=0)
    candidates = np.flatnonzero(norms > _TINY * max(norms.max(), 1.0))
    if len(candidates) < k:
        raise ValueError(f"init needs {k} non-zero patches, X has only {len(candidates)} (shape {X64.shape})")
    idx = rng.choice(candidates, k, replace=False)
    return X64[:, idx] / norms[idx]
