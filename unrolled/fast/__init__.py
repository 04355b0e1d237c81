"""The fast paths of LRRNet on CPUs: numba kernels that stream a branch over image rows for inference
(:mod:`.infer`, used by :func:`unrolled.fuse_images` by default) and compute one branch's forward and backward for
a training step (:mod:`.train`), built on the stencil primitives both share (:mod:`._stencil`: reflection, the soft
threshold, per-pixel 3x3 products). Each path checks what it supports and says why not; the eager torch modules
are the reference both are tested against."""

from .infer import default_threads, fast_branch, fast_forward, fast_supported, fast_unsupported_reason, run_tasks
from .train import fast_train_forward, fast_train_supported, fast_train_unsupported_reason

__all__ = ["fast_supported", "fast_unsupported_reason", "fast_forward", "fast_branch", "run_tasks",
           "default_threads", "fast_train_forward", "fast_train_supported", "fast_train_unsupported_reason"]
