"""``llrr.fuse``: one front door to every fusion method, for arrays or files of any usual type.

Input handling, the same for every method (:mod:`llrr.methods`):

* an input is an array or a path (:func:`llrr.io.read_image`: 16-bit PNG/TIFF kept at 16 bits, float TIFFs as
  float);
* uint8 is read as ``value / 255`` and uint16 (raw thermal) as ``value / 65535``; float arrays must lie in [0, 1]
  and are used as they are; other types, non-finite values, shapes that differ and images smaller than the
  method's minimum are errors that say so (naming the file for a path);
* a colour visible image (H, W, 3) is fused on its luminance: it is converted to YCbCr (ITU-R BT.601, full range, as
  in JPEG), Y is fused with the infrared image and the result is converted back with the visible Cb and Cr, the
  usual practice in infrared/visible fusion. A colour infrared image is reduced to its luminance.
  ``colour="channels"`` fuses channel by channel instead, as VIFB runs every method: each RGB channel of the
  visible image with the infrared image's matching channel (or with the grey infrared image), so that fused images
  compare with VIFB's stored ones.

The output has the visible input's type and keeps the precision the method computed: every method returns a float
image on [0, 1], which is rounded once, to uint8 for a uint8 visible input and to the full 16-bit scale for uint16
(no 8-bit step in between), or returned as float64 in [0, 1] for float input; grey or colour like the visible
input. (``unrolled.fuse_images(normalization="official")`` keeps the authors' 8-bit truncation, for parity with
their released outputs only.)

>>> import numpy as np
>>> ir = np.full((4, 5), 200, np.uint8); vi = np.full((4, 5), 100, np.uint8)
>>> fuse(ir, vi, method="average")[0, 0]
np.uint8(150)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers._images import unit_scale

from .io import read_image, write_image
from .methods import get_method

__all__ = ["DEFAULT_METHOD", "fuse", "read_image", "write_image", "rgb_to_ycbcr", "ycbcr_to_rgb"]

DEFAULT_METHOD = "lrrnet"
"""The method :func:`fuse` uses by default: LRRNet with the project's own shipped weights (``weights="default"``)."""


_RGB2YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 (JPEG) YCbCr of an RGB image on [0, 1]; Cb and Cr are centred on 0.5."""
    ycc = rgb @ _RGB2YCC.T
    ycc[..., 1:] += 0.5
    return ycc


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`, clipped to [0, 1]."""
    centred = ycc.copy()
    centred[..., 1:] -= 0.5
    return np.clip(centred @ np.linalg.inv(_RGB2YCC).T, 0.0, 1.0)


@dataclass(frozen=True)
class _Input:
    grey: np.ndarray  # float64 (H, W) on [0, 1]
    kind: str  # "uint8", "uint16" or "float"
    colour: np.ndarray | None  # float64 (H, W, 3) RGB on [0, 1] for a colour image
    label: str  # "ir" / "vi", with the file for a path: how errors name this input


def _as_input(image, name: str) -> _Input:
    if isinstance(image, (str, Path)):
        name = f"{name} ({image})"
        image = read_image(image)
    a = np.asarray(image)
    x = unit_scale(a, name)  # the one convention (solvers._images): v / 255, v / 65535, floats in [0, 1]
    kind = "uint8" if a.dtype == np.uint8 else "uint16" if a.dtype == np.uint16 else "float"
    if x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]  # alpha dropped
    if x.ndim == 3 and x.shape[2] == 3:
        return _Input(rgb_to_ycbcr(x)[..., 0], kind, x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a grey (H, W) or colour (H, W, 3) image, got shape {a.shape}")
    return _Input(x, kind, None, name)


def _output(grey: np.ndarray, vi: _Input) -> np.ndarray:
    grey = np.clip(grey, 0.0, 1.0)
    if vi.colour is not None:
        ycc = rgb_to_ycbcr(vi.colour)
        ycc[..., 0] = grey
        out = ycbcr_to_rgb(ycc)
    else:
        out = grey
    return _typed(out, vi)


def _typed(out: np.ndarray, vi: _Input) -> np.ndarray:
    if vi.kind == "uint8":
        return np.round(out * 255.0).astype(np.uint8)
    if vi.kind == "uint16":
        return np.round(out * 65535.0).astype(np.uint16)
    return out


def check_options(method: str, options: dict) -> None:
    """That ``method`` takes every one of ``options``, and that a ``device`` or ``precision`` among them can be used
    here (a GPU this machine lacks is refused): ValueError naming the problem. :func:`fuse` and folder fusion call it
    before any work, so that a bad option fails once, not once per image."""
    m = get_method(method)
    unknown = sorted(set(options) - set(m.options))
    if unknown:
        raise ValueError(f"method {m.name!r} does not take option(s) {unknown}; its options: {m.options}")
    if options.get("device") is not None:
        from unrolled.device import resolve_device

        resolve_device(options["device"])
    if "precision" in options:
        from unrolled.device import check_precision

        check_precision(options["precision"])


def fuse(ir, vi, *, method: str | None = None, colour: str = "luminance", progress: bool = False,
         **options) -> np.ndarray:
    """Fuse an infrared and a visible image.

    Parameters
    ----------
    ir, vi : ndarray or path
        The two sources, same height and width (module docstring for types and colour).
    method : str, optional
        A name from :func:`llrr.list_methods` (default :data:`DEFAULT_METHOD`).
    colour : {"luminance", "channels"}
        How a colour visible image is fused: on its luminance (default), or channel by channel as VIFB does (module
        docstring). Grey visible images are fused the same way by both.
    progress : bool
        Progress bars for methods with long steps.
    **options
        The method's options (:attr:`llrr.methods.Method.options`), e.g. ``weights=`` and ``tile=`` for "lrrnet",
        ``solver=`` or ``iterations=`` for "llrr-classical". An option the method does not take is an error.

    Returns
    -------
    ndarray of shape (H, W) or (H, W, 3), of the visible input's type.
    """
    m = get_method(DEFAULT_METHOD if method is None else method)
    if colour not in ("luminance", "channels"):
        raise ValueError(f"colour must be 'luminance' or 'channels', got {colour!r}")
    check_options(m.name, options)
    a, b = _as_input(ir, "ir"), _as_input(vi, "vi")
    if a.grey.shape != b.grey.shape:
        raise ValueError(f"{a.label} and {b.label} must have the same size, got {a.grey.shape} and {b.grey.shape}")
    if min(a.grey.shape) < m.min_size:
        raise ValueError(f"method {m.name!r} needs images of at least {m.min_size} x {m.min_size} pixels, got "
                         f"{a.grey.shape} for {a.label} and {b.label}")
    if colour == "channels" and b.colour is not None:
        irs = [a.grey if a.colour is None else a.colour[..., c] for c in range(3)]
        out = [np.clip(np.asarray(m.func(irs[c], b.colour[..., c], progress=progress, **options), np.float64), 0, 1)
               for c in range(3)]
        return _typed(np.stack(out, axis=-1), b)
    fused = m.func(a.grey, b.grey, progress=progress, **options)
    return _output(np.asarray(fused, dtype=np.float64), b)
