"""Deprecated module paths of the flat ``unrolled/`` (before the rooms ``nets/``, ``fast/``, ``training/``): each
old path imports the module that now holds its code, with a :class:`DeprecationWarning`, for one release.

``import unrolled.train_config`` gives the module object :mod:`unrolled.training.config` itself (same classes,
same globals), so old imports, ``isinstance`` checks and monkeypatching keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module path -> new module path
MOVED = {
    "unrolled.threshold": "unrolled.nets.threshold",
    "unrolled.blocks": "unrolled.nets.blocks",
    "unrolled.llrr": "unrolled.nets.llrr",
    "unrolled.lrrnet": "unrolled.nets.lrrnet",
    "unrolled.fast_train": "unrolled.fast.train",
    "unrolled.train_config": "unrolled.training.config",
    "unrolled.data": "unrolled.training.data",
    "unrolled.losses": "unrolled.training.losses",
    "unrolled.train_log": "unrolled.training.log",
    "unrolled.train": "unrolled.training.loop",
    "unrolled.validation": "unrolled.training.validation",
    "unrolled.feature_cache": "unrolled.training.feature_cache",
    "unrolled.init": "unrolled.training.init",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self):
        self._specs = {}

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} is deprecated and will be removed in the next release: import "
                      f"{MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(MOVED[spec.name])
        self._specs[spec.name] = module.__spec__  # the import system overwrites it with the alias's spec
        return module

    def exec_module(self, module):
        module.__spec__ = self._specs.pop(module.__spec__.name)  # already executed: only give its spec back


def _lrrnet_module_getattr(name: str):
    """``unrolled.lrrnet.lrrnet`` (the builder, when it lived beside the network): now :func:`unrolled.weights.lrrnet`.
    Installed on :mod:`unrolled.nets.lrrnet` from here, so that the networks never import the weights."""
    if name == "lrrnet":
        warnings.warn("unrolled.lrrnet.lrrnet moved to unrolled.weights.lrrnet (also unrolled.lrrnet() from the "
                      "package); this alias goes in the next release", DeprecationWarning, stacklevel=2)
        return importlib.import_module("unrolled.weights").lrrnet
    raise AttributeError(f"module 'unrolled.nets.lrrnet' has no attribute {name!r}")


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once) and the builder's old name on the network module."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
    importlib.import_module("unrolled.nets.lrrnet").__getattr__ = _lrrnet_module_getattr
