"""unrolled._threads: torch's and numba's thread counts set together and restored."""

import torch
from threadpoolctl import threadpool_info

from solvers._jit import numba
from unrolled._threads import set_threads, threads


def _counts():
    return torch.get_num_threads(), numba.get_num_threads()


def test_set_threads_sets_both_and_restores():
    before = _counts()
    restore = set_threads(1)
    assert _counts() == (1, 1)
    restore()
    assert _counts() == before
    restore = set_threads(0)  # 0: left as they are
    assert _counts() == before
    restore()
    assert _counts() == before


def test_the_context_also_limits_blas_and_restores_on_error():
    before = _counts()
    blas_before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    try:
        with threads(1, blas=True):
            assert _counts() == (1, 1)
            assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
            raise KeyError("inside")
    except KeyError:
        pass
    assert _counts() == before
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == blas_before
