"""One Algorithm 1 / FISTA iteration on the benchmark problem vs the matrix product of the same shape."""

import numpy as np

from solvers import FISTA, Algorithm1

from ._setup import N_ATOMS, N_LOW, low_rank_sparse_problem, patches


def _flops_product(n):
    return 2.0 * N_ATOMS * N_ATOMS * n


def test_gemm_reference(benchmark, dtype):
    """H (128 x 128) @ Z (128 x 62,001) into a preallocated output: the throughput the iterations are compared to."""
    n = patches().shape[1]
    rng = np.random.default_rng(0)
    H = rng.standard_normal((N_ATOMS, N_ATOMS)).astype(dtype)
    Z = rng.standard_normal((N_ATOMS, n)).astype(dtype)
    out = np.empty_like(Z)
    benchmark.group = f"iteration-{np.dtype(dtype).name}"
    benchmark.extra_info["flops"] = _flops_product(n)
    benchmark(np.matmul, H, Z, out=out)


def test_algorithm1_iteration(benchmark, dtype):
    X = patches(dtype)
    s = Algorithm1(X, low_rank_sparse_problem(dtype), max_iter=10, track_objective=False)
    s._iterate()
    benchmark.group = f"iteration-{np.dtype(dtype).name}"
    benchmark.extra_info["flops"] = _flops_product(X.shape[1])
    benchmark(s._iterate)


def test_fista_iteration(benchmark, dtype):
    """FISTA on the nuclear-norm problem: the product, the prox (threshold on S, SVT on L) and the momentum."""
    X = patches(dtype)
    s = FISTA(X, low_rank_sparse_problem(dtype), max_iter=10, track_objective=False, restart=False)
    s._iterate()
    n = X.shape[1]
    # product + SVT by the Gram route (L L^T and the projection, 2 * 2 * n_low^2 * n)
    benchmark.group = f"iteration-{np.dtype(dtype).name}"
    benchmark.extra_info["flops"] = _flops_product(n) + 4.0 * N_LOW * N_LOW * n
    benchmark(s._iterate)
