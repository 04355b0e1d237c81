"""Fusing grey image pairs with an LRRNet: normalisation conventions and tiled inference in bounded memory."""

from __future__ import annotations

import copy
import numbers
import warnings
import weakref

import numpy as np
import torch

from .device import autocast, check_precision, fast_allowed, resolve_device
from .fast.infer import fast_unsupported_reason, forward_validated
from .nets.lrrnet import LRRNet

__all__ = ["fuse_images", "fuse_validated", "raw_output", "minmax01", "NORMALIZATIONS", "MINMAX_EPS"]

NORMALIZATIONS = ("official", "minmax", "none")
MINMAX_EPS = 1e-5
"""The authors' eps of every min-max scaling: inputs, the fused output, the loss's I_f (one constant)."""


def minmax01(x: np.ndarray, eps: float = MINMAX_EPS) -> np.ndarray:
    """``(x - min) / (max - min + eps)`` per image of a (B, C, H, W) array, in its dtype.

    Examples
    --------
    >>> minmax01(np.array([[[[10.0, 20.0, 30.0]]]], dtype=np.float32)).round(5)
    array([[[[0. , 0.5, 1. ]]]], dtype=float32)
    """
    lo = x.min(axis=(1, 2, 3), keepdims=True)
    hi = x.max(axis=(1, 2, 3), keepdims=True)
    return (x - lo) / (hi - lo + x.dtype.type(eps))


def _check_pair(ir, vi, radius: int) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, img in (("ir", ir), ("vi", vi)):
        a = np.asarray(img)
        if a.dtype.kind not in "uif" or a.dtype.kind == "b":
            raise TypeError(f"{name} must be a grey image of integers or floats, got dtype {a.dtype}")
        if a.ndim != 2:
            raise ValueError(f"{name} must be a 2-D grey image, got shape {a.shape}")
        a = np.asarray(a, dtype=np.float64)  # no copy for float64 input: nothing below writes into it
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains non-finite values")
        out.append(a)
    if out[0].shape != out[1].shape:
        raise ValueError(f"ir and vi must have the same shape, got ir {out[0].shape} and vi {out[1].shape}")
    h, w = out[0].shape
    if min(h, w) < 2 * radius + 1:
        raise ValueError(f"images of shape {(h, w)} are too small for this network: its receptive field is "
                         f"{2 * radius + 1} x {2 * radius + 1} pixels; give images at least that large")
    return out[0], out[1]


def _minmax(a: np.ndarray) -> np.ndarray:
    return minmax01(a[None, None])[0, 0]


def _forward_tiled(model: LRRNet, ir: torch.Tensor, vi: torch.Tensor, tile: int | None, overlap: int) -> np.ndarray:
    """Raw network output for (1, 1, H, W) inputs; tiles of ``tile`` x ``tile`` output pixels, each computed from
    its tile extended by ``overlap`` pixels of context (clipped at the image border)."""
    _, _, h, w = ir.shape
    if tile is None or (h <= tile and w <= tile):
        return model(ir, vi)[0, 0].cpu().double().numpy()
    out = np.empty((h, w))
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(y0 - overlap, 0), max(x0 - overlap, 0)
            yb, xb = min(y1 + overlap, h), min(x1 + overlap, w)
            res = model(ir[..., ya:yb, xa:xb], vi[..., ya:yb, xa:xb])[0, 0]
            out[y0:y1, x0:x1] = res[y0 - ya : y1 - ya, x0 - xa : x1 - xa].cpu().double().numpy()
    return out


def fuse_images(model: LRRNet, ir, vi, *, normalization: str = "official", tile: int | None = None,
                overlap: int | None = None, fast: bool | None = None, device=None,
                precision: str = "float32") -> np.ndarray:
    """Fuse one grey infrared/visible pair with ``model``.

    Parameters
    ----------
    model : LRRNet
    ir, vi : ndarray of shape (H, W)
        uint8, uint16 or float grey images of the same size, at least the receptive field
        (``2 * model.config.receptive_radius + 1`` pixels, 23 for the default network) on each side.
    normalization : {"official", "minmax", "none"}
        "official" (the authors' test script, for parity with their released outputs): each input min-max scaled to
        [0, 1] with eps 1e-5, the output min-max scaled to [0, 255] with eps 1e-5 and truncated to uint8.
        "minmax": the same scalings without the 8-bit truncation, float64 on [0, 1] (what :func:`llrr.fuse` uses, so
        that 16-bit inputs keep their precision). "none": the inputs go in as given (float) and the raw float64
        output comes back.
    tile : int, optional
        Fuse in tiles of ``tile x tile`` output pixels to bound memory. Each tile is computed with ``overlap`` pixels
        of context on every side (default: the network's receptive radius, so that tiled and untiled outputs agree
        up to float rounding; reflection padding only differs within that margin). The official output scaling is
        applied once, to the assembled image. The fast path (``fast``) needs no tiles and ignores ``tile``.
    overlap : int, optional
        Context margin for tiles (default ``model.config.receptive_radius``).
    fast : bool, optional
        Use :func:`unrolled.fast.infer.fast_forward` (streaming numba kernels, float32, memory bounded without tiles;
        equal to the modules up to float32 rounding). None (default): wherever it supports the model and no overlap
        below the receptive radius was asked for; True: always (ValueError saying why where it cannot); False: the
        eager modules.
    device : str or torch.device, optional
        Run the eager modules on this device (:func:`unrolled.device.resolve_device`: "cuda", "cuda:1", ...; a
        copy of ``model`` is moved there, ``model`` itself stays where it is). None: the model's own device (the
        CPU, where the fast path runs, for the shipped weights).
    precision : {"float32", "bfloat16"}
        "bfloat16": the eager forward under ``torch.autocast`` (faster on GPUs with bfloat16 units; outputs agree
        with float32 to about 1e-2 after the output scaling).

    Returns
    -------
    ndarray of shape (H, W): uint8 for "official", float64 for "minmax" and "none".
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    _check_tile(tile)
    if not isinstance(model, LRRNet):
        raise TypeError(f"model must be an LRRNet, got {type(model).__name__}")
    radius = model.config.receptive_radius
    if overlap is None:
        overlap = radius
    elif isinstance(overlap, bool) or not isinstance(overlap, numbers.Integral) or overlap < 0:
        raise ValueError(f"overlap must be a non-negative integer, got {overlap!r}")
    elif overlap < radius:
        warnings.warn(f"overlap={overlap} is below the network's receptive radius {radius}: tiled output will differ "
                      "from untiled output near tile edges", stacklevel=2)
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"fast must be True, False or None, got {fast!r}")
    tile = None if tile is None else int(tile)
    ir, vi = _check_pair(ir, vi, radius)
    if normalization == "none" and max(np.abs(ir).max(), np.abs(vi).max()) >= np.finfo(np.float32).max:
        raise ValueError("with normalization='none' the inputs go in as given, and these exceed the float32 range")
    dev = _device(model, device)
    check_precision(precision)
    if fast:
        reason = fast_unsupported_reason(model) or fast_allowed(dev, precision)
        if reason is not None:
            raise ValueError(f"the fast path does not support this model: {reason}")
    return _fuse(model, ir, vi, normalization, tile, overlap, fast, dev, precision)


def _device(model: LRRNet, device) -> torch.device:
    return next(model.parameters()).device if device is None else resolve_device(device)


def _check_tile(tile) -> None:
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < 1):
        raise ValueError(f"tile must be a positive integer or None, got {tile!r}")


def fuse_validated(model: LRRNet, ir: np.ndarray, vi: np.ndarray, *, tile: int | None = None, device=None,
                   precision: str = "float32") -> np.ndarray:
    """:func:`fuse_images` with ``normalization="minmax"`` for a caller that has validated the images already.

    ``ir`` and ``vi`` must be finite float64 arrays of one shape (H, W); that is what :func:`llrr.fuse` hands its
    methods, so each image's values are checked once, at llrr's public boundary (call :func:`fuse_images` with
    images of unknown provenance). Here only the types, shapes and options are checked (no pass over the pixels) and
    what depends on the model: the images must cover its receptive field. ``tile``, ``device`` and ``precision`` as
    in :func:`fuse_images`.
    """
    _check_tile(tile)
    for name, a in (("ir", ir), ("vi", vi)):  # O(1) checks of what a caller might get wrong; no pass over pixels
        if not isinstance(a, np.ndarray) or a.dtype != np.float64 or a.ndim != 2:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise ValueError(f"fuse_validated takes float64 (H, W) arrays (as llrr.fuse hands them), got {name}: {got}")
    if ir.shape != vi.shape:
        raise ValueError(f"ir and vi must have the same shape, got ir {ir.shape} and vi {vi.shape}")
    radius = model.config.receptive_radius
    if min(ir.shape) < 2 * radius + 1:
        raise ValueError(f"images of shape {ir.shape} are too small for this network: its receptive field is "
                         f"{2 * radius + 1} x {2 * radius + 1} pixels; give images at least that large")
    dev = _device(model, device)
    return _fuse(model, ir, vi, "minmax", None if tile is None else int(tile), radius, None, dev,
                 check_precision(precision))


def _fuse(model: LRRNet, ir: np.ndarray, vi: np.ndarray, normalization: str, tile: int | None, overlap: int,
          fast: bool | None, device: torch.device | None = None, precision: str = "float32") -> np.ndarray:
    """:func:`fuse_images` after its checks: float64 (H, W) images of one shape."""
    radius = model.config.receptive_radius
    param = next(model.parameters())
    device = param.device if device is None else device
    if normalization != "none":
        ir, vi = _minmax(ir), _minmax(vi)
    if fast is None:
        fast = (overlap >= radius and fast_unsupported_reason(model) is None
                and fast_allowed(device, precision) is None and param.device.type == "cpu")
    if fast:
        return _scale_output(forward_validated(model, ir, vi).astype(np.float64), normalization)
    if param.device != device:
        model = _moved(model, device)
    t_ir = torch.from_numpy(ir).to(device=device, dtype=param.dtype)[None, None]
    t_vi = torch.from_numpy(vi).to(device=device, dtype=param.dtype)[None, None]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(device, precision):
            out = _forward_tiled(model, t_ir, t_vi, tile, overlap)
    finally:
        model.train(was_training)
    return _scale_output(out, normalization)


def raw_output(model: LRRNet, ir: np.ndarray, vi: np.ndarray, *, scale_inputs: bool = True, device=None,
               precision: str = "float32") -> np.ndarray:
    """The network's raw output (float64 (H, W), before any output scaling) for a grey pair: what a caller that
    scales the images its own way needs (video fusion keeps the scaling steady from frame to frame,
    :mod:`llrr.video`). ``scale_inputs``: min-max scale each input to [0, 1] first, as :func:`fuse_images` does;
    False: the inputs go in as given (the caller has scaled them). ``device`` and ``precision`` as in
    :func:`fuse_images`; the pair is checked as there."""
    ir, vi = _check_pair(ir, vi, model.config.receptive_radius)
    dev = _device(model, device)
    check_precision(precision)
    if scale_inputs:
        ir, vi = _minmax(ir), _minmax(vi)
    return _fuse(model, ir, vi, "none", None, model.config.receptive_radius, None, dev, precision)


_MOVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _moved(model: LRRNet, device: torch.device) -> LRRNet:
    """A copy of ``model`` on ``device`` (the caller's model stays put), kept while ``model`` lives and its
    parameters are unchanged (their in-place version counters), so that a folder or a video moves it once."""
    versions = tuple(p._version for p in model.parameters())
    kept = _MOVED.setdefault(model, {})
    hit = kept.get(device)
    if hit is None or hit[0] != versions:
        hit = (versions, copy.deepcopy(model).to(device).eval())
        kept[device] = hit
    return hit[1]


def _scale_output(out: np.ndarray, normalization: str) -> np.ndarray:
    if normalization == "none":
        return out
    if normalization == "minmax":
        return _minmax(out)
    return (_minmax(out) * 255.0).astype(np.uint8)
