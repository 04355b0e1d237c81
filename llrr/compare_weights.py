"""Deprecated: the comparison of our weights with the released checkpoint (docs/results.md) moved to
``benchmarks/compare_weights.py`` (``python -m benchmarks.compare_weights``), a command that only makes docs. The old
names and ``python -m llrr.compare_weights`` keep working from a source checkout, with a DeprecationWarning, for one
release."""

from __future__ import annotations

import importlib
import warnings

_NAMES = ("TABLE5_LRRNET", "RELEASED", "CROPS", "TEST_SETS", "compare", "render", "plot_crops", "main")


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"llrr.compare_weights.{name} is deprecated: use benchmarks.compare_weights.{name}",
                  DeprecationWarning, stacklevel=2)
    try:
        module = importlib.import_module("benchmarks.compare_weights")
    except ImportError as err:
        raise ImportError("llrr.compare_weights moved to benchmarks.compare_weights, which is only importable from a "
                          "source checkout of llrr (run from the repository root)") from err
    return getattr(module, name)


if __name__ == "__main__":
    __getattr__("main")()
