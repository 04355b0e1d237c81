"""The fast paths of LRRNet on CPUs: numba kernels that stream a branch over image rows for inference
(:mod:`.infer`, used by :func:`unrolled.fuse_images` by default) and compute one branch's forward and backward for
a training step (:mod:`.train`, loaded on first use), built on the stencil primitives both share (:mod:`._stencil`:
reflection, the soft threshold, per-pixel 3x3 products). Each path checks what it supports and says why not
(:mod:`.support`); the eager torch modules are the reference both are tested against.

Before the rooms, ``unrolled.fast`` was the inference module itself: its tuning constants (``MAX_STRIP``,
``TASKS_PER_THREAD``, ``THREADS_PER_CORE``) and ``structure_reason`` still read and write through this package, with a
DeprecationWarning, for one release.
"""

import importlib as _importlib
import sys as _sys
import types as _types
import warnings as _warnings

from .infer import default_threads, fast_branch, fast_forward, fast_supported, fast_unsupported_reason, run_tasks

__all__ = ["fast_supported", "fast_unsupported_reason", "fast_forward", "fast_branch", "run_tasks",
           "default_threads", "fast_train_forward", "fast_train_supported", "fast_train_unsupported_reason"]

_TRAIN = ("fast_train_forward", "fast_train_supported", "fast_train_unsupported_reason")
_OLD = {"MAX_STRIP": "unrolled.fast.infer", "TASKS_PER_THREAD": "unrolled.fast.infer",
        "THREADS_PER_CORE": "unrolled.fast.infer", "structure_reason": "unrolled.fast.support"}


def _old(name: str):
    _warnings.warn(f"unrolled.fast.{name} is deprecated: use {_OLD[name]}.{name}", DeprecationWarning, stacklevel=3)
    return _importlib.import_module(_OLD[name])


def __getattr__(name: str):
    if name in _TRAIN:
        return getattr(_importlib.import_module(".train", __name__), name)
    if name in _OLD:
        return getattr(_old(name), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(_types.ModuleType):
    """Setting an old tuning constant on the package sets it where the kernels read it."""

    def __setattr__(self, name: str, value) -> None:
        if name in _OLD:
            setattr(_old(name), name, value)
        else:
            super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
