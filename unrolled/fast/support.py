"""What the fast paths support, said in a sentence: one check of the network's structure and of its parameters and
hooks, shared by inference (:func:`unrolled.fast.infer.fast_unsupported_reason`) and the training step
(:func:`unrolled.fast.train.fast_train_unsupported_reason`), which differ only in the dtypes they compute in and in
the hooks they would skip."""

from __future__ import annotations

import torch
from torch import nn

from ..nets.blocks import LLRRBlock, PaddedConv
from ..nets.lrrnet import Decoder, LLRRBranch, LRRNet

__all__ = ["branch_reason", "structure_reason", "runtime_reason", "unsupported_reason"]


def _conv_reason(module, name: str, in_ch: int | None, out_ch: int | None) -> str | None:
    if (type(module) is not PaddedConv or type(module.pad) is not nn.ReflectionPad2d
            or type(module.conv) is not nn.Conv2d):
        return f"{name} is not a reflection-padded PaddedConv"
    c = module.conv
    if tuple(module.pad.padding) != (1, 1, 1, 1) or c.kernel_size != (3, 3) or c.bias is None:
        return f"{name} is not a 3x3 convolution with bias and reflection padding 1"
    if c.stride != (1, 1) or c.dilation != (1, 1) or c.groups != 1 or c.padding != (0, 0):
        return f"{name} has stride, dilation, groups or padding of its own"
    if (in_ch is not None and c.in_channels != in_ch) or (out_ch is not None and c.out_channels != out_ch):
        return f"{name} maps {c.in_channels} -> {c.out_channels} channels, expected {in_ch} -> {out_ch}"
    return None


def branch_reason(branch, name: str) -> str | None:
    if type(branch) is not LLRRBranch:
        return f"{name} is a {type(branch).__name__}, not an LLRRBranch (the fast path runs the 'llrr' extractor)"
    K = branch.theta.shape[0] if branch.theta.dim() == 1 else -1
    if K < 1 or branch.lam3.numel() != 1 or not 0 <= branch.n <= K:
        return (f"{name} has thresholds of shape {tuple(branch.theta.shape)} and lam3 of shape "
                f"{tuple(branch.lam3.shape)}")
    reason = _conv_reason(branch.c0, f"{name}.c0", 1, K)
    for t, block in enumerate(branch.blocks):
        if reason is not None:
            break
        if type(block) is not LLRRBlock:
            return f"{name}.blocks.{t} is a {type(block).__name__}, not an LLRRBlock"
        reason = (_conv_reason(block.c1, f"{name}.blocks.{t}.c1", K, 1)
                  or _conv_reason(block.c2, f"{name}.blocks.{t}.c2", 1, K))
    return reason


def structure_reason(model, path: str = "the fast path") -> str | None:
    """Why ``model`` is not the LRRNet structure the kernels compute (``path`` names the caller in the sentence), or
    None."""
    if type(model) is not LRRNet:
        return f"model is a {type(model).__name__}, not an LRRNet"
    c = model.config
    if c.extractor != "llrr" or c.kernel_size != 3 or c.channels != 1:
        return (f"{path} runs extractor='llrr', kernel_size=3, channels=1; the model has "
                f"extractor={c.extractor!r}, kernel_size={c.kernel_size}, channels={c.channels}")
    reason = branch_reason(model.ir, "ir") or branch_reason(model.vi, "vi")
    if reason is not None:
        return reason
    if model.ir.theta.shape != model.vi.theta.shape or model.ir.n != model.vi.n:
        return "the two branches have different numbers of coefficient maps"
    if len(model.ir.blocks) != len(model.vi.blocks):
        return "the two branches have different numbers of blocks"
    d, n, K = model.decoder, model.ir.n, model.ir.theta.shape[0]
    if type(d) is not Decoder or d.fusion not in ("cat", "add"):
        return "the decoder is not the standard Decoder with 'cat' or 'add' fusion"
    width = 2 if d.fusion == "cat" else 1
    for part, ch in (("ir_low", n), ("ir_sparse", K - n), ("vi_low", n), ("vi_sparse", K - n),
                     ("fuse_low", width), ("fuse_sparse", width)):
        reason = _conv_reason(getattr(d, part), f"decoder.{part}", ch, 1)
        if reason is not None:
            return reason
    return None


def runtime_reason(model: nn.Module, path: str, dtypes: tuple[torch.dtype, ...], backward: bool = False) -> str | None:
    """Why the parameters or hooks of ``model`` keep ``path`` from running it: a parameter off the CPU, of a dtype
    not in ``dtypes`` or of mixed dtypes, or a forward hook (and, with ``backward``, a backward hook) the kernels
    would not call; or None."""
    found = set()
    for pname, p in model.named_parameters():
        if p.device.type != "cpu":
            return f"parameter {pname} is on {p.device}; {path} runs on the CPU"
        if p.dtype not in dtypes:
            return f"parameter {pname} is {p.dtype}; {path} computes in {' or '.join(str(d) for d in dtypes)}"
        found.add(p.dtype)
    if len(found) > 1:
        return f"the parameters mix dtypes {sorted(map(str, found))}"
    for mname, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks or (backward and (m._backward_hooks or m._backward_pre_hooks)):
            return f"module {mname or type(model).__name__} has hooks, which {path} would not call"
    return None


def unsupported_reason(model, path: str, dtypes: tuple[torch.dtype, ...], backward: bool = False) -> str | None:
    """:func:`structure_reason`, then :func:`runtime_reason`: the first reason found, or None."""
    return structure_reason(model, path) or runtime_reason(model, path, dtypes, backward)
