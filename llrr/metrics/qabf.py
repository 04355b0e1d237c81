r"""Q^{AB/F}, Xydeas and Petrovic's edge-information transfer (spec sections 2.7 and 4).

For each image :math:`X`, Sobel responses with zero padding (MATLAB ``conv2(X, h, 'same')``;
``h_x = [-1 0 1; -2 0 2; -1 0 1]``, ``h_y = [1 2 1; 0 0 0; -1 -2 -1]``) give the edge strength
:math:`g_X = \sqrt{s_x^2 + s_y^2}` and orientation :math:`\alpha_X = \arctan(s_y / s_x)` (:math:`\pi/2` where
:math:`s_x = 0`). For a source :math:`A` and the fused image :math:`F`, pixel by pixel:

.. math::

    G^{AF} = \frac{\min(g_A, g_F)}{\max(g_A, g_F)} \ (1 \text{ where } g_A = g_F), \qquad
    A^{AF} = 1 - \frac{|\alpha_A - \alpha_F|}{\pi / 2},

    Q^{AF} = \frac{\Gamma_g}{1 + e^{k_g (G^{AF} - \sigma_g)}} \cdot \frac{\Gamma_a}{1 + e^{k_a (A^{AF} - \sigma_a)}}

with :math:`\Gamma_g = 0.9994, k_g = -15, \sigma_g = 0.5, \Gamma_a = 0.9879, k_a = -22, \sigma_a = 0.8`, and

.. math:: Q^{AB/F} = \frac{\sum (Q^{AF} g_A + Q^{BF} g_B)}{\sum (g_A + g_B)}

(weights :math:`g^L` with :math:`L = 1`). Orientation differences are not wrapped (as published: two nearly
vertical edges with :math:`\alpha` close to :math:`+\pi/2` and :math:`-\pi/2` count as opposed). A perfect
transfer scores :math:`\Gamma_g \Gamma_a / ((1 + e^{k_g/2})(1 + e^{0.2 k_a})) \approx 0.97479`, not 1: the
asymptotes :math:`\Gamma` are below 1, and at :math:`G = A = 1` the sigmoids have not reached them.

``hong_quirk=True`` reproduces ``analysis_Qabf.m`` (Richang Hong's 2007 code, in Hui Li's and Linfeng Tang's
bundles and their Python ports), which sets :math:`G^{AF} = g_F` instead of 1 where :math:`g_A = g_F`: an edge copied
exactly then scores as lost when :math:`g_F < 0.5` and slightly above a perfect transfer when it is strong. Li runs it
on [0, 1] images (``scale=1``), where most strengths are below 0.5 (a 10-grey-level step gives 0.16), so copied weak
edges count against the fused image. On [0, 255] images nearly every edge is strong and the quirk barely matters;
without it the score does not depend on ``scale``.

Gradients are computed exactly on the 8-bit integers and then scaled by ``scale / 255``, so equal strengths are
detected as equal (MATLAB, working on rounded [0, 1] values, can miss a few such ties).

References
----------
C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure", Electronics Letters 36(4), 2000.
"""

from __future__ import annotations

import numpy as np

from ._common import check_triplet, source_memo

__all__ = ["qabf"]

_TG, _KG, _DG = 0.9994, -15.0, 0.5
_TA, _KA, _DA = 0.9879, -22.0, 0.8


def _strength_orientation(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``(g, alpha)`` from the zero-padded Sobel responses ``conv2(., h, 'same')``, computed on the integers."""
    x = np.pad(image.astype(np.int64), 1)
    col = x[:, :-2] - x[:, 2:]  # conv2 flips h_x: left minus right
    sx = col[:-2] + 2 * col[1:-1] + col[2:]
    row = x[2:] - x[:-2]  # and h_y: lower minus upper
    sy = row[:, :-2] + 2 * row[:, 1:-1] + row[:, 2:]
    g = np.sqrt((sx * sx + sy * sy).astype(np.float64)) * (scale / 255.0)  # equal strengths stay exactly equal
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(sx == 0, np.pi / 2, np.arctan(sy / sx))
    return g, alpha


_source_strength_orientation = source_memo(_strength_orientation)


def _transfer(g_s, a_s, g_f, a_f, hong_quirk: bool) -> np.ndarray:
    """Pixel-wise ``Q^{SF}`` of a source ``S`` in the fused image (in place on two work arrays: the same operations,
    in the same order, as the formula in the module docstring)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q_g = np.minimum(g_s, g_f)
        q_g /= np.maximum(g_s, g_f)  # G: the smaller strength over the larger
    equal = g_s == g_f
    q_g[equal] = g_f[equal] if hong_quirk else 1.0
    q_g -= _DG
    q_g *= _KG
    np.exp(q_g, out=q_g)
    q_g += 1.0
    np.divide(_TG, q_g, out=q_g)  # Gamma_g / (1 + exp(k_g (G - sigma_g)))
    q_a = np.subtract(a_s, a_f)
    np.abs(q_a, out=q_a)
    q_a /= np.pi / 2
    np.subtract(1.0, q_a, out=q_a)  # A = 1 - |alpha_S - alpha_F| / (pi / 2)
    q_a -= _DA
    q_a *= _KA
    np.exp(q_a, out=q_a)
    q_a += 1.0
    np.divide(_TA, q_a, out=q_a)
    q_g *= q_a
    return q_g


def qabf(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, scale: float = 255.0, hong_quirk: bool = False) -> float:
    r"""Xydeas-Petrovic :math:`Q^{AB/F}` of a fused image against its two sources (higher is better).

    Parameters
    ----------
    fused, ir, vi : ndarray of shape (H, W), uint8
    scale : float
        The images are scored on [0, ``scale``]: 255 (default) is the conventional use, 1 is Li's call on
        ``im2double`` images. Matters only with ``hong_quirk``.
    hong_quirk : bool
        Reproduce ``analysis_Qabf.m``: :math:`G^{AF} = g_F` (not 1) where :math:`g_A = g_F`. ``scale=1,
        hong_quirk=True`` is the value in Li's and Tang's tables; the default is the published formula.

    Returns
    -------
    float
        In [0, 0.97479] (see the module docstring; below 0.97533 with ``hong_quirk``); nan when neither source has
        any gradient (both all black: with zero padding any other image has border gradients), as there is no edge
        information to transfer.

    Examples
    --------
    >>> img = np.zeros((5, 5), np.uint8)
    >>> img[:, 2:] = 200
    >>> round(qabf(img, img, img), 5)  # the best possible score
    0.97479
    """
    f, a, b = check_triplet(fused, ir, vi)
    if not (isinstance(scale, (int, float, np.floating, np.integer)) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    g_f, a_f = _strength_orientation(f, float(scale))
    g_a, a_a = _source_strength_orientation(a, float(scale))
    g_b, a_b = _source_strength_orientation(b, float(scale))
    den = float(np.sum(g_a + g_b))
    if den == 0.0:
        return float("nan")
    num = np.sum(_transfer(g_a, a_a, g_f, a_f, hong_quirk) * g_a + _transfer(g_b, a_b, g_f, a_f, hong_quirk) * g_b)
    return float(num / den)
