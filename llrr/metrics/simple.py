r"""Pixel-statistics fusion metrics with the conventional definitions (Tang's ``Evaluation-for-Image-Fusion``,
VIFB, CDDFuse's ``Evaluator``; spec sections 4 and 5): SF, AG, CC, SCD, MSE and PSNR.

All take ``(fused, ir, vi)`` 8-bit grey images of one shape (SF and AG use only the fused image and accept the
sources for a uniform signature), work on the [0, 255] scale in float64 and return Python floats.

Where the reference codes differ (the formula given in each docstring is what is computed):

* SF: Tang and CDDFuse take the mean of the squared differences over the differences (``(H-1) W`` and ``H (W-1)``
  of them); VIFB divides both sums by ``H W``, which gives slightly smaller values.
* CC: Tang's ``CC_evaluation.m`` subtracts ``mean(IR)`` instead of ``mean(VI)`` in the numerator of the VI term;
  this changes nothing (the fused image's deviations sum to zero) beyond rounding.
* MSE and PSNR: the mean of the two MSEs, on [0, 255] (Tang). VIFB's ``Psnr`` uses ``sqrt(sum(d^2)) / (H W)`` as its
  "MSE", and a later version of Tang's ``PSNR_evaluation.m`` divides the images by 255 first (adding 48.13 dB);
  neither is followed.
* Correlations (CC, SCD): MATLAB's ``corr2`` returns NaN when an image is constant. Here a correlation with a
  constant image is 0 (it carries no linear information). This keeps SCD finite for a fused image equal to a
  source (then ``F - VI`` is zero and its term is 0), a legitimate baseline.
"""

from __future__ import annotations

import numpy as np

from ._common import as_uint8_grey, check_triplet

__all__ = ["sf", "ag", "corr2", "cc", "scd", "mse", "psnr"]


def _fused_only(fused, ir, vi) -> np.ndarray:
    f = as_uint8_grey(fused, "fused") if ir is None and vi is None else check_triplet(fused, ir, vi)[0]
    if min(f.shape) < 2:
        raise ValueError(f"fused must be at least 2 x 2 pixels (differences between neighbours), got shape {f.shape}")
    return f.astype(np.float64)


def sf(fused: np.ndarray, ir: np.ndarray | None = None, vi: np.ndarray | None = None) -> float:
    r"""Spatial frequency (Eskicioglu & Fisher 1995), higher is better.

    .. math:: \mathrm{SF} = \sqrt{\operatorname{mean}_{i,j} (F_{i,j+1} - F_{i,j})^2
                                  + \operatorname{mean}_{i,j} (F_{i+1,j} - F_{i,j})^2}

    Each mean is over the differences that exist (Tang's ``SF_evaluation.m``). ``ir`` and ``vi`` are ignored.

    Examples
    --------
    >>> board = (np.indices((4, 6)).sum(0) % 2 * 10).astype(np.uint8)  # every neighbour differs by 10
    >>> round(sf(board) ** 2, 10)  # 10^2 + 10^2
    200.0
    """
    f = _fused_only(fused, ir, vi)
    horizontal = np.mean(np.diff(f, axis=1) ** 2)
    vertical = np.mean(np.diff(f, axis=0) ** 2)
    return float(np.sqrt(horizontal + vertical))


def ag(fused: np.ndarray, ir: np.ndarray | None = None, vi: np.ndarray | None = None) -> float:
    r"""Average gradient, higher is better.

    .. math:: \mathrm{AG} = \frac{1}{(H-1)(W-1)} \sum_{i,j} \sqrt{\frac{(\partial_x F)_{i,j}^2
                                                                          + (\partial_y F)_{i,j}^2}{2}}

    with MATLAB's ``gradient`` (``numpy.gradient``): central differences inside, one-sided ones on the border rows
    and columns; the sum runs over all ``H W`` pixels (Tang's ``AG_evaluation.m``, VIFB, CDDFuse). ``ir`` and ``vi``
    are ignored.

    Examples
    --------
    >>> ramp = np.tile(np.arange(0, 50, 10, dtype=np.uint8), (3, 1))  # 3 x 5, d/dx = 10 everywhere
    >>> round(ag(ramp) * 8 / 15 * 2**0.5, 10)  # 15 pixels of sqrt(10^2 / 2), over (3 - 1)(5 - 1)
    10.0
    """
    f = _fused_only(fused, ir, vi)
    gy, gx = np.gradient(f)
    h, w = f.shape
    return float(np.sum(np.sqrt((gx * gx + gy * gy) / 2.0)) / ((h - 1) * (w - 1)))


def corr2(x: np.ndarray, y: np.ndarray) -> float:
    r"""Pearson correlation of two images of one shape (MATLAB ``corr2``), 0 when either is constant.

    .. math:: r(X, Y) = \frac{\sum (X - \bar X)(Y - \bar Y)}{\sqrt{\sum (X - \bar X)^2 \sum (Y - \bar Y)^2}}
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"corr2 needs two arrays of one shape, got {x.shape} and {y.shape}")
    if x.size == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    dx = x - x.mean()
    dy = y - y.mean()
    return float(np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))


def cc(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    r"""Correlation coefficient, higher is better: :math:`(r(\mathrm{IR}, F) + r(\mathrm{VI}, F)) / 2` (:func:`corr2`).

    Examples
    --------
    >>> img = np.arange(20, dtype=np.uint8).reshape(4, 5)
    >>> cc(img, img, 255 - img)  # +1 and -1
    0.0
    """
    f, a, b = check_triplet(fused, ir, vi)
    return 0.5 * (corr2(a, f) + corr2(b, f))


def scd(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    r"""Sum of the correlations of differences (Aslantas & Bendes 2015), higher is better, in [-2, 2].

    .. math:: \mathrm{SCD} = r(F - \mathrm{VI}, \mathrm{IR}) + r(F - \mathrm{IR}, \mathrm{VI})

    (``analysis_SCD.m``: ``corr2(F - B, A) + corr2(F - A, B)``, :func:`corr2` with its rule for constant images).
    Each difference image is what the fused image holds beyond the other source, correlated with the source it
    should come from. Symmetric in the two sources.

    Examples
    --------
    >>> ir = np.array([[0, 10, 20], [30, 40, 50]], np.uint8)
    >>> vi = np.array([[5, 0, 9], [1, 7, 3]], np.uint8)
    >>> round(scd(ir + vi, ir, vi), 12)  # F - VI = IR and F - IR = VI
    2.0
    """
    f, a, b = (x.astype(np.int64) for x in check_triplet(fused, ir, vi))
    return corr2(f - b, a) + corr2(f - a, b)


def mse(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    r"""Mean squared error to the sources on [0, 255], lower is better (Tang's ``MSE_evaluation.m``).

    .. math:: \mathrm{MSE} = \tfrac{1}{2}\left(\operatorname{mean}(F - \mathrm{IR})^2
                                               + \operatorname{mean}(F - \mathrm{VI})^2\right)

    It is smallest for the average of the two sources, so it rewards averaging, not fusion quality.
    """
    f, a, b = (x.astype(np.int64) for x in check_triplet(fused, ir, vi))
    return float(0.5 * (np.mean((f - a) ** 2) + np.mean((f - b) ** 2)))


def psnr(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    r"""Peak signal-to-noise ratio in dB, higher is better: :math:`10 \log_{10}(255^2 / \mathrm{MSE})` with
    :func:`mse` (the mean of the two MSEs; Tang's ``PSNR_evaluation.m``, CDDFuse). ``inf`` when the three images are
    identical (MSE = 0).

    Examples
    --------
    >>> img = np.zeros((2, 2), np.uint8)
    >>> psnr(img, img, img)
    inf
    >>> round(psnr(img, img, img + 255), 6)  # MSE = 255^2 / 2
    3.0103
    """
    err = mse(fused, ir, vi)
    return float("inf") if err == 0.0 else float(10.0 * np.log10(255.0**2 / err))
