"""The metrics of the LRRNet paper with Hui Li's semantics ("paper" profile; ../shared/specs/fusion-metrics.md).

* ``en``: 256-bin histogram entropy of the 8-bit fused image, in bits.
* ``sd_paper``: ``sqrt(sum((F - mean F)^2))`` on the [0, 1] image, NOT divided by the number of pixels (so it grows
  with the image size): Li's ``analysis_sd``.
* ``mi_paper``: exactly ``2 * en``: Li's ``analysis_MI`` feeds whole images where column vectors are expected and its
  joint-entropy terms vanish (spec section 0). Reported because the paper's tables use it; it is not a mutual
  information.
* ``ssim_a``: ``(ssim(F, IR) + ssim(F, VI)) / 2`` with MATLAB's ``ssim`` on [0, 1] images: an 11 x 11 Gaussian window
  (sigma 1.5) applied with replicated borders, C1 = 0.01^2, C2 = 0.03^2, the mean over the whole map.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from ._common import source_memo

__all__ = ["en", "sd_paper", "mi_paper", "ssim_matlab", "ssim_a"]


def en(fused: np.ndarray) -> float:
    """Entropy of the 8-bit image's 256-bin histogram, log base 2 (zero bins dropped)."""
    counts = np.bincount(fused.ravel(), minlength=256).astype(np.float64)
    p = counts[counts > 0] / fused.size
    return float(-(p * np.log2(p)).sum())


def sd_paper(fused: np.ndarray) -> float:
    """Li's SD: ``sqrt(sum((F - mean)^2))`` with F in [0, 1], no division by N."""
    f = fused.astype(np.float64) / 255.0
    return float(np.sqrt(np.sum((f - f.mean()) ** 2)))


def mi_paper(fused: np.ndarray) -> float:
    """Li's MI, which is ``2 * en(fused)`` exactly (see the module docstring)."""
    return 2.0 * en(fused)


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    The 2-D window is the outer product of these taps. MATLAB zeroes taps below eps * max; for size 11 and sigma 1.5
    the smallest 2-D tap is exp(-100/9) ~ 1.5e-5, so none is zeroed and the factorisation is exact.
    """
    r = (size - 1) / 2.0
    x = np.arange(-r, r + 1)
    h = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return h / h.sum()


def _filter(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``imfilter(img, w, 'replicate')`` for the separable Gaussian ``w``: two 1-D passes with replicated borders."""
    return correlate1d(correlate1d(img, taps, axis=0, mode="nearest"), taps, axis=1, mode="nearest")


def _ssim_map_mean(a: np.ndarray, b: np.ndarray, fa: tuple[np.ndarray, np.ndarray] | None = None,
                   fb: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    taps = _gaussian_taps()
    mu_a, s_aa = fa if fa is not None else _moments(a, taps)
    mu_b, s_bb = fb if fb is not None else _moments(b, taps)
    s_ab = _filter(a * b, taps) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (s_aa + s_bb + c2)
    return float(np.mean(num / den))


def _moments(a: np.ndarray, taps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = _filter(a, taps)
    return mu, _filter(a * a, taps) - mu * mu


@source_memo
def _source_moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A uint8 source on [0, 1] and its local Gaussian mean and variance, memoised on the image."""
    x = image.astype(np.float64) / 255.0
    return (x, *_moments(x, _gaussian_taps()))


def ssim_matlab(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB ``ssim(x, y)`` (R2014a+ defaults) for uint8 images read as [0, 1] doubles: mean of the SSIM map."""
    return _ssim_map_mean(x.astype(np.float64) / 255.0, y.astype(np.float64) / 255.0)


def ssim_a(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """Li's SSIM_a (the paper's SSIMm): ``(ssim(F, IR) + ssim(F, VI)) / 2``."""
    f = fused.astype(np.float64) / 255.0
    moments = _moments(f, _gaussian_taps())  # shared by the two terms
    total = 0
    for src in (ir, vi):
        x, mu, var = _source_moments(src)
        total += _ssim_map_mean(f, x, moments, (mu, var))
    return 0.5 * total
