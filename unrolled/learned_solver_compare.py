"""Deprecated: the learned-solver comparison moved to ``benchmarks/learned_solver.py`` (``python -m
benchmarks.learned_solver``), and :func:`heldout_crops` to :mod:`unrolled.learned_solver`. The old names keep working,
with a :class:`DeprecationWarning`, for one release (``heldout_crops`` everywhere, the others from a source checkout,
where ``benchmarks`` can be imported)."""

from __future__ import annotations

import importlib
import warnings

_MOVED = {"heldout_crops": "unrolled.learned_solver",
          **{name: "benchmarks.learned_solver" for name in ("Record", "compare", "markdown", "plot", "main", "threads",
                                                             "SOLVERS", "CHECKPOINTS", "FAST_CHECKPOINTS",
                                                             "REFERENCE_ITER", "FAST_REFERENCE_ITER")}}


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    target = _MOVED[name]
    warnings.warn(f"unrolled.learned_solver_compare.{name} is deprecated: use {target}.{name}", DeprecationWarning,
                  stacklevel=2)
    try:
        module = importlib.import_module(target)
    except ImportError as err:
        raise ImportError(f"unrolled.learned_solver_compare.{name} moved to {target}, which is only importable from "
                          "a source checkout of llrr (run from the repository root)") from err
    return getattr(module, name)


if __name__ == "__main__":
    __getattr__("main")()
