r"""VIFB's four structural and perceptual metrics: Qabf, Ssim, Qcb and Qcv ("vifb" profile).

The channel rule, the reading and the other nine metrics are in :mod:`llrr.metrics.vifb`; A = VI and B = IR of
one channel, F the fused channel, as VIFB's ``metrics<Name>(VI, IR, F)``.

* Qabf ↑: Xydeas and Petrovic's :math:`Q^{AB/F}` (:mod:`llrr.metrics.qabf`) on **255 x** the [0, 255] images
  (VIFB multiplies by 255 again), Sobel responses of ``conv2(., h, 'same')`` (zero padding), with R. Hong's
  :math:`G^{AF} = g_F` where :math:`g_A = g_F` (``hong_quirk``): on that scale an exactly copied edge saturates the
  strength sigmoid.
* Ssim ↑: Wang's ``ssim_index`` on [0, 255] (11 x 11 Gaussian window, sigma 1.5, 'valid' filtering, so no padding;
  :math:`C_1 = (0.01 \cdot 255)^2`, :math:`C_2 = (0.03 \cdot 255)^2`), **summed** over the two sources: in [-2, 2].
* Qcb ↑: Chen and Blum's metric as Z. Liu's ``metricChenBlum.m`` computes it: each image min-max stretched to [0, 255]
  and rounded (``normalize1``); filtered in the frequency domain by the difference of Gaussians
  :math:`S(r) = e^{-(r / 15.3870)^2} - 0.7622\, e^{-(r / 1.3456)^2}` with :math:`r` from ``freqspace`` scaled by
  (W / 30, H / 30); local contrast :math:`C = |(G_2 * I) / (G_4 * I) - 1|` with unnormalised 31 x 31 Gaussians
  (sigma 2 and 4, zero padding), :math:`C' = C^3 / (C^2 + 10^{-4})`; the preservation
  :math:`Q_{SF} = \min(C'_S, C'_F) / \max(C'_S, C'_F)` weighted by the saliencies :math:`C'^2_A / (C'^2_A + C'^2_B)`
  and :math:`C'^2_B / (\cdot)`, averaged over the image.
* Qcv ↓: Chen and Varshney's metric as ``metricChen.m`` computes it: images stretched as in Qcb; saliency of each
  16 x 16 block (blocks at the right and bottom padded with zeros) :math:`\lambda = \sum g^5`, g the Sobel magnitude
  (``filter2``, zero padding) of the source; :math:`D = ` the block mean of :math:`((S - F) * \theta)^2`, the
  difference filtered by Mannos-Sakrison's CSF :math:`\theta(r) = 2.6 (0.0192 + 0.144 r) e^{-(0.144 r)^{1.1}}` with
  :math:`r` from ``freqspace`` scaled by (W / 8, H / 8); :math:`Q = \sum (\lambda_A D_A + \lambda_B D_B) /
  \sum (\lambda_A + \lambda_B)`, a weighted distance (0 for F = A = B).

The frequency-domain filters use the real FFT (the filters are real and even, so ``ifft2`` of the product is real,
as VIFB's is up to rounding); Qcb's 31 x 31 Gaussians are applied by zero-padded FFT convolution. Both differ from
MATLAB's direct sums only by rounding.

Where VIFB's code fails (a grey fused image with colour sources: Qcb and Qcv would pass an (H, W, 3) source to
``filter2``), the source is converted by ``rgb2gray`` as its other metrics do, and the result is documented as an
extension, not VIFB's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import correlate1d

from ._common import check_channels
from .paper import _gaussian_taps
from .qabf import _transfer
from .vifb import per_channel, rgb2gray, round_half_away, source_memo

__all__ = ["qabf", "ssim", "qcb", "qcv"]


# --- Qabf -----------------------------------------------------------------------------------------------------------


def _conv2_sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``conv2(x, [-1 0 1; -2 0 2; -1 0 1], 'same')`` and ``conv2(x, [1 2 1; 0 0 0; -1 -2 -1], 'same')``."""
    p = np.pad(x, 1)
    col = p[:, :-2] - p[:, 2:]  # conv2 flips the kernel: left minus right
    sx = col[:-2] + 2 * col[1:-1] + col[2:]
    row = p[2:] - p[:-2]  # lower minus upper
    sy = row[:, :-2] + 2 * row[:, 1:-1] + row[:, 2:]
    return sx, sy


def _strength_orientation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = _conv2_sobel(x)
    g = np.sqrt(sx * sx + sy * sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(sx == 0, np.pi / 2, np.arctan(sy / sx))
    return g, alpha


@source_memo
def _qabf_source(src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _strength_orientation(255.0 * rgb2gray(src, uint8=False).astype(np.float64))


def _qabf_1(vi, ir, f) -> float:
    g_f, a_f = _strength_orientation(255.0 * f.astype(np.float64))
    (g_a, a_a), (g_b, a_b) = _qabf_source(vi), _qabf_source(ir)
    den = np.sum(g_a + g_b)
    if den == 0.0:
        return float("nan")
    num = np.sum(_transfer(g_a, a_a, g_f, a_f, True) * g_a + _transfer(g_b, a_b, g_f, a_f, True) * g_b)
    return float(num / den)


def qabf(fused, ir, vi) -> float:
    r"""VIFB's Qabf (higher is better): :math:`Q^{AB/F}` on 255 x the 8-bit values with Hong's quirk; see the
    module docstring and :func:`llrr.metrics.qabf.qabf`. ``nan`` when neither source has any gradient.

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8)
    >>> img[:, 2:] = 200
    >>> round(qabf(img, img, img), 6)  # every edge copied: G = g_F (huge), A = 1
    0.975333
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_qabf_1, f, a, b)


# --- Ssim -----------------------------------------------------------------------------------------------------------

_SSIM_C1, _SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``filter2(w, x, 'valid')`` for the separable window ``w = taps taps^T``."""
    r = len(taps) // 2
    return correlate1d(correlate1d(x, taps, axis=0, mode="constant")[r:-r], taps, axis=1, mode="constant")[:, r:-r]


def _moments(x: np.ndarray, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = _valid(x, taps)
    return mu, _valid(x * x, taps) - mu * mu


@source_memo
def _ssim_source(src: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = rgb2gray(src, uint8=True).astype(np.float64)
    return (s, *_moments(s, _gaussian_taps(11, 1.5)))


def _ssim_1(vi, ir, f) -> float:
    taps = _gaussian_taps(11, 1.5)
    f = f.astype(np.float64)
    mu_f, var_f = _moments(f, taps)
    mu_f2 = mu_f * mu_f
    total = 0.0
    for src in (vi, ir):
        s, mu_s, var_s = _ssim_source(src)
        # ((2 mu_s mu_f + C1)(2 sigma_sf + C2)) / ((mu_s^2 + mu_f^2 + C1)(sigma_s^2 + sigma_f^2 + C2)), in place,
        # in MATLAB's order of operations
        mu_sf = mu_s * mu_f
        cov = _valid(s * f, taps)
        cov -= mu_sf
        cov *= 2
        cov += _SSIM_C2
        num = np.multiply(mu_sf, 2, out=mu_sf)
        num += _SSIM_C1
        num *= cov
        den = np.multiply(mu_s, mu_s, out=cov)
        den += mu_f2
        den += _SSIM_C1
        spread = var_s + var_f
        spread += _SSIM_C2
        den *= spread
        num /= den
        total += float(np.mean(num))
    return total


def ssim(fused, ir, vi) -> float:
    r"""VIFB's Ssim (higher is better): ``ssim_index(VI, F) + ssim_index(IR, F)``, Wang's SSIM with an 11 x 11
    Gaussian window (sigma 1.5) over the 'valid' positions, on [0, 255]; at most 2. Needs 11 x 11 pixels.

    Examples
    --------
    >>> img = (np.arange(144).reshape(12, 12) % 7 * 30).astype(np.uint8)
    >>> ssim(img, img, img)
    2.0
    """
    f, a, b = check_channels(fused, ir, vi)
    if min(f.shape[:2]) < 11:
        raise ValueError(f"Ssim needs images of at least 11 x 11 pixels (its window), got shape {f.shape}")
    return per_channel(_ssim_1, f, a, b)


# --- shared by Qcb and Qcv: normalize1, freqspace, FFT filtering ----------------------------------------------------


def _normalize1(x: np.ndarray) -> np.ndarray:
    """Z. Liu's ``normalize1`` of a uint8 image: stretched by its min and max to [0, 255] and rounded half away from
    zero (a 256-entry table); an all-zero image is returned as it is; a constant non-zero one gives NaN (0 / 0)."""
    lo, hi = int(x.min()), int(x.max())
    if hi == 0:
        return x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lut = round_half_away((np.arange(256.0) - lo) / float(hi - lo) * 255)
    return lut[x]


def _freqspace_radius(shape: tuple[int, int], scale_w: float, scale_h: float) -> np.ndarray:
    """``r = sqrt(u^2 + v^2)`` of ``[u, v] = freqspace([H, W], 'meshgrid')`` with u scaled by ``scale_w`` and v by
    ``scale_h``."""
    h, w = shape
    fu = (np.arange(w) - w // 2) * (2.0 / w)
    fv = (np.arange(h) - h // 2) * (2.0 / h)
    u, v = np.meshgrid(scale_w * fu, scale_h * fv)
    return np.sqrt(u * u + v * v)


def _half_spectrum(centred_filter: np.ndarray) -> np.ndarray:
    """The real even filter ``ifftshift(S)``, on the half plane that ``rfft2`` gives."""
    return np.ascontiguousarray(np.fft.ifftshift(centred_filter)[:, : centred_filter.shape[1] // 2 + 1])


def _filter_freq(x: np.ndarray, half: np.ndarray) -> np.ndarray:
    """``real(ifft2(ifftshift(fftshift(fft2(x)) .* S)))`` with ``half = _half_spectrum(S)``."""
    return sfft.irfft2(sfft.rfft2(x) * half, s=x.shape)


@lru_cache(maxsize=32)
def _qcb_filters(shape: tuple[int, int]):
    h, w = shape
    r = _freqspace_radius(shape, w / 30, h / 30)
    dog = _half_spectrum(np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2)))
    padded = (sfft.next_fast_len(h + 15, real=True), sfft.next_fast_len(w + 15, real=True))
    y, x = np.meshgrid(np.arange(-15, 16), np.arange(-15, 16), indexing="ij")
    gauss = []
    for sigma in (2.0, 4.0):
        g = np.exp(-(x * x + y * y) / (2 * sigma * sigma)) / (2 * np.pi * sigma * sigma)
        k = np.zeros(padded)
        k[np.ix_(np.arange(-15, 16) % padded[0], np.arange(-15, 16) % padded[1])] = g  # centred on (0, 0)
        gauss.append(sfft.rfft2(k))
    return dog, padded, gauss[0], gauss[1]


def _contrast_power(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Qcb's :math:`C' = C^3 / (C^2 + Z)` of one stretched image: CSF filtering, then the local contrast."""
    dog, padded, g2, g4 = _qcb_filters(shape)
    y = _filter_freq(x, dog)
    spec = sfft.rfft2(y, s=padded)
    h, w = shape
    num = sfft.irfft2(spec * g2, s=padded)[:h, :w]  # filter2(G, y, 'same'): zero padding, kernel centred
    den = sfft.irfft2(spec * g4, s=padded)[:h, :w]
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.abs(num / den - 1.0)
    c2 = c * c
    return c2 * c / (c2 + 1e-4)  # C^3 / (C^2 + Z), products rather than pow (the same to an ulp, 20 x faster)


def _preservation(cs: np.ndarray, cf: np.ndarray) -> np.ndarray:
    """``(Cs ./ Cf) .* mask + (Cf ./ Cs) .* (1 - mask)`` with ``mask = Cs < Cf``: the smaller over the larger, and
    NaN wherever either is 0, as in MATLAB (the unused ratio is inf there, and inf * 0 is NaN)."""
    ratio = np.minimum(cs, cf)
    ratio /= np.maximum(cs, cf)
    ratio[(cs == 0) | (cf == 0)] = np.nan
    return ratio


@source_memo
def _qcb_source(src: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _contrast_power(_normalize1(rgb2gray(src, uint8=True)), src.shape[:2])


def _qcb_1(vi, ir, f) -> float:
    ca, cb = _qcb_source(vi), _qcb_source(ir)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cf = _contrast_power(_normalize1(f), f.shape)
        qa, qb = _preservation(ca, cf), _preservation(cb, cf)
        sa, sb = ca * ca, cb * cb
        q = (sa / (sa + sb)) * qa + (sb / (sa + sb)) * qb
    return float(np.mean(q))


def qcb(fused, ir, vi) -> float:
    r"""VIFB's Qcb, Chen and Blum's metric (higher is better, at most 1); see the module docstring. ``nan`` when an
    image is constant (``normalize1`` divides by zero) or the contrast vanishes somewhere (VIFB gives NaN there too).

    Examples
    --------
    >>> img = (np.add.outer(np.arange(32), np.arange(32)) % 9 * 25).astype(np.uint8)
    >>> round(qcb(img, img, img), 12)  # F equals both sources: every contrast preserved
    1.0
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_qcb_1, f, a, b)


# --- Qcv ------------------------------------------------------------------------------------------------------------

_BLOCK = 16


def _block_sums(x: np.ndarray) -> np.ndarray:
    """Sums over 16 x 16 blocks, the image padded with zeros at the right and bottom (``blkproc``)."""
    h, w = x.shape
    hb, wb = -(-h // _BLOCK), -(-w // _BLOCK)
    p = np.zeros((hb * _BLOCK, wb * _BLOCK))
    p[:h, :w] = x
    return p.reshape(hb, _BLOCK, wb, _BLOCK).sum(axis=(1, 3))


@lru_cache(maxsize=32)
def _qcv_filter(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    r = _freqspace_radius(shape, w / 8, h / 8)
    return _half_spectrum(2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1)))


@source_memo
def _qcv_source(src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saliency of each block, and the stretched source filtered by the CSF."""
    s = _normalize1(rgb2gray(src, uint8=True))
    sx, sy = _conv2_sobel(s)  # filter2 with the Sobel kernels: the same magnitudes
    g2 = sx * sx + sy * sy
    return _block_sums(g2 * g2 * np.sqrt(g2)), _filter_freq(s, _qcv_filter(s.shape))  # sum of g^5


def _qcv_1(vi, ir, f) -> float:
    filtered_f = _filter_freq(_normalize1(f), _qcv_filter(f.shape))
    num = den = 0.0
    for src in (vi, ir):
        saliency, filtered_s = _qcv_source(src)
        distance = _block_sums((filtered_s - filtered_f) ** 2) / _BLOCK**2  # the CSF is linear
        num = num + saliency * distance
        den = den + saliency
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum(num) / np.sum(den))


def qcv(fused, ir, vi) -> float:
    r"""VIFB's Qcv, Chen and Varshney's metric (**lower** is better, 0 when F equals both sources); see the module
    docstring. ``nan`` when an image is constant and not black, or when neither source has any gradient.

    Examples
    --------
    >>> img = (np.add.outer(np.arange(32), np.arange(32)) % 9 * 25).astype(np.uint8)
    >>> qcv(img, img, img)
    0.0
    """
    f, a, b = check_channels(fused, ir, vi)
    return per_channel(_qcv_1, f, a, b)
