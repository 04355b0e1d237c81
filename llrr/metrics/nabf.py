"""Nabf, the rate of fusion artifacts (Kumar's modified N_abf; spec section 2.6).

Gradients come from 3x3 Sobel kernels (divided by 8) on the image mirror-padded by one pixel (edge not repeated).
Each 3x3 sum is accumulated in MATLAB's order (each column top to bottom, then the three column sums left to right)
and ``g = sqrt(gh^2 + gv^2)``: the artifact mask compares gradient magnitudes with a strict ``>``, near-ties are common,
and any other order changes Li's published values by tens of percent.

* "paper" (``scale=1``): Li's call on [0, 1] images. There every magnitude is below the edge threshold Td = 2, so all
  weights are ``wt_min`` and the score is ``sum(na * (2 - Q_AF - Q_BF)) / (2 H W)``.
* "standard" (``scale=255``): Kumar's intended use on [0, 255] images, where the weights ``g^1.5`` are active.
"""

from __future__ import annotations

import numpy as np

from ._common import source_memo

__all__ = ["nabf", "sobel_matlab"]

_TD, _WT_MIN, _LG = 2.0, 0.001, 1.5
_NRG, _KG, _SG = 0.9999, 19.0, 0.5
_NRA, _KA, _SA = 0.9995, 22.0, 0.5
_KV = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64) / 8
_KH = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64) / 8


def _window_sum(xp: np.ndarray, k: np.ndarray, h: int, w: int) -> np.ndarray:
    """``sum(sum(win .* k))`` for every 3x3 window, in MATLAB's summation order."""
    total = None
    for c in range(3):
        col = None
        for r in range(3):
            term = xp[r : r + h, c : c + w] * k[r, c]
            col = term if col is None else col + term
        total = col if total is None else total + col
    return total


def sobel_matlab(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gv, gh)``: horizontal and vertical derivatives as Li's ``sobel_fn`` computes them."""
    h, w = x.shape
    xp = np.pad(x, 1, mode="reflect")
    return _window_sum(xp, _KV, h, w), _window_sum(xp, _KH, h, w)


def _magnitude_angle(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gv, gh = sobel_matlab(x)
    g = np.sqrt(gh**2 + gv**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arctan(gv / gh)  # atan, not atan2: gh = 0 gives +-pi/2
    a[(gv == 0) & (gh == 0)] = 0.0
    return g, a


@source_memo
def _source_gradients(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_magnitude_angle` of a uint8 source read on [0, scale], memoised on the image."""
    return _magnitude_angle(image.astype(np.float64) / 255.0 * scale)


def _q(g_s, a_s, g_f, a_f) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(g_s, g_f) / np.maximum(g_s, g_f)
    ratio[(g_s == 0) | (g_f == 0)] = 0.0
    angle = np.abs(np.abs(a_s - a_f) - np.pi / 2) * 2 / np.pi
    qg = _NRG / (1 + np.exp(-_KG * (ratio - _SG)))
    qa = _NRA / (1 + np.exp(-_KA * (angle - _SA)))
    return np.sqrt(qg * qa)


def nabf(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, scale: float = 1.0) -> float:
    """Nabf of 8-bit images read on ``[0, scale]`` (1: Li's "paper" semantics; 255: the conventional use)."""
    g_f, a_f = _magnitude_angle(fused.astype(np.float64) / 255.0 * scale)
    g_a, a_a = _source_gradients(ir, float(scale))
    g_b, a_b = _source_gradients(vi, float(scale))
    q_af, q_bf = _q(g_a, a_a, g_f, a_f), _q(g_b, a_b, g_f, a_f)
    w_a = np.where(g_a >= _TD, g_a**_LG, _WT_MIN)
    w_b = np.where(g_b >= _TD, g_b**_LG, _WT_MIN)
    na = (g_f > g_a) & (g_f > g_b)
    num = np.where(na, (1 - q_af) * w_a + (1 - q_bf) * w_b, 0.0)
    # MATLAB's sum(sum(.)): column sums, then their sum
    return float(num.sum(axis=0).sum() / (w_a + w_b).sum(axis=0).sum())
