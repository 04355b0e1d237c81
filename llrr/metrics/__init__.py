"""Image-fusion metrics with two profiles: "paper" (Hui Li's semantics, comparable with the LRRNet paper's tables)
and "standard" (conventional definitions). See ../shared/specs/fusion-metrics.md for every definition.

The paper profile has the six metrics of the paper (En, SD, MI, SSIM = Li's SSIM_a, VIF = Li's vifvec, Nabf); the
standard profile has the same six with conventional definitions plus the other widely reported ones.

>>> import numpy as np
>>> img = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
>>> round(compute(img, img, img, metrics=["En"])["En"], 6)
8.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import paper, simple, standard
from ._common import check_triplet
from .fmi import fmi
from .nabf import nabf
from .qabf import qabf
from .vif import vif

__all__ = ["Metric", "METRICS", "PROFILES", "list_metrics", "compute"]


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``func(fused, ir, vi) -> float`` on 8-bit images."""

    name: str
    func: Callable
    higher_is_better: bool
    description: str


def _f(fn):
    return lambda f, a, b: fn(f)


PROFILES: dict[str, dict[str, Metric]] = {
    "paper": {
        "En": Metric("En", _f(paper.en), True, "histogram entropy (bits)"),
        "SD": Metric("SD", _f(paper.sd_paper), True, "Li's SD: sqrt of the sum of squares on [0,1], no /N"),
        "MI": Metric("MI", _f(paper.mi_paper), True, "Li's MI, equal to 2 En"),
        "SSIM": Metric("SSIM", paper.ssim_a, True, "Li's SSIM_a: MATLAB ssim averaged over the two sources"),
        "VIF": Metric("VIF", lambda f, a, b: vif(f, a, b, scale=1.0), True,
                      "Li's VIFm: vifvec (wavelet-domain VIF) on [0,1] images, averaged over the two sources"),
        "Nabf": Metric("Nabf", lambda f, a, b: nabf(f, a, b, scale=1.0), False,
                       "Kumar's modified N_abf on [0,1] images (Li): uniform weights"),
    },
    "standard": {
        "En": Metric("En", _f(paper.en), True, "histogram entropy (bits)"),
        "SD": Metric("SD", _f(standard.sd), True, "population standard deviation on [0,255]"),
        "MI": Metric("MI", standard.mi, True, "I(IR;F) + I(VI;F), bits, joint histograms"),
        "SSIM": Metric("SSIM", paper.ssim_a, True, "MATLAB ssim averaged over the two sources"),
        "VIF": Metric("VIF", lambda f, a, b: vif(f, a, b, scale=255.0), True,
                      "vifvec (wavelet-domain VIF) on [0,255] images, averaged over the two sources"),
        "Nabf": Metric("Nabf", lambda f, a, b: nabf(f, a, b, scale=255.0), False,
                       "Kumar's modified N_abf on [0,255] images (gradient weights active)"),
        "Qabf": Metric("Qabf", qabf, True, "Xydeas-Petrovic Q^AB/F edge transfer on [0,255] (Sobel, weights g)"),
        "SF": Metric("SF", simple.sf, True, "spatial frequency sqrt(RF^2 + CF^2) of the fused image"),
        "AG": Metric("AG", simple.ag, True, "average gradient of the fused image"),
        "SCD": Metric("SCD", simple.scd, True, "sum of correlations of differences r(F-VI, IR) + r(F-IR, VI)"),
        "CC": Metric("CC", simple.cc, True, "mean correlation coefficient of F with each source"),
        "PSNR": Metric("PSNR", simple.psnr, True, "10 log10(255^2 / MSE), dB"),
        "MSE": Metric("MSE", simple.mse, False, "mean of MSE(F, IR) and MSE(F, VI) on [0,255]"),
        "FMI_pixel": Metric("FMI_pixel", lambda f, a, b: fmi(f, a, b, feature="none"), True,
                            "Haghighat's fast FMI on pixel intensities, 3x3 windows, averaged over the sources"),
        "FMI_edge": Metric("FMI_edge", lambda f, a, b: fmi(f, a, b, feature="edge"), True,
                           "fast FMI on MATLAB Sobel edge maps (what Li's bundle reports as FMI_pixel)"),
    },
}
METRICS = PROFILES["standard"]


def list_metrics(profile: str = "paper") -> list[str]:
    """Names of the metrics of a profile."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {list(PROFILES)}, got {profile!r}")
    return list(PROFILES[profile])


def compute(fused, ir, vi, *, profile: str = "paper", metrics: Iterable[str] | None = None) -> dict[str, float]:
    """Metrics of one fused image against its two sources.

    Parameters
    ----------
    fused, ir, vi : ndarray or path
        8-bit (or 16-bit, scaled to 8) grey images of one size; colour images are scored on their luminance.
    profile : {"paper", "standard"}
    metrics : iterable of str, optional
        A subset of :func:`list_metrics` (default: all of the profile).
    """
    names = list_metrics(profile) if metrics is None else list(metrics)
    table = PROFILES[profile]
    unknown = [m for m in names if m not in table]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} for profile {profile!r}; available: {list(table)}")
    f, a, b = check_triplet(fused, ir, vi)
    return {m: table[m].func(f, a, b) for m in names}
