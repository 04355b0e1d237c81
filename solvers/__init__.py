"""Classical solvers of the LRRNet decomposition model (numpy, scipy, numba, scikit-learn; never torch).

Patches (:mod:`solvers.patches`), the problem of Eq. 1-5 (:mod:`solvers.problem`), prox operators
(:mod:`solvers.prox`), Algorithm 1 in patch and convolutional form, ISTA/FISTA, ADMM, the factored form of Eq. 3-4
and dictionary learning, all behind one template (:mod:`solvers.base`) and one registry (:mod:`solvers.registry`).
"""

from __future__ import annotations

import importlib as _importlib
import pkgutil as _pkgutil
import sys as _sys
import types as _types

# name -> submodule; the names are imported on first use (PEP 562), so that ``import solvers`` (and the light helpers
# in ``solvers._files`` that llrr imports at start-up) do not load numba, scipy and scikit-learn
_EXPORTS = {
    "ADMM": "admm", "admm": "admm",
    "Algorithm1": "algorithm1", "algorithm1": "algorithm1",
    "ConvergenceWarning": "base", "IterativeSolver": "base", "SolverResult": "base",
    "CoordinateDescent": "cd", "coordinate_descent": "cd",
    "ConvAlgorithm1": "convolutional", "ConvProblem": "convolutional", "ConvSolverResult": "convolutional",
    "conv_algorithm1": "convolutional", "patch_dictionary_to_filters": "convolutional",
    "Factored": "factored", "factored": "factored",
    "FISTA": "ista", "ISTA": "ista", "fista": "ista", "ista": "ista",
    "extract_patches": "patches", "fold_patches": "patches", "n_patches": "patches", "patch_positions": "patches",
    "LowRankSparseProblem": "problem", "power_iteration": "problem",
    "L1Prox": "prox", "NuclearProx": "prox", "soft_threshold": "prox", "soft_threshold_numpy": "prox", "svt": "prox",
}
# functions named as their submodule: importing ``solvers.admm`` must not replace the function ``solvers.admm``
_SHADOWED = frozenset(name for name, module in _EXPORTS.items() if name == module)
_SUBMODULES = frozenset(m.name for m in _pkgutil.iter_modules(__path__))


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        if name in _SUBMODULES:  # ``solvers.prox`` after a plain ``import solvers``, as the eager package allowed
            return _importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    public = {n for n in globals() if not n.startswith("_")} - {"annotations"}
    return sorted(public | set(__all__) | _SUBMODULES)


class _Package(_types.ModuleType):
    """The package module: when the import system sets a shadowed name to its submodule (``import solvers.ista``),
    the attribute becomes the function of that name instead, as an eager ``from .ista import ista`` left it."""

    def __setattr__(self, name: str, value) -> None:
        if name in _SHADOWED and isinstance(value, _types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = list(_EXPORTS)  # the public names: exactly those imported on first use
