"""Soft threshold on the benchmark's coefficient matrix (128 x 62,001): numba vs numpy vs a plain copy."""

import numpy as np
import pytest

from solvers import soft_threshold, soft_threshold_numpy

from ._setup import N_ATOMS, patches


@pytest.fixture
def arrays(dtype):
    x = np.random.default_rng(0).standard_normal((N_ATOMS, patches().shape[1])).astype(dtype)
    return x, np.empty_like(x)


def _info(benchmark, dtype, x):
    benchmark.group = f"soft_threshold-{np.dtype(dtype).name}"
    benchmark.extra_info.update(bytes_moved=2 * x.nbytes, shape=list(x.shape))


def test_soft_threshold_numba(benchmark, arrays, dtype):
    x, out = arrays
    _info(benchmark, dtype, x)
    soft_threshold(x, 0.1, out=out)
    benchmark(soft_threshold, x, 0.1, out=out)


def test_soft_threshold_numpy(benchmark, arrays, dtype):
    x, out = arrays
    _info(benchmark, dtype, x)
    benchmark(soft_threshold_numpy, x, 0.1, out=out)


def test_copy(benchmark, arrays, dtype):
    x, out = arrays
    _info(benchmark, dtype, x)
    benchmark(np.copyto, out, x)
