"""Image-fusion metrics with four profiles: "paper" (Hui Li's semantics, comparable with the LRRNet paper's tables),
"standard" (conventional definitions), "vifb" (the VIFB benchmark's 13 metrics as its MATLAB code computes them) and
"cddfuse" (the 8 metrics of CDDFuse's Python ``Evaluator`` as it computes them). See ../shared/specs/fusion-metrics.md
and docs/metrics.md for every definition.

The paper profile has the six metrics of the paper (En, SD, MI, SSIM = Li's SSIM_a, VIF = Li's vifvec, Nabf); the
standard profile has the same six with conventional definitions plus the other widely reported ones. Those two score
grey images (colour is reduced to its luminance); the vifb profile scores the images with their channels, as VIFB
does (:mod:`llrr.metrics.vifb`); the cddfuse profile scores grey images read as CDDFuse reads them, colour reduced
by OpenCV's float32 BT.601 conversion (:mod:`llrr.metrics.cddfuse`).

>>> import numpy as np
>>> img = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
>>> round(compute(img, img, img, metrics=["En"])["En"], 6)
8.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import cddfuse, cddfuse_quality, paper, simple, standard, vifb, vifb_quality
from ._common import check_channels, check_triplet, clear_caches
from .fmi import fmi
from .nabf import nabf
from .qabf import qabf
from .vif import vif

__all__ = ["Metric", "METRICS", "PROFILES", "NAN_SKIPPING_PROFILES", "list_metrics", "compute", "clear_caches"]


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``func(fused, ir, vi) -> float`` on 8-bit images.

    ``colour=False``: the images reach ``func`` as grey uint8 (H, W) arrays (colour reduced to its luminance);
    ``colour=True``: with their channels, uint8 (H, W) or (H, W, 3), as read (the vifb profile).
    ``read``, where given, replaces both: the function that turns the three inputs (arrays or paths) into what
    ``func`` receives (the cddfuse profile's grey, :func:`llrr.metrics.cddfuse.read_triplet`).
    """

    name: str
    func: Callable
    higher_is_better: bool
    description: str
    colour: bool = False
    read: Callable | None = None

    @property
    def reader(self) -> Callable:
        """The function that reads the three images for ``func``."""
        if self.read is not None:
            return self.read
        return check_channels if self.colour else check_triplet


def _f(fn):
    return lambda f, a, b: fn(f)


def _cdd(name: str, fn: Callable, description: str) -> Metric:
    """A cddfuse-profile metric (all eight are higher-is-better, on grey read as CDDFuse reads it)."""
    return Metric(name, fn, True, description, read=cddfuse.read_triplet)


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
    "vifb": {m.name: m for m in (
        Metric("Cross_entropy", vifb.cross_entropy, False,
               "mean over the sources of the relative entropy of the histograms, bits", colour=True),
        Metric("Entropy", vifb.entropy, True, "histogram entropy of each channel, bits", colour=True),
        Metric("Mutinf", vifb.mutinf, True, "I(VI;F) + I(IR;F) in nats, images min-max stretched", colour=True),
        Metric("Psnr", vifb.psnr, True, "20 log10(255 / sqrt(Rmse)), dB", colour=True),
        Metric("Avg_gradient", vifb.avg_gradient, True, "average gradient of the fused image", colour=True),
        Metric("Edge_intensity", vifb.edge_intensity, True, "mean Sobel magnitude (replicated borders)", colour=True),
        Metric("Qabf", vifb_quality.qabf, True, "Q^AB/F on 255 x [0, 255] images, Hong's quirk", colour=True),
        Metric("Variance", vifb.variance, True, "standard deviation of the fused image (VIFB's name)", colour=True),
        Metric("Spatial_frequency", vifb.spatial_frequency, True,
               "sqrt(RF + CF), channels side by side, sums over H W'", colour=True),
        Metric("Rmse", vifb.rmse, False, "mean over the sources of sqrt(sum (S - F)^2) / (H W)", colour=True),
        Metric("Ssim", vifb_quality.ssim, True, "Wang's ssim_index ('valid' window) summed over the sources",
               colour=True),
        Metric("Qcb", vifb_quality.qcb, True, "Chen-Blum contrast preservation (Z. Liu's code)", colour=True),
        Metric("Qcv", vifb_quality.qcv, False, "Chen-Varshney CSF-filtered regional distance", colour=True),
    )},
    "cddfuse": {m.name: m for m in (
        _cdd("EN", cddfuse.en, "histogram entropy of F, bits"),
        _cdd("SD", cddfuse.sd, "np.std of F (population, /N) on [0, 255], float32"),
        _cdd("SF", cddfuse.sf, "sqrt(mean dx^2 + mean dy^2) of F"),
        _cdd("MI", cddfuse.mi, "I(F;IR) + I(F;VI) in nats (scikit-learn's mutual_info_score)"),
        _cdd("SCD", cddfuse.scd, "r(IR, F - VI) + r(VI, F - IR), nan where 0 / 0"),
        _cdd("VIFF", cddfuse_quality.viff, "pixel-domain VIF (vifp_mscale, sigma_n^2 = 2) summed over the sources"),
        _cdd("Qabf", cddfuse_quality.qabf, "Q^AB/F on [0, 255] in float32, Hong's G = g_F where g_S = g_F"),
        _cdd("SSIM", cddfuse_quality.ssim, "skimage 0.19 SSIM (7x7 uniform, data range 2) summed over the sources"),
    )},
}
METRICS = PROFILES["standard"]
NAN_SKIPPING_PROFILES = frozenset({"vifb"})
"""Profiles whose means over images skip NaN scores, as their toolkit does (VIFB's ``compute_metrics.m`` averages
the per-pair values with ``nanmean``); the other profiles' means are NaN when any image's score is."""


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
        8-bit (or 16-bit, scaled to 8) images of one size. The paper and standard profiles score colour images on
        their luminance; the vifb profile scores each as it is, grey (H, W) or colour (H, W, 3), channel by channel
        as VIFB does (files are read as MATLAB's ``imread`` reads them, :func:`llrr.metrics.vifb.imread_vifb`); the
        cddfuse profile reads them as CDDFuse's ``image_read_cv2(path, 'GRAY')`` does
        (:func:`llrr.metrics.cddfuse.read_triplet`).
    profile : {"paper", "standard", "vifb", "cddfuse"}
    metrics : iterable of str, optional
        A subset of :func:`list_metrics` (default: all of the profile).
    """
    names = list_metrics(profile) if metrics is None else list(metrics)
    table = PROFILES[profile]
    unknown = [m for m in names if m not in table]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} for profile {profile!r}; available: {list(table)}")
    read: dict[Callable, tuple] = {}
    for m in names:  # each reader once, in the order the metrics need them
        if table[m].reader not in read:
            read[table[m].reader] = table[m].reader(fused, ir, vi)
    return {m: table[m].func(*read[table[m].reader]) for m in names}
