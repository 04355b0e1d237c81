"""LRRNet as an ONNX graph that fuses two images the way llrr does: :func:`export_onnx`.

The graph (:class:`FusionGraph`) has two inputs, ``ir`` and ``vi``: float32 tensors (N, 1, H, W), grey images on any
scale (0-255, 0-1, raw 16-bit counts). H and W are dynamic (at least the receptive field: 23 pixels for the shipped
network), and N too. Inside the graph:

1. each image is min-max scaled to [0, 1]: ``(x - min) / (max - min + 1e-5)``, per image (the authors' test
   script and ``llrr.fuse``);
2. LRRNet runs (its reflection padding and ``sign * relu`` thresholds export as plain ONNX operators);
3. the output is min-max scaled to [0, 1] in the same way.

The output ``fused`` is float32 (N, 1, H, W) on [0, 1]; ``round(255 * fused)`` is the 8-bit image that ``llrr fuse``
writes for an 8-bit pair, to within one grey level. That tolerance is checked after every export:
``llrr.export``, ``llrr export``.

It uses torch's TorchScript-based exporter (``dynamo=False``), which handles every operator of LRRNet and needs no
extra package; ``onnx`` (checking) and ``onnxruntime`` (running) come with the deploy extra (``pip install
'.[deploy]'`` in the llrr checkout). The graph does not check the size: below the receptive field its output is
meaningless, and llrr refuses such images.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from solvers._extras import MissingExtra
from solvers._files import atomic_path

from .inference import MINMAX_EPS
from .nets.lrrnet import LRRNet

__all__ = ["FusionGraph", "export_onnx", "OPSETS", "DEFAULT_OPSET"]

OPSETS = range(13, 21)
"""Opsets the export is run with (13 introduced the reductions over a list of axes as used here; torch's TorchScript
exporter writes up to 20)."""
DEFAULT_OPSET = 17


def _minmax(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo + MINMAX_EPS)


class FusionGraph(nn.Module):
    """``minmax(net(minmax(ir), minmax(vi)))``: the module that :func:`export_onnx` writes (module docstring)."""

    def __init__(self, net: LRRNet):
        super().__init__()
        if not isinstance(net, LRRNet):
            raise TypeError(f"net must be an LRRNet, got {type(net).__name__}")
        self.net = net

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
        return _minmax(self.net(_minmax(ir), _minmax(vi)))


def export_onnx(net: LRRNet, path, *, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``FusionGraph(net)`` to ``path`` as ONNX (atomically: a failed export leaves no file) and check it with
    ``onnx.checker``. Returns the path.

    Raises
    ------
    ValueError
        An opset outside :data:`OPSETS`.
    ImportError
        ``onnx`` is not installed (named, with the extra that brings it).
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise ValueError(f"opset must be an integer in [{OPSETS.start}, {OPSETS.stop - 1}], got {opset!r}")
    try:
        import onnx
    except ImportError:
        raise MissingExtra("exporting to ONNX needs the onnx package: pip install '.[deploy]' in the llrr checkout "
                           "(the deploy extra)") from None
    graph = FusionGraph(copy.deepcopy(net)).to(torch.float32).eval()  # the caller's (maybe shared) model untouched
    side = 2 * net.config.receptive_radius + 9
    example = torch.rand(1, net.config.channels, side, side + 4, generator=torch.Generator().manual_seed(0))
    axes = {0: "batch", 2: "height", 3: "width"}
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes and tracer remarks
        torch.onnx.export(graph, (example, example), str(tmp), input_names=["ir", "vi"], output_names=["fused"],
                          opset_version=opset, dynamic_axes={"ir": axes, "vi": axes, "fused": axes},
                          do_constant_folding=True, dynamo=False)
        onnx.checker.check_model(onnx.load(str(tmp)))
    return path
