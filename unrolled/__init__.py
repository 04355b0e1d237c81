"""The unrolled (torch) half of llrr: LLRR blocks, LRRNet (Fig. 3), the released checkpoint and inference.

Rooms: :mod:`unrolled.nets` (the networks, torch only), :mod:`unrolled.fast` (numba paths for inference and the
training step), :mod:`unrolled.training` (``llrr train``: config, data, losses, loop); at the top
:mod:`unrolled.weights` (every shipped weight, one loader, the :func:`lrrnet` builder), :mod:`unrolled.inference`
(:func:`fuse_images`) and :mod:`unrolled.learned_solver`. Imports :mod:`solvers` (never :mod:`llrr`). The module
paths of the flat layout before the rooms still import, with a deprecation warning (:mod:`unrolled._moved`).
"""

import sys as _sys
import types as _types

from . import _moved
from .inference import fuse_images
from .nets.blocks import LLRRBlock, PaddedConv
from .nets.llrr import PatchLLRRNet
from .nets.lrrnet import LLRRBranch, LRRNet, LRRNetConfig
from .nets.threshold import soft_threshold
from .weights import load_official_checkpoint, lrrnet

__all__ = ["LLRRBlock", "PaddedConv", "PatchLLRRNet", "LLRRBranch", "LRRNet", "LRRNetConfig", "lrrnet",
           "fuse_images", "soft_threshold", "load_official_checkpoint"]

_moved.install()


class _Package(_types.ModuleType):
    """The package module: importing a deprecated module path of the same name as a public function
    (``import unrolled.lrrnet``) does not replace the function on the package."""

    def __setattr__(self, name: str, value) -> None:
        if name in __all__ and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
