"""The unrolled (torch) half of llrr: LLRR blocks, LRRNet (Fig. 3), the released checkpoint and inference.

Imports :mod:`solvers` (never :mod:`llrr`).
"""

from .blocks import LLRRBlock, PaddedConv
from .inference import fuse_images
from .llrr import PatchLLRRNet
from .lrrnet import LLRRBranch, LRRNet, LRRNetConfig
from .threshold import soft_threshold
from .weights import load_official_checkpoint, lrrnet

__all__ = ["LLRRBlock", "PaddedConv", "PatchLLRRNet", "LLRRBranch", "LRRNet", "LRRNetConfig", "lrrnet",
           "fuse_images", "soft_threshold", "load_official_checkpoint"]
