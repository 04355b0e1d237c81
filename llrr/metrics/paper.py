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
from scipy.ndimage import correlate

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


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: taps below eps * max set to zero, normalised to sum 1."""
    r = (size - 1) / 2.0
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0
    return h / h.sum()


def ssim_matlab(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB ``ssim(x, y)`` (R2014a+ defaults) for uint8 images read as [0, 1] doubles: mean of the SSIM map."""
    a, b = x.astype(np.float64) / 255.0, y.astype(np.float64) / 255.0
    w = _gaussian_window()

    def filt(img):
        return correlate(img, w, mode="nearest")

    mu_a, mu_b = filt(a), filt(b)
    s_aa = filt(a * a) - mu_a * mu_a
    s_bb = filt(b * b) - mu_b * mu_b
    s_ab = filt(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (s_aa + s_bb + c2)
    return float(np.mean(num / den))


def ssim_a(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """Li's SSIM_a (the paper's SSIMm): ``(ssim(F, IR) + ssim(F, VI)) / 2``."""
    return 0.5 * (ssim_matlab(fused, ir) + ssim_matlab(fused, vi))
