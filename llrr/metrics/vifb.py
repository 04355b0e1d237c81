r"""The VIFB benchmark's metrics ("vifb" profile), computed as VIFB's MATLAB code computes them.

X. Zhang, P. Ye, G. Xiao, "VIFB: A Visible and Infrared Image Fusion Benchmark", CVPRW 2020; code
``xingchenzhang/VIFB`` (``compute_metrics.m``, ``metrics/metrics<Name>.m``). This module holds the reading, the
channel rule and the nine pixel-statistics metrics; :mod:`llrr.metrics.vifb_quality` holds Qabf, Ssim, Qcb and Qcv.
Every function takes ``(fused, ir, vi)``: uint8 arrays of shape (H, W) or (H, W, 3) (or paths), as
:func:`imread_vifb` gives them, and returns a Python float.

**Reading.** VIFB reads its JPEGs with ``imread``: uint8, three channels for a colour file (even when the scene is
grey), one for a grey file. :func:`imread_vifb` does the same with Pillow (libjpeg-turbo's default decoder, which
gives the pixels behind VIFB's published values: see docs/metrics.md).

**Channels** (:func:`per_channel`). VIFB calls ``metrics<Name>(VI, IR, F)``. Where its code branches on the number
of channels:

* fused grey: one call on the whole images; a colour source is converted inside by MATLAB's ``rgb2gray``
  (:func:`rgb2gray`; rounded to uint8 where the source is still uint8 there, unrounded where the code made it
  double first);
* fused colour: one call per channel k with ``VI[..., k]``, ``IR[..., k]`` and ``F[..., k]`` (a grey source is used
  whole for every channel, as VIFB does for a grey IR), and the mean of the three values.

Avg_gradient, Edge_intensity and Spatial_frequency have no such branch (they see the fused image only, all channels).

**Definitions** (F, A = VI, B = IR of one channel, :math:`N = H W`; :math:`p_X` the 256-bin histogram of X / N):

* Cross_entropy ↓: :math:`\tfrac12 (D(p_A \| p_F) + D(p_B \| p_F))`, :math:`D(p\|q) = \sum_{p_k q_k > 0}
  p_k \log_2 (p_k / q_k)` (bins empty in either image are skipped).
* Entropy ↑: :math:`-\sum p_F \log_2 p_F`.
* Mutinf ↑: :math:`I(A; F) + I(B; F)` in **nats**, each image first stretched to [0, 255] by its min and max and
  rounded (half away from zero), from 256 x 256 joint histograms.
* Psnr ↑: :math:`20 \log_{10}(255 / \sqrt{M})` with :math:`M = \tfrac12 (e(A, F) + e(B, F))` and
  :math:`e(X, F) = \sqrt{\sum (X - F)^2} / N` (not a mean squared error).
* Rmse ↓: :math:`M` itself.
* Avg_gradient ↑: per channel :math:`\sum \sqrt{(F_x^2 + F_y^2) / 2} / ((H - 1)(W - 1))` with MATLAB's
  ``gradient`` (central differences, one-sided on the border), mean over channels.
* Edge_intensity ↑: mean over pixels and channels of the Sobel magnitude (``imfilter(F, fspecial('sobel'),
  'replicate')`` and its transpose).
* Variance ↑: the population standard deviation of F (VIFB's name notwithstanding), mean over channels.
* Spatial_frequency ↑: :math:`\sqrt{RF + CF}`, both sums of squared neighbour differences divided by the number of
  pixels, on the channels **placed side by side** as one H x 3W image (``[m, n] = size(F)`` gives n = 3W for a
  colour image), so the two seams between channels count as edges.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._common import as_uint8_image, check_channels, source_memo
from .paper import en

__all__ = ["imread_vifb", "rgb2gray", "round_half_away", "per_channel", "source_memo", "cross_entropy", "entropy",
           "mutinf", "psnr", "rmse", "avg_gradient", "edge_intensity", "variance", "spatial_frequency"]

# MATLAB rgb2gray: the first row of the inverse of the NTSC (YIQ) matrix, as rgb2gray.m states it
_RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def imread_vifb(path) -> np.ndarray:
    """An image file as VIFB's ``imread`` reads it: uint8 (H, W) for a grey file, (H, W, 3) for a colour one.

    Examples
    --------
    >>> from llrr.io import demo_pair
    >>> imread_vifb(demo_pair()[0]).dtype
    dtype('uint8')
    """
    return as_uint8_image(path, "image")


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``round`` (halves away from zero, exactly), as float64.

    >>> round_half_away(np.array([0.5, 1.5, 2.5, -0.5, 0.49999999999999994]))
    array([ 1.,  2.,  3., -1.,  0.])
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    r = np.floor(a)
    return np.copysign(r + (a - r >= 0.5), x)  # a - floor(a) is exact


def rgb2gray(image: np.ndarray, *, uint8: bool) -> np.ndarray:
    """MATLAB ``rgb2gray`` of an (H, W, 3) image; (H, W) images are returned unchanged.

    ``uint8=True`` is its result for a uint8 input (rounded half away from zero to uint8); ``uint8=False`` its result
    for a double input (float64, unrounded).

    >>> rgb2gray(np.array([[[255, 0, 0], [10, 200, 30]]], np.uint8), uint8=True)
    array([[ 76, 124]], dtype=uint8)
    """
    if image.ndim == 2:
        return image
    x = image.astype(np.float64)
    grey = _RGB2GRAY[0] * x[..., 0] + _RGB2GRAY[1] * x[..., 1] + _RGB2GRAY[2] * x[..., 2]
    return np.clip(round_half_away(grey), 0, 255).astype(np.uint8) if uint8 else grey


def _band(image: np.ndarray, k: int) -> np.ndarray:
    return image if image.ndim == 2 else image[..., k]


def per_channel(single: Callable[[np.ndarray, np.ndarray, np.ndarray], float], fused: np.ndarray, ir: np.ndarray,
                vi: np.ndarray) -> float:
    """VIFB's channel rule: ``single(vi, ir, fused)`` on the whole images when ``fused`` is grey (the sources may be
    colour, ``single`` converts them), else the mean of ``single`` over the channels of ``fused`` (a grey source is
    used whole for every channel). Note VIFB's argument order: visible first."""
    if fused.ndim == 2:
        return float(single(vi, ir, fused))
    return float(np.mean([single(_band(vi, k), _band(ir, k), fused[..., k]) for k in range(fused.shape[2])]))


def _bands(fused: np.ndarray) -> list[np.ndarray]:
    return [fused] if fused.ndim == 2 else [fused[..., k] for k in range(fused.shape[2])]


# --- information ----------------------------------------------------------------------------------------------------


def _kl_bits(src: np.ndarray, fused: np.ndarray) -> float:
    p = np.bincount(src.ravel(), minlength=256) / src.size
    q = np.bincount(fused.ravel(), minlength=256) / src.size
    both = (p != 0) & (q != 0)
    return float(np.sum(p[both] * np.log2(p[both] / q[both])))


def _cross_entropy_1(vi, ir, f) -> float:
    return (_kl_bits(rgb2gray(vi, uint8=True), f) + _kl_bits(rgb2gray(ir, uint8=True), f)) / 2.0


def cross_entropy(fused, ir, vi) -> float:
    r"""VIFB's Cross_entropy (lower is better): the mean over the two sources of the relative entropy
    :math:`\sum p_S \log_2 (p_S / p_F)` of the 256-bin histograms, bins empty in either image skipped.

    Examples
    --------
    >>> src = np.array([[0, 0, 1, 1]], np.uint8)  # p_S = (1/2, 1/2)
    >>> f = np.array([[0, 1, 1, 1]], np.uint8)    # p_F = (1/4, 3/4)
    >>> round(cross_entropy(f, src, src), 6)      # 1/2 log2 2 + 1/2 log2 (2/3)
    0.207519
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_cross_entropy_1, f, a, b)


def entropy(fused, ir=None, vi=None) -> float:
    r"""VIFB's Entropy (higher is better): :math:`-\sum_k p_k \log_2 p_k` of each channel's 256-bin histogram, mean
    over the channels. The sources are not used (pass None).

    >>> entropy(np.array([[0, 1, 2, 3]], np.uint8))
    2.0
    """
    f = as_uint8_image(fused, "fused") if ir is None and vi is None else check_channels(fused, ir, vi)[0]
    return float(np.mean([en(band) for band in _bands(f)]))


def _stretch_bins(x: np.ndarray) -> np.ndarray:
    """The bin (0..255) of each pixel after VIFB's min-max stretch to [0, 255], rounded half away from zero; all bin
    0 for a constant image. Computed as a 256-entry table, with MATLAB's operations in its order."""
    lo, hi = int(x.min()), int(x.max())
    if lo == hi:
        return np.zeros(x.shape, np.intp)
    lut = round_half_away((np.arange(256.0) - lo) / (hi - lo) * 255).astype(np.intp)
    return lut[x]


def _entropy_nats(counts: np.ndarray) -> float:
    p = counts[counts != 0] / counts.sum()
    return float(np.sum(-p * np.log(p)))


def _mi_nats(src: np.ndarray, fused: np.ndarray) -> float:
    joint = np.bincount((_stretch_bins(src) * 256 + _stretch_bins(fused)).ravel(), minlength=65536)
    joint = joint.reshape(256, 256)
    return _entropy_nats(joint.sum(1)) + _entropy_nats(joint.sum(0)) - _entropy_nats(joint.ravel())


def _mutinf_1(vi, ir, f) -> float:
    return _mi_nats(rgb2gray(vi, uint8=True), f) + _mi_nats(rgb2gray(ir, uint8=True), f)


def mutinf(fused, ir, vi) -> float:
    r"""VIFB's Mutinf (higher is better): :math:`I(\mathrm{VI}; F) + I(\mathrm{IR}; F)` in nats, each image stretched
    to [0, 255] by its minimum and maximum and rounded, from 256 x 256 joint histograms.

    Examples
    --------
    >>> img = np.array([[0, 255, 0, 255]], np.uint8)  # 1 bit = log 2 nats with each source
    >>> import math
    >>> round(mutinf(img, img, img) / math.log(2), 12)
    2.0
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_mutinf_1, f, a, b)


# --- errors ---------------------------------------------------------------------------------------------------------


def _root_sse_per_pixel(src: np.ndarray, fused: np.ndarray) -> float:
    d = rgb2gray(src, uint8=False).astype(np.float64) - fused
    return float(np.sqrt(np.sum(d * d)) / d.size)


def _rmse_1(vi, ir, f) -> float:
    f = f.astype(np.float64)
    return (_root_sse_per_pixel(vi, f) + _root_sse_per_pixel(ir, f)) / 2.0


def rmse(fused, ir, vi) -> float:
    r"""VIFB's Rmse (lower is better): :math:`\tfrac12 (e(\mathrm{VI}, F) + e(\mathrm{IR}, F))` with
    :math:`e(X, F) = \sqrt{\sum (X - F)^2} / (H W)`, the root of the *sum* of squares over the number of pixels (so
    not a root mean square: it shrinks with the image size), mean over the channels.

    Examples
    --------
    >>> f = np.zeros((2, 2), np.uint8)
    >>> rmse(f, f, f + 3)  # (0 + sqrt(4 * 9) / 4) / 2
    0.75
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_rmse_1, f, a, b)


def psnr(fused, ir, vi) -> float:
    r"""VIFB's Psnr (higher is better): :math:`20 \log_{10}(255 / \sqrt{M})` per channel, with :math:`M` the
    :func:`rmse` of that channel; mean over the channels. ``inf`` when the three images are identical.

    Examples
    --------
    >>> f = np.zeros((2, 2), np.uint8)
    >>> import math
    >>> round(psnr(f, f, f + 3), 6) == round(20 * math.log10(255 / math.sqrt(0.75)), 6)
    True
    """
    f, a, b = check_channels(fused, ir, vi)

    def single(vi_, ir_, f_):
        m = _rmse_1(vi_, ir_, f_)
        return np.inf if m == 0.0 else 20.0 * np.log10(255.0 / np.sqrt(m))

    return per_channel(single, f, a, b)


# --- the fused image alone ------------------------------------------------------------------------------------------


def _fused_only(fused, ir, vi, minimum: int = 2) -> np.ndarray:
    f = as_uint8_image(fused, "fused") if ir is None and vi is None else check_channels(fused, ir, vi)[0]
    if min(f.shape[:2]) < minimum:
        raise ValueError(f"fused must be at least {minimum} x {minimum} pixels, got shape {f.shape}")
    return f


def avg_gradient(fused, ir=None, vi=None) -> float:
    r"""VIFB's Avg_gradient (higher is better): per channel
    :math:`\sum_{i,j} \sqrt{(F_x^2 + F_y^2) / 2} / ((H - 1)(W - 1))` with MATLAB's ``gradient`` (``numpy.gradient``),
    mean over the channels.

    >>> ramp = np.tile(np.arange(0, 50, 10, dtype=np.uint8), (3, 1))  # d/dx = 10 on all 15 pixels
    >>> round(avg_gradient(ramp), 10) == round(15 * 10 / 2**0.5 / 8, 10)
    True
    """
    f = _fused_only(fused, ir, vi)
    values = []
    for band in _bands(f):
        gy, gx = np.gradient(band.astype(np.float64))
        values.append(np.sum(np.sqrt((gx * gx + gy * gy) / 2.0)) / ((band.shape[0] - 1) * (band.shape[1] - 1)))
    return float(np.mean(values))


def edge_intensity(fused, ir=None, vi=None) -> float:
    r"""VIFB's Edge_intensity (higher is better): the mean over pixels and channels of
    :math:`\sqrt{s_x^2 + s_y^2}`, the Sobel responses with replicated borders (``imfilter(F, fspecial('sobel'),
    'replicate')`` and with the transposed kernel).

    >>> step = np.zeros((3, 4), np.uint8)
    >>> step[:, 2:] = 10  # columns 1 and 2 see the step: |s_x| = (1 + 2 + 1) * 10
    >>> edge_intensity(step)  # 6 of the 12 pixels at 40
    20.0
    """
    f = _fused_only(fused, ir, vi, minimum=1)
    total = 0.0
    for band in _bands(f):
        x = np.pad(band.astype(np.int32), 1, mode="edge")  # exact integers: |s| <= 1020, s_x^2 + s_y^2 < 2^31
        col = x[:, 2:] - x[:, :-2]
        sx = col[:-2] + 2 * col[1:-1] + col[2:]
        row = x[2:] - x[:-2]
        sy = row[:, :-2] + 2 * row[:, 1:-1] + row[:, 2:]
        total += float(np.sum(np.sqrt(sx * sx + sy * sy, dtype=np.float64)))
    return total / f.size


def variance(fused, ir=None, vi=None) -> float:
    r"""VIFB's Variance (higher is better), which is the population **standard deviation** of each channel on
    [0, 255], mean over the channels.

    >>> variance(np.array([[0, 10]], np.uint8))
    5.0
    """
    f = _fused_only(fused, ir, vi, minimum=1)
    return float(np.mean([np.std(band.astype(np.float64)) for band in _bands(f)]))


def spatial_frequency(fused, ir=None, vi=None) -> float:
    r"""VIFB's Spatial_frequency (higher is better): :math:`\sqrt{RF + CF}` with

    .. math:: RF = \frac{1}{H W'} \sum (G_{i,j} - G_{i,j-1})^2, \qquad CF = \frac{1}{H W'} \sum (G_{i,j} - G_{i-1,j})^2

    on :math:`G`, the channels of F side by side (H x W' with W' = 3 W for colour, as MATLAB's ``[m, n] =
    size(F)`` and ``F(i, j)`` see a colour image), so the seams between channels count.

    >>> board = (np.indices((4, 6)).sum(0) % 2 * 10).astype(np.uint8)  # 4 x 5 + 3 x 6 differences of 10
    >>> round(spatial_frequency(board) ** 2, 10) == round((20 + 18) * 100 / 24, 10)
    True
    """
    f = _fused_only(fused, ir, vi, minimum=1)
    g = f if f.ndim == 2 else f.transpose(0, 2, 1).reshape(f.shape[0], -1)
    g = g.astype(np.int64)
    rf = np.sum(np.diff(g, axis=1) ** 2) / g.size
    cf = np.sum(np.diff(g, axis=0) ** 2) / g.size
    return float(np.sqrt(rf + cf))
