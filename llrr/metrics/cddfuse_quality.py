r"""CDDFuse's ``Evaluator`` VIFF, Qabf and SSIM ("cddfuse" profile).

The reading and the other five metrics are in :mod:`llrr.metrics.cddfuse`. F is the fused image, A = IR, B = VI, grey
images as CDDFuse's ``image_read_cv2(path, 'GRAY')`` gives them (float32 holding integers in [0, 255]; the profile
passes the same values as uint8).

* VIFF ↑: :math:`\mathrm{VIF}(A, F) + \mathrm{VIF}(B, F)`, a **sum**, each the pixel-domain multi-scale VIF of
  Sheikh and Bovik (``vifp_mscale``; :func:`vifp`) on [0, 255] with :math:`\sigma_N^2 = 2`.
* Qabf ↑: Xydeas and Petrovic's :math:`Q^{AB/F}` on [0, 255], zero-padded Sobel responses, angles
  :math:`\arctan(s_y / s_x)` (:math:`\pi/2` where :math:`s_x = 0`), and R. Hong's :math:`G^{AF} = g_F` where
  :math:`g_A = g_F` (:func:`qabf`, :mod:`llrr.metrics.qabf` with ``hong_quirk=True``). The Evaluator computes it in
  float32; the float64 value agrees to 2e-7.
* SSIM ↑: :math:`\mathrm{SSIM}(F, A) + \mathrm{SSIM}(F, B)`, a **sum**, each scikit-image 0.19's
  ``structural_similarity`` with its defaults on the float32 images, which sets the data range to **2** (the range
  of a float image in ``dtype_range``), not 255 (:func:`structural_similarity_019`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d, uniform_filter

from ._common import source_memo
from .cddfuse import read_triplet
from .qabf import qabf as _qabf

__all__ = ["vifp", "viff", "qabf", "structural_similarity_019", "ssim", "VIFF_MIN_SIZE"]

VIFF_MIN_SIZE = 41
"""The smallest height and width VIFF takes: the 3 x 3 window of the fourth scale must fit (2 x 2 at 40 x 40).
CDDFuse's ``convolve2d(..., 'valid')`` silently swaps its arguments there, which gives a meaningless number."""


# --- VIFF -----------------------------------------------------------------------------------------------------------


def _taps(n: int) -> np.ndarray:
    """1-D factor of the n x n Gaussian window of sigma n / 5, normalised (the 2-D window is the outer product; no
    tap is below eps * max for n in 17, 9, 5, 3, so MATLAB's zeroing of small taps never applies)."""
    x = np.arange(n) - (n - 1) / 2.0
    h = np.exp(-(x * x) / (2.0 * (n / 5.0) ** 2))
    return h / h.sum()


def _valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``convolve2d(img, outer(taps, taps), 'valid')`` by two 1-D passes (the window is symmetric)."""
    r = taps.size // 2
    h, w = img.shape
    rows = correlate1d(img, taps, axis=0, mode="nearest")[r : h - r]
    return correlate1d(rows, taps, axis=1, mode="nearest")[:, r : w - r]


def vifp(ref: np.ndarray, dist: np.ndarray, *, sigma_nsq: float = 2.0, eps: float = 1e-10) -> float:
    r"""Pixel-domain multi-scale visual information fidelity of ``dist`` against ``ref`` (``compare_viff``).

    Parameters
    ----------
    ref, dist : ndarray of shape (H, W)
        Images on [0, 255], H and W at least :data:`VIFF_MIN_SIZE`.
    sigma_nsq : float
        The visual noise variance :math:`\sigma_N^2`.
    eps : float
        The threshold below which a variance counts as zero.

    Returns
    -------
    float
        :math:`\sum_s \sum \log_{10}(1 + g^2 \sigma_1^2 / (\sigma_v^2 + \sigma_N^2)) \,/\,
        \sum_s \sum \log_{10}(1 + \sigma_1^2 / \sigma_N^2)`; 1.0 when the denominator is 0 (a constant reference:
        0 / 0, which the Evaluator maps to 1).

    Notes
    -----
    Four scales s = 1..4 with an N x N Gaussian window, N = 2^(5 - s) + 1 (17, 9, 5, 3), sigma N / 5. From the second
    scale on, both images are first filtered ('valid') with that scale's window and every second row and column kept.
    Local statistics by 'valid' filtering: means :math:`\mu`, variances :math:`\sigma_1^2` (ref), :math:`\sigma_2^2`
    (dist), covariance :math:`\sigma_{12}`; negative variances are set to 0; :math:`g = \sigma_{12} / (\sigma_1^2 +
    \epsilon)`, :math:`\sigma_v^2 = \sigma_2^2 - g \sigma_{12}`; then, in this order: where :math:`\sigma_1^2 <
    \epsilon`, g = 0, :math:`\sigma_v^2 = \sigma_2^2` and :math:`\sigma_1^2 = 0`; where :math:`\sigma_2^2 < \epsilon`,
    g = 0 and :math:`\sigma_v^2 = 0`; where g < 0, :math:`\sigma_v^2 = \sigma_2^2` and g = 0; finally
    :math:`\sigma_v^2 \le \epsilon` becomes :math:`\epsilon`.

    Examples
    --------
    >>> ramp = np.add.outer(np.arange(48.0), 2 * np.arange(48.0))
    >>> round(vifp(ramp, ramp), 9)  # a perfect copy; eps keeps it a hair below 1
    1.0
    >>> vifp(ramp, np.full_like(ramp, 100.0))  # nothing of ref survives
    0.0
    """
    ref = np.asarray(ref, dtype=np.float64)
    dist = np.asarray(dist, dtype=np.float64)
    if ref.shape != dist.shape or ref.ndim != 2 or min(ref.shape) < VIFF_MIN_SIZE:
        raise ValueError(f"vifp needs two (H, W) images of one shape, at least {VIFF_MIN_SIZE} x {VIFF_MIN_SIZE}, got "
                         f"{ref.shape} and {dist.shape}")
    return _vifp_terms(_vifp_reference(ref, sigma_nsq, eps), _vifp_side(dist), sigma_nsq, eps)


def _vifp_side(img: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per scale, what :func:`vifp` computes from one image alone: the image at that scale, its local means and its
    local variances (negative ones set to 0)."""
    out = []
    for scale in range(1, 5):
        taps = _taps(2 ** (5 - scale) + 1)
        if scale > 1:
            img = _valid(img, taps)[::2, ::2]
        mu = _valid(img, taps)
        out.append((img, mu, np.maximum(_valid(img * img, taps) - mu * mu, 0.0)))
    return out


def _vifp_reference(ref: np.ndarray, sigma_nsq: float, eps: float) -> tuple[tuple, ...]:
    """:func:`_vifp_side` of the reference with, per scale, the mask of its flat windows, its variances zeroed there
    and the denominator term (which depends on the reference alone)."""
    out = []
    for img, mu, s1 in _vifp_side(ref):
        flat1 = s1 < eps
        s1_zeroed = s1.copy()
        s1_zeroed[flat1] = 0.0
        out.append((img, mu, s1, flat1, s1_zeroed, np.sum(np.log10(1.0 + s1_zeroed / sigma_nsq))))
    return tuple(out)


@source_memo
def _vifp_source(image: np.ndarray, sigma_nsq: float, eps: float) -> tuple[tuple, ...]:
    """:func:`_vifp_reference` of a uint8 source (read as float64), memoised on the image."""
    return _vifp_reference(image.astype(np.float64), sigma_nsq, eps)


def _vifp_terms(ref: tuple[tuple, ...], dist: list[tuple], sigma_nsq: float, eps: float) -> float:
    """VIF from the two sides (:func:`_vifp_reference`, :func:`_vifp_side`): the same operations, in the same order,
    as computing everything for the pair at once."""
    num = den = 0.0
    for scale, (ref_terms, (d, mu2, s2)) in enumerate(zip(ref, dist, strict=True), start=1):
        r, mu1, s1, flat1, s1_zeroed, den_scale = ref_terms
        taps = _taps(2 ** (5 - scale) + 1)
        s12 = _valid(r * d, taps) - mu1 * mu2
        g = s12 / (s1 + eps)
        sv = s2 - g * s12
        g[flat1], sv[flat1] = 0.0, s2[flat1]
        flat2 = s2 < eps
        g[flat2], sv[flat2] = 0.0, 0.0
        neg = g < 0
        sv[neg], g[neg] = s2[neg], 0.0
        sv[sv <= eps] = eps
        num += np.sum(np.log10(1.0 + g * g * s1_zeroed / (sv + sigma_nsq)))
        den += den_scale
    return 1.0 if den == 0 else float(num / den)


def viff(fused, ir, vi) -> float:
    r"""VIFF, higher is better: :func:`vifp` (IR, F) + :func:`vifp` (VI, F), a sum in [0, 2] for usual images
    (``Evaluator.VIFF(F, A, B)``; the name is CDDFuse's, the quantity is not Han et al.'s VIFF)."""
    f, a, b = read_triplet(fused, ir, vi)
    if min(f.shape) < VIFF_MIN_SIZE:
        vifp(a, f)  # the size error
    fused_side = _vifp_side(f.astype(np.float64))
    return (_vifp_terms(_vifp_source(a, 2.0, 1e-10), fused_side, 2.0, 1e-10)
            + _vifp_terms(_vifp_source(b, 2.0, 1e-10), fused_side, 2.0, 1e-10))


# --- Qabf -----------------------------------------------------------------------------------------------------------


def qabf(fused, ir, vi) -> float:
    r"""Xydeas-Petrovic edge transfer :math:`Q^{AB/F}` on [0, 255] with R. Hong's slip, higher is better
    (``Evaluator.Qabf(F, A, B)``).

    ``llrr.metrics.qabf.qabf(F, IR, VI, scale=255, hong_quirk=True)``: zero-padded Sobel responses, angles
    :math:`\arctan(s_y / s_x)` (:math:`\pi / 2` where :math:`s_x = 0`, differences not folded), and
    :math:`G^{SF} = g_F` instead of 1 where :math:`g_S = g_F` (0 where both are 0; on an exactly copied edge the
    strength itself, far above 1, which saturates the sigmoid). ``nan`` when neither source has a gradient.

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8); img[:, 3:] = 200
    >>> round(qabf(img, img, img), 5)  # copied edges: 0.97479 without the slip
    0.97533
    """
    return _qabf(*read_triplet(fused, ir, vi), scale=255.0, hong_quirk=True)


# --- SSIM -----------------------------------------------------------------------------------------------------------


def _ssim_side(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's share of :func:`structural_similarity_019` (7 x 7 uniform window): the image, its local mean and
    local mean of squares."""
    return x, uniform_filter(x, size=7), uniform_filter(x * x, size=7)


def _ssim_pair(sx: tuple, sy: tuple, data_range: float) -> float:
    (x, mx, mxx), (y, my, myy) = sx, sy
    cov_norm = 49 / 48
    mxy = uniform_filter(x * y, size=7)
    vx = cov_norm * (mxx - mx * mx)
    vy = cov_norm * (myy - my * my)
    vxy = cov_norm * (mxy - mx * my)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num_l, num_s = 2 * mx * my + c1, 2 * vxy + c2
    den_l, den_s = mx**2 + my**2 + c1, vx + vy + c2
    s = (num_l * num_s) / (den_l * den_s)
    return float(s[3:-3, 3:-3].mean(dtype=np.float64))


@source_memo
def _ssim_source(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_ssim_side` of a uint8 source as CDDFuse's float32 image, memoised on the image."""
    return _ssim_side(image.astype(np.float32))


def structural_similarity_019(x: np.ndarray, y: np.ndarray, *, data_range: float | None = None) -> float:
    r"""scikit-image 0.19's ``structural_similarity(x, y)`` of two 2-D images with its defaults.

    Parameters
    ----------
    x, y : ndarray of shape (H, W)
        H and W at least 7. float32 is kept as float32 (all arithmetic in float32, as 0.19 does), any other type
        is computed in float64.
    data_range : float, optional
        L in the constants. None: 0.19's rule, the span of ``x``'s type in ``skimage.util.dtype_range``: **2.0** for
        float images (their range is taken as [-1, 1]), 255 for uint8, and the integer range for other integers.

    Returns
    -------
    float

    Notes
    -----
    With a 7 x 7 uniform window (``scipy.ndimage.uniform_filter``, reflected borders): means :math:`\mu`, sample
    (co)variances (``use_sample_covariance=True``: the window's moments times 49 / 48),
    :math:`C_1 = (0.01 L)^2`, :math:`C_2 = (0.03 L)^2`,

    .. math:: S = \frac{(2 \mu_x \mu_y + C_1)(2 \sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)
                                                                    (\sigma_x^2 + \sigma_y^2 + C_2)}

    and the mean of S over the pixels at least 3 from the border (float64 mean). With L = 2 on [0, 255] images the
    constants are 4e-4 and 3.6e-3, so the map is close to the bare structure term and a flat window's value rests on
    float32 rounding of :math:`\sigma^2 \approx 0` (on the tno21 pairs float32 and float64 differ by up to 1e-5).

    Examples
    --------
    >>> x = np.add.outer(np.arange(9.0), np.arange(9.0) ** 2)
    >>> structural_similarity_019(x, x)
    1.0
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.ndim != 2 or min(x.shape) < 7:
        raise ValueError(f"structural_similarity_019 needs two (H, W) images of one shape, at least 7 x 7, got "
                         f"{x.shape} and {y.shape}")
    if data_range is None:
        if x.dtype.kind == "f":
            data_range = 2.0
        elif x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            data_range = float(info.max) - float(info.min)
        else:
            raise TypeError(f"structural_similarity_019 needs numeric images, got dtype {x.dtype}")
    work = np.float32 if x.dtype in (np.float16, np.float32) else np.float64
    x, y = x.astype(work, copy=False), y.astype(work, copy=False)
    return _ssim_pair(_ssim_side(x), _ssim_side(y), data_range)


def ssim(fused, ir, vi) -> float:
    r"""SSIM, higher is better: :func:`structural_similarity_019` (F, IR) + (F, VI) on the float32 images, hence
    with data range 2, a **sum** in [-2, 2] (``Evaluator.SSIM(F, A, B)``). Needs at least 7 x 7 pixels."""
    f, a, b = read_triplet(fused, ir, vi)
    if min(f.shape) < 7:
        structural_similarity_019(f, a)  # the size error
    fused_side = _ssim_side(f.astype(np.float32))
    return _ssim_pair(fused_side, _ssim_source(a), 2.0) + _ssim_pair(fused_side, _ssim_source(b), 2.0)
