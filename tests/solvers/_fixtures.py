"""Test data: small dictionaries and real image patches."""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from solvers import extract_patches


def dct_pair(size: int = 8, n_low: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal 2-D DCT atoms split by frequency: the n_low lowest for D1, the rest for D2 (shape (s*s, .))."""
    C = dct(np.eye(size), norm="ortho", axis=0)  # rows are 1-D cosines
    atoms = np.einsum("iu,jv->ijuv", C, C).reshape(size * size, size * size)  # atom (i, j) as a row
    freq = np.add.outer(np.arange(size), np.arange(size)).ravel()
    order = np.argsort(freq, kind="stable")
    D = atoms[order].T
    return np.ascontiguousarray(D[:, :n_low]), np.ascontiguousarray(D[:, n_low:])


def real_patches(image: np.ndarray, size: int = 8, stride: int = 4, n: int | None = 2000, seed: int = 0) -> np.ndarray:
    """Patches of a grey image scaled to [0, 1], optionally a random subset of n columns."""
    X = extract_patches(image / 255.0, size, stride)
    if n is not None and X.shape[1] > n:
        X = X[:, np.random.default_rng(seed).choice(X.shape[1], n, replace=False)]
    return np.ascontiguousarray(X)


def random_problem_data(rng, n_features=16, n_low=6, n_sparse=10, n=120):
    D1 = rng.standard_normal((n_features, n_low)) / np.sqrt(n_features)
    D2 = rng.standard_normal((n_features, n_sparse)) / np.sqrt(n_features)
    X = rng.standard_normal((n_features, n))
    return D1, D2, X
