r"""Visual information fidelity in the wavelet domain (Sheikh & Bovik's ``vifvec``), the paper's "VIFm".

Hui Li's evaluation averages ``vifvec(source, fused)`` over the two sources and runs it on [0, 1] images
(``scale=1``); ``vifvec``'s documented range is [0, 255] (``scale=255``). Only the noise variance
:math:`\sigma_n^2 = 0.4` is not scale-free, so the [0, 1] run equals a [0, 255] run with
:math:`\sigma_n^2 = 0.4 \cdot 255^2`.

Steps (../shared/specs/fusion-metrics.md, sections 0.1 and 2.5):

1. Steerable pyramid of each image: 4 levels, 6 orientations, the ``sp5Filters`` of matlabPyrTools, borders by
   reflection without repeating the edge (pyrtools' ``SteerablePyramidSpace(height=4, order=5,
   edge_type="reflect1")``). Subbands used: orientations 0 and 3 of every level.
2. Each subband is cropped to a multiple of :math:`M = 3`. Distortion channel, from local sums over a
   :math:`w \times w` window (:math:`w` = 17, 9, 5, 3 from the finest level to the coarsest) taken at the centre of
   every non-overlapping 3 x 3 block (mirror borders): :math:`g = \mathrm{cov}/(\mathrm{var}_x + 10^{-15})`,
   :math:`v = (\mathrm{var}_y - g\,\mathrm{cov})/w^2`, with LIVE's clamps.
3. Reference GSM: :math:`C_U` is the covariance (divided by the count) of every overlapping 3 x 3 block, the
   multiplier field :math:`s = y^T C_U^{-1} y / 9` on the non-overlapping blocks, :math:`\lambda = \mathrm{eig}(C_U)`.
4. :math:`\lceil (w-1)/6 \rceil` blocks are dropped at each border, then

   .. math:: \mathrm{VIF} = \frac{\sum \log_2(1 + g^2 s \lambda_j / (v + \sigma_n^2))}
                                 {\sum \log_2(1 + s \lambda_j / \sigma_n^2)}

   with both sums over all blocks, eigenvalues and subbands.

References
----------
H. R. Sheikh and A. C. Bovik, "Image information and visual quality", IEEE Trans. Image Processing 15(2), 2006.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

import numpy as np
from scipy.ndimage import uniform_filter1d

from ._common import source_memo

__all__ = ["MIN_SIZE", "vifvec", "vif"]

_M = 3
_SIGMA_NSQ = 0.4
_TOL = 1e-15
MIN_SIZE = 72
"""Smallest image side for the 4-level steerable pyramid (its 9-tap low-pass must fit the coarsest level)."""
# (pyramid level, orientation, window side): LIVE's subbands 4 7 | 10 13 | 16 19 | 22 25, coarsest level first
_SUBBANDS = [(3, 3, 3), (3, 0, 3), (2, 3, 5), (2, 0, 5), (1, 3, 9), (1, 0, 9), (0, 3, 17), (0, 0, 17)]


def _bands(image: np.ndarray) -> dict:
    """The subbands VIF uses, ``{(level, orientation): band}``, exactly as
    ``pyrtools.pyramids.SteerablePyramidSpace(image, height=4, order=5, edge_type="reflect1")`` computes them (its
    filters and correlation routine), without the high-pass residual and the four orientations VIF does not read."""
    from pyrtools.pyramids.c.wrapper import corrDn
    from pyrtools.pyramids.filters import parse_filter

    filters = parse_filter("sp5_filters", normalize=False)
    side = int(np.sqrt(filters["bfilts"].shape[0]))
    wanted = sorted({band for _, band, _ in _SUBBANDS})
    lo = corrDn(image=image, filt=filters["lo0filt"], edge_type="reflect1")
    out = {}
    for level in range(4):
        for band in wanted:
            filt = filters["bfilts"][:, band].reshape(side, side).T
            out[(level, band)] = np.asarray(corrDn(image=lo, filt=filt, edge_type="reflect1"))
        if level < 3:
            lo = corrDn(image=lo, filt=filters["lofilt"], edge_type="reflect1", step=(2, 2))
    return out


@lru_cache(maxsize=8)
def _cached_bands(data: bytes, shape: tuple[int, int]) -> MappingProxyType:
    bands = _bands(np.frombuffer(data, np.uint8).reshape(shape).astype(np.float64))
    for band in bands.values():
        band.flags.writeable = False  # kept for later calls: nobody may change them
    return MappingProxyType(bands)


def _pyramid(image: np.ndarray, scale: float) -> dict:
    """The subbands of the uint8 ``image`` read on [0, scale]. The transform is linear, so the bands of the [0, 255]
    image are computed once (and kept for the last few images, e.g. for both metric profiles) and scaled."""
    if min(image.shape) < MIN_SIZE:
        raise ValueError(f"VIF needs images of at least {MIN_SIZE} x {MIN_SIZE} pixels (a 4-level steerable "
                         f"pyramid), got shape {image.shape}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    bands = _cached_bands(np.ascontiguousarray(image, dtype=np.uint8).tobytes(), image.shape)
    factor = scale / 255.0
    return bands if factor == 1.0 else {k: v * factor for k, v in bands.items()}


def _as_image(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.uint8)


def _crop(band: np.ndarray) -> np.ndarray:
    h, w = (band.shape[0] // _M) * _M, (band.shape[1] // _M) * _M
    return band[:h, :w]


def _block_sums(a: np.ndarray, win: int) -> np.ndarray:
    """Sums over ``win x win`` windows (mirror borders) centred on the middle pixel of every 3 x 3 block.

    ``uniform_filter(a, win, mode="mirror")[1::3, 1::3] * win**2``, with the second pass run on the kept rows only
    (the passes are separable, so the values are the same to the bit)."""
    rows = uniform_filter1d(a, win, axis=0, mode="mirror")[1::_M]
    return uniform_filter1d(rows, win, axis=1, mode="mirror")[:, 1::_M] * (win * win)


def _clamped_gain(g, vv, ss_x, ss_y) -> tuple[np.ndarray, np.ndarray]:
    """LIVE's clamps on the gain ``g`` and the distortion variance ``vv`` (in place)."""
    flat_x = ss_x < _TOL
    g[flat_x] = 0.0
    vv[flat_x] = ss_y[flat_x]
    flat_y = ss_y < _TOL
    g[flat_y] = 0.0
    vv[flat_y] = 0.0
    neg = g < 0
    vv[neg] = ss_y[neg]
    g[neg] = 0.0
    vv[vv <= _TOL] = _TOL
    return g, vv


def _distortion_channel(x: np.ndarray, y: np.ndarray, win: int) -> tuple[np.ndarray, np.ndarray]:
    n = win * win
    mx, my = _block_sums(x, win) / n, _block_sums(y, win) / n
    cov = _block_sums(x * y, win) - n * mx * my
    ss_x = np.maximum(_block_sums(x * x, win) - n * mx * mx, 0.0)
    ss_y = np.maximum(_block_sums(y * y, win) - n * my * my, 0.0)
    g = cov / (ss_x + _TOL)
    vv = (ss_y - g * cov) / n
    return _clamped_gain(g, vv, ss_x, ss_y)


def _reference_gsm(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = x.shape
    offsets = [(k, j) for j in range(_M) for k in range(_M)]  # LIVE's order: column offset outer, row offset inner
    overlapping = np.empty((_M * _M, (h - _M + 1) * (w - _M + 1)))
    for i, (k, j) in enumerate(offsets):
        overlapping[i].reshape(h - _M + 1, w - _M + 1)[...] = x[k : h - (_M - 1 - k), j : w - (_M - 1 - j)]
    mean = overlapping.mean(axis=1, keepdims=True)
    cu = (overlapping @ overlapping.T) / overlapping.shape[1] - mean @ mean.T
    blocks = np.empty((_M * _M, (h // _M) * (w // _M)))
    for i, (k, j) in enumerate(offsets):
        blocks[i].reshape(h // _M, w // _M)[...] = x[k::_M, j::_M]
    try:
        solved = np.linalg.solve(cu, blocks)
    except np.linalg.LinAlgError:  # a flat or degenerate band: pseudo-inverse (LIVE's inv() would give Inf/NaN)
        solved = np.linalg.pinv(cu) @ blocks
    s = np.einsum("ij,ij->j", solved, blocks) / (_M * _M)
    return s.reshape(h // _M, w // _M), np.linalg.eigvalsh(cu)


def _border(win: int) -> int:
    """Blocks dropped at each border for a ``win`` window."""
    return -(-((win - 1) // 2) // _M)


def _inner(a: np.ndarray, off: int) -> np.ndarray:
    return a[off : a.shape[0] - off, off : a.shape[1] - off]


def _reference_terms(image: np.ndarray, scale: float) -> tuple[tuple, ...]:
    """Everything VIF needs from a reference image alone, per subband (in ``_SUBBANDS`` order): the cropped band, its
    block means and centred sums of squares, the GSM multipliers ``s`` (borders dropped), the eigenvalues of
    :math:`C_U`, and the subband's denominator term. Memoised on the image (:func:`_reference`), so a source scored
    against many fused images is analysed once."""
    pyr = _pyramid(image, scale)
    out = []
    for level, band, win in _SUBBANDS:
        n = win * win
        x = _crop(pyr[(level, band)])
        mx = _block_sums(x, win) / n
        ss_x = np.maximum(_block_sums(x * x, win) - n * mx * mx, 0.0)
        s, lam = _reference_gsm(x)
        s = _inner(s, _border(win))
        den = float(np.sum(np.log2(1.0 + s[..., None] * lam / _SIGMA_NSQ)))
        out.append((x, mx, ss_x, s, lam, den))
    return tuple(out)


_reference = source_memo(_reference_terms)


def _information(ref: tuple[tuple, ...], dist_pyr: dict) -> tuple[float, float]:
    """The numerator and denominator of VIF: the reference's terms (:func:`_reference_terms`) against the distorted
    image's pyramid. Same operations, in the same order, as computing both sides afresh."""
    num = den = 0.0
    for (level, band, win), (x, mx, ss_x, s, lam, den_band) in zip(_SUBBANDS, ref, strict=True):
        n = win * win
        y = _crop(dist_pyr[(level, band)])
        my = _block_sums(y, win) / n
        cov = _block_sums(x * y, win) - n * mx * my
        ss_y = np.maximum(_block_sums(y * y, win) - n * my * my, 0.0)
        g = cov / (ss_x + _TOL)
        vv = (ss_y - g * cov) / n
        g, vv = _clamped_gain(g, vv, ss_x, ss_y)
        off = _border(win)
        g, vv = _inner(g, off), _inner(vv, off)
        gs = (g * g * s)[..., None] * lam
        num += float(np.sum(np.log2(1.0 + gs / (vv[..., None] + _SIGMA_NSQ))))
        den += den_band
    return num, den


def _ratio(num: float, den: float) -> float:
    """VIF is undefined (nan) for a reference without information (den = 0: e.g. a constant image)."""
    return num / den if den > 0 else float("nan")


def vifvec(reference: np.ndarray, distorted: np.ndarray, *, scale: float = 255.0) -> float:
    """Sheikh & Bovik's vector-GSM VIF of ``distorted`` against ``reference`` (8-bit grey images of one size).

    Parameters
    ----------
    reference, distorted : ndarray of shape (H, W), uint8
        At least :data:`MIN_SIZE` (72) pixels on each side.
    scale : float
        The images are scored on [0, ``scale``]: 255 is vifvec's documented range, 1 is Li's evaluation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> img = rng.integers(0, 256, (80, 80)).astype(np.uint8)
    >>> round(vifvec(img, img), 12)
    1.0
    """
    num, den = _information(_reference(_as_image(reference), float(scale)), _pyramid(distorted, scale))
    return _ratio(num, den)


def vif(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, scale: float = 255.0) -> float:
    """``(vifvec(IR, F) + vifvec(VI, F)) / 2``: sources as references, the fused image as the distorted one.

    ``scale=1`` is the paper's VIFm (Li's evaluation on [0, 1] images); ``scale=255`` the documented range. A
    constant source carries no information and makes the result nan.
    """
    fused_pyr = _pyramid(fused, scale)
    total = 0.0
    for source in (ir, vi):
        num, den = _information(_reference(_as_image(source), float(scale)), fused_pyr)
        total += _ratio(num, den)
    return total / 2.0
