"""torch's and numba's thread counts, set together and restored (training, the learned-solver comparison)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

__all__ = ["set_threads", "threads"]


def set_threads(n: int) -> Callable[[], None]:
    """Set torch's and numba's thread counts to ``n`` (numba's capped at ``NUMBA_NUM_THREADS``; 0 leaves both as
    they are); returns a function that restores them."""
    from solvers._jit import numba

    before = torch.get_num_threads(), numba.get_num_threads()
    if n:
        torch.set_num_threads(n)
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))

    def restore() -> None:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])

    return restore


@contextmanager
def threads(n: int, *, blas: bool = False) -> Iterator[None]:
    """:func:`set_threads` for the block (restored after it); ``blas=True`` also limits the BLAS thread pools."""
    restore = set_threads(n)
    try:
        if blas:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=n):
                yield
        else:
            yield
    finally:
        restore()
