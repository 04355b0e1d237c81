"""The networks, torch only: the soft threshold, one LLRR block (a solver step as a module), the patch-exact LLRR
network (:class:`PatchLLRRNet`, equal to Algorithm 1 before training) and LRRNet (Fig. 3) with its ablation
extractors. Builders that load weights live in :mod:`unrolled.weights`; those that start from a solvers problem
learned on data in :mod:`unrolled.training.init`."""

from .blocks import LLRRBlock, PaddedConv
from .llrr import PatchLLRRNet
from .lrrnet import Conv8Branch, Decoder, DenseBranch, LLRRBranch, LRRNet, LRRNetConfig
from .threshold import soft_threshold

__all__ = ["LLRRBlock", "PaddedConv", "PatchLLRRNet", "LRRNet", "LRRNetConfig", "LLRRBranch", "Conv8Branch",
           "DenseBranch", "Decoder", "soft_threshold"]
