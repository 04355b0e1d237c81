r"""The metrics of CDDFuse's Python ``Evaluator`` ("cddfuse" profile), computed as that code computes them.

Z. Zhao et al., "CDDFuse: Correlation-Driven Dual-Branch Feature Decomposition for Multi-Modality Image Fusion",
CVPR 2023; code ``Zhaozixiang1228/MMIF-CDDFuse`` (``utils/Evaluator.py``, called by ``test_IVF.py`` and
``test_MIF.py`` on images read by ``utils/img_read_save.py``'s ``image_read_cv2(path, 'GRAY')``). Its evaluator is the
most copied Python metric code of the field. The code here is our own. This module holds the reading and EN, SD, SF,
MI and SCD; :mod:`llrr.metrics.cddfuse_quality` holds VIFF, Qabf and SSIM. Every metric takes ``(fused, ir, vi)``
(paths or arrays, :func:`read_triplet`) and returns a Python float.

**Reading** (:func:`read_triplet`). ``image_read_cv2`` reads a file with ``cv2.imread`` (three BGR channels, 8 bits:
a 16-bit file gives its high byte), casts it to float32 *before* ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` and rounds the
result with ``np.round`` (halves to even). OpenCV's float path weighs with the float32 constants 0.299, 0.587 and
0.114; with its default Intel IPP kernel (and its scalar code) the arithmetic is
:math:`Y = \mathrm{fma}(R, 0.299, \mathrm{fma}(B, 0.114, G \cdot 0.587))` in float32 (:func:`cv2_grey`). It is
neither Pillow's "L" conversion (the other profiles' luminance; one grey level apart on 8680 of the 2^24 colours) nor
what ``cvtColor`` gives for a uint8 image (fixed-point weights; apart on 22111 colours). The metrics receive float32
grey images holding integers. SSIM is computed in float32 as the Evaluator computes it (bit for bit: its value moves
by up to 1e-5 in float64); SD, SF, SCD and Qabf are the other profiles' float64 functions, which agree with the
Evaluator's float32 arithmetic to 2e-7 (relative).

**Definitions** (F fused, A = IR, B = VI; N pixels; sums over pixels):

* EN ↑: :math:`-\sum_k p_k \log_2 p_k`, the 256-bin histogram of F (bits).
* SD ↑: ``np.std(F)``, the population standard deviation on [0, 255] (divided by N).
* SF ↑: :math:`\sqrt{\operatorname{mean}(F_{i,j+1} - F_{i,j})^2 + \operatorname{mean}(F_{i+1,j} - F_{i,j})^2}`.
* MI ↑: :math:`I(F; A) + I(F; B)` in **nats** (scikit-learn's ``mutual_info_score`` of the pixel values), a sum.
* SCD ↑: :math:`r(A, F - B) + r(B, F - A)` with Pearson's r; ``nan`` where a correlation is 0 / 0 (a constant source
  or difference image), as the Evaluator gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solvers._images import read_image

from . import simple, standard
from ._common import as_uint8_image
from .paper import en as _entropy_bits

__all__ = ["cv2_grey", "imread_cddfuse", "read_triplet", "en", "sd", "sf", "mi", "scd"]

# OpenCV's float32 BT.601 weights, and the same values in float64: the product of an 8-bit integer and a float32
# weight is exact in float64, and so is the sum of two such terms here (at most 36 significant bits).
_CR, _CG, _CB = np.float32(0.299), np.float32(0.587), np.float32(0.114)
_CR64, _CB64 = np.float64(_CR), np.float64(_CB)


def cv2_grey(image: np.ndarray) -> np.ndarray:
    r"""``np.round(cv2.cvtColor(img.astype('float32'), cv2.COLOR_BGR2GRAY))`` of an RGB image, as uint8.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) or (H, W), uint8
        RGB channels (the order Pillow gives; OpenCV's BGR is accounted for). A grey image is returned as it is
        (``cv2.imread`` would give three equal channels, which convert back to the same value).

    Returns
    -------
    ndarray of shape (H, W), uint8

    Notes
    -----
    :math:`Y = \mathrm{fl}_{32}(R \cdot 0.299 + \mathrm{fl}_{32}(B \cdot 0.114 + \mathrm{fl}_{32}(G \cdot 0.587)))`,
    each :math:`\mathrm{fl}_{32}` one float32 rounding (the two outer ones are fused multiply-adds), then rounded to
    the nearest integer, halves to even (``np.round``). This equals opencv-python 4.5.5's ``cvtColor`` with its default
    IPP kernel on all 2^24 colours, and its scalar code too; its SIMD code without IPP orders the sum as
    ``fma(R, 0.299, fma(G, 0.587, B * 0.114))`` and rounds 830 colours (5e-5) the other way. Where the exact BT.601
    value is a half (:math:`299 R + 587 G + 114 B \equiv 500 \pmod{1000}`) the float32 error decides.

    Examples
    --------
    >>> cv2_grey(np.array([[[188, 2, 1], [194, 118, 2], [134, 116, 3]]], np.uint8))  # three exact halves
    array([[ 58, 127, 109]], dtype=uint8)
    """
    a = np.asarray(image)
    if a.ndim == 2:
        return a
    r, g, b = (a[..., k].astype(np.float64) for k in range(3))
    inner = (b * _CB64 + (g.astype(np.float32) * _CG)).astype(np.float32)
    y = (r * _CR64 + inner).astype(np.float32)
    return np.round(y).astype(np.uint8)


def imread_cddfuse(path) -> np.ndarray:
    """An image file as ``image_read_cv2(path, 'GRAY')`` gives it, as uint8 (H, W) (its float32 values are these).

    ``cv2.imread`` keeps the high byte of 16-bit files (``v >> 8``) and drops an alpha channel; colour goes through
    :func:`cv2_grey`.

    Examples
    --------
    >>> from llrr.io import demo_pair
    >>> imread_cddfuse(demo_pair()[1]).dtype
    dtype('uint8')
    """
    return _grey(path, "image")


def _grey(image, name: str) -> np.ndarray:
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: image file not found: {path}")
        image = read_image(path)
        if image.dtype == np.float32:
            raise ValueError(f"{path}: a float image has no fixed [0, 255] scale; convert it to 8- or 16-bit")
    a = np.asarray(image)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    return cv2_grey(as_uint8_image(a, name))


def read_triplet(fused, ir, vi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three images as CDDFuse's test scripts read them: uint8 (H, W) grey of one shape.

    Paths are read as :func:`imread_cddfuse` reads them. Arrays: uint8 as they are, uint16 by their high byte (as a
    16-bit file), floats in [0, 255] rounded; colour (H, W, 3) through :func:`cv2_grey`, an alpha channel dropped.
    """
    f, a, b = _grey(fused, "fused"), _grey(ir, "ir"), _grey(vi, "vi")
    if not (f.shape == a.shape == b.shape):
        raise ValueError(f"fused, ir and vi must have the same height and width, got {f.shape}, {a.shape} and "
                         f"{b.shape}")
    return f, a, b


def _fused(fused, ir, vi) -> np.ndarray:
    return _grey(fused, "fused") if ir is None and vi is None else read_triplet(fused, ir, vi)[0]


def en(fused, ir=None, vi=None) -> float:
    r"""Entropy of F's 256-bin histogram in bits, higher is better (``Evaluator.EN(F)``).

    ``ir`` and ``vi`` are ignored (accepted for the uniform signature).

    Examples
    --------
    >>> en(np.array([[0, 0, 255, 7]], np.uint8))  # p = (1/2, 1/4, 1/4)
    1.5
    """
    return _entropy_bits(_fused(fused, ir, vi))


def sd(fused, ir=None, vi=None) -> float:
    r"""``np.std(F)``: the population standard deviation on [0, 255] (divided by N), higher is better
    (``Evaluator.SD(F)``; :func:`llrr.metrics.standard.sd`).

    Examples
    --------
    >>> sd(np.array([[0, 10], [10, 0]], np.uint8))
    5.0
    """
    return standard.sd(_fused(fused, ir, vi))


def sf(fused, ir=None, vi=None) -> float:
    r"""Spatial frequency of F, higher is better (``Evaluator.SF(F)``; :func:`llrr.metrics.simple.sf`).

    .. math:: \mathrm{SF} = \sqrt{\operatorname{mean}_{i,j} (F_{i,j+1} - F_{i,j})^2
                                  + \operatorname{mean}_{i,j} (F_{i+1,j} - F_{i,j})^2}

    each mean over the differences that exist. Needs at least 2 x 2 pixels.

    Examples
    --------
    >>> board = (np.indices((4, 6)).sum(0) % 2 * 10).astype(np.uint8)  # every neighbour differs by 10
    >>> round(sf(board) ** 2, 10)
    200.0
    """
    return simple.sf(_fused(fused, ir, vi))


def _mi_nats(x: np.ndarray, y: np.ndarray) -> float:
    joint = np.bincount(x.ravel().astype(np.intp) * 256 + y.ravel(), minlength=65536).reshape(256, 256)
    p = joint / x.size
    nz = p > 0
    outer = np.outer(p.sum(axis=1), p.sum(axis=0))
    return max(0.0, float(np.sum(p[nz] * np.log(p[nz] / outer[nz]))))


def mi(fused, ir, vi) -> float:
    r"""Mutual information :math:`I(F; A) + I(F; B)` in nats, higher is better (``Evaluator.MI(F, A, B)``).

    Each term is scikit-learn's ``mutual_info_score`` of the flattened pixel values (a contingency table of the
    values, natural logarithm; clipped at 0), which equals the 256 x 256 joint-histogram MI. The "standard" profile's
    MI is the same sum in bits: this one is ``ln 2`` times it.

    Examples
    --------
    >>> half = np.array([[0, 0, 255, 255]], np.uint8)  # one bit = ln 2 nats with each source
    >>> round(mi(half, half, half) / float(np.log(2)), 12)
    2.0
    """
    f, a, b = read_triplet(fused, ir, vi)
    return _mi_nats(f, a) + _mi_nats(f, b)


def scd(fused, ir, vi) -> float:
    r"""Sum of the correlations of differences, higher is better (``Evaluator.SCD(F, A, B)``).

    .. math:: \mathrm{SCD} = r(A, F - B) + r(B, F - A), \quad
              r(X, Y) = \frac{\sum (X - \bar X)(Y - \bar Y)}{\sqrt{\sum (X - \bar X)^2 \sum (Y - \bar Y)^2}}

    (:func:`llrr.metrics.simple.scd`), except where a correlation is 0 / 0: a constant source, or a fused image equal
    to a source (then F - A is 0). The Evaluator gives ``nan`` there, and so does this profile; the "standard" profile
    counts such a correlation as 0.

    Examples
    --------
    >>> ir = np.array([[0, 10, 20], [30, 40, 50]], np.uint8)
    >>> vi = np.array([[5, 0, 9], [1, 7, 3]], np.uint8)
    >>> round(scd(ir + vi, ir, vi), 12)  # F - VI = IR and F - IR = VI
    2.0
    >>> scd(vi, ir, vi)
    nan
    """
    f, a, b = read_triplet(fused, ir, vi)
    fi, ai, bi = (x.astype(np.int64) for x in (f, a, b))
    if any(np.ptp(x) == 0 for x in (ai, bi, fi - ai, fi - bi)):
        return float("nan")
    return simple.scd(f, a, b)
