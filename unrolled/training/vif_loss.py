r"""The paper's VIF metric (Sheikh & Bovik's wavelet-domain ``vifvec``) in torch, differentiable in the fused image.

A loss term that is not in the paper (``loss.gamma_vif_ir``, ``loss.gamma_vif_vi``; off by default): minus each
source's VIF of the fused image, ``-(gamma_vif_ir VIF(I_ir, I_f) + gamma_vif_vi VIF(I_vi, I_f))``, averaged over the
batch. Training on it optimises one of the metrics the network is then scored on, so a test-set VIF of a network
trained with it is not an independent measure (docs/training.md, "The paper's VIF as the loss").

The computation is the one :func:`llrr.metrics.vif.vifvec` makes with ``scale=1`` (Li's evaluation: images on
[0, 1], :math:`\sigma_n^2 = 0.4`), step by step, and the tests check the two against each other in float64:

1. the steerable pyramid's subbands (pyrtools' ``sp5_filters``, 4 levels, orientations 0 and 3, borders by
   reflection without repeating the edge) as convolutions;
2. per subband, cropped to a multiple of 3, the local statistics over a ``w x w`` window at the centre of every
   3 x 3 block, the gain ``g`` and the distortion variance ``v`` with LIVE's clamps;
3. the reference's GSM (the covariance :math:`C_U` of its 3 x 3 blocks, the multipliers ``s``, the eigenvalues
   :math:`\lambda`), computed without a gradient: the sources are constants;
4. :math:`\mathrm{VIF} = \sum \log_2(1 + g^2 s \lambda / (v + \sigma_n^2)) / \sum \log_2(1 + s \lambda / \sigma_n^2)`
   over the inner blocks of every subband.

The clamps make VIF piecewise smooth: where a block's gain is negative it is set to 0 and carries no gradient there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MIN_SIZE", "vif_per_image", "vif_loss"]

_M = 3
_SIGMA_NSQ = 0.4
_TOL = 1e-15
MIN_SIZE = 72
"""Smallest side the 4-level pyramid allows (as :data:`llrr.metrics.vif.MIN_SIZE`)."""
# (pyramid level, orientation, window side), the order of llrr.metrics.vif._SUBBANDS
_SUBBANDS = [(3, 3, 3), (3, 0, 3), (2, 3, 5), (2, 0, 5), (1, 3, 9), (1, 0, 9), (0, 3, 17), (0, 0, 17)]
_ORIENTATIONS = (0, 3)


@lru_cache(maxsize=1)
def _filters() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pyrtools' ``sp5_filters``: the first low-pass, the low-pass of each level and the two oriented band-passes
    (as correlation kernels, shape (2, 1, 9, 9))."""
    from pyrtools.pyramids.filters import parse_filter

    f = parse_filter("sp5_filters", normalize=False)
    side = int(np.sqrt(f["bfilts"].shape[0]))
    bands = np.stack([f["bfilts"][:, b].reshape(side, side).T for b in _ORIENTATIONS])[:, None]
    return np.asarray(f["lo0filt"], float)[None, None], np.asarray(f["lofilt"], float)[None, None], bands


def _corr(x: torch.Tensor, kernel: np.ndarray, step: int = 1) -> torch.Tensor:
    """pyrtools' ``corrDn(x, kernel, edge_type="reflect1", step=(step, step))`` of (N, 1, H, W) images."""
    p = kernel.shape[-1] // 2
    w = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, stride=step)


def _pyramid(images: torch.Tensor) -> dict:
    """``{(level, orientation): (N, H_l, W_l) band}`` of (N, 1, H, W) images, as llrr.metrics.vif._bands."""
    lo0, lo, bands = _filters()
    x = _corr(images, lo0)
    out = {}
    for level in range(4):
        both = _corr(x, bands)
        for i, orientation in enumerate(_ORIENTATIONS):
            out[(level, orientation)] = both[:, i]
        if level < 3:
            x = _corr(x, lo, step=2)
    return out


def _crop(band: torch.Tensor) -> torch.Tensor:
    h, w = (band.shape[-2] // _M) * _M, (band.shape[-1] // _M) * _M
    return band[..., :h, :w]


def _block_sums(a: torch.Tensor, win: int) -> torch.Tensor:
    """Sums over ``win x win`` windows (mirror borders) centred on the middle pixel of every 3 x 3 block of a band
    (N, H, W), ``H`` and ``W`` multiples of 3."""
    p = win // 2
    padded = F.pad(a[:, None], (p, p, p, p), mode="reflect")[..., 1:, 1:]
    return F.avg_pool2d(padded, win, stride=_M)[:, 0] * (win * win)


def _border(win: int) -> int:
    return -(-((win - 1) // 2) // _M)


def _inner(a: torch.Tensor, off: int) -> torch.Tensor:
    return a[..., off : a.shape[-2] - off, off : a.shape[-1] - off]


def _reference_gsm(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The GSM multipliers ``s`` (N, H/3, W/3) and the eigenvalues of :math:`C_U` (N, 9) of cropped bands (N, H, W)."""
    n, h, w = x.shape
    overlapping = F.unfold(x[:, None], _M)  # (N, 9, positions)
    mean = overlapping.mean(dim=2, keepdim=True)
    cu = overlapping @ overlapping.transpose(1, 2) / overlapping.shape[2] - mean @ mean.transpose(1, 2)
    blocks = F.unfold(x[:, None], _M, stride=_M)  # (N, 9, blocks), blocks row by row
    solved, info = torch.linalg.solve_ex(cu, blocks)
    if bool((info != 0).any()):  # a flat or degenerate band: the pseudo-inverse, as the metric does
        bad = info != 0
        solved[bad] = torch.linalg.pinv(cu[bad]) @ blocks[bad]
    s = (solved * blocks).sum(dim=1) / (_M * _M)
    return s.reshape(n, h // _M, w // _M), torch.linalg.eigvalsh(cu)


def _reference(bands: dict) -> list[tuple]:
    """Per subband: the cropped band, its block means and sums of squares, ``s`` (borders dropped), the eigenvalues,
    and the denominator (N,)."""
    out = []
    for level, orientation, win in _SUBBANDS:
        n = win * win
        x = _crop(bands[(level, orientation)])
        mx = _block_sums(x, win) / n
        ss_x = (_block_sums(x * x, win) - n * mx * mx).clamp_min(0.0)
        s, lam = _reference_gsm(x)
        s = _inner(s, _border(win))
        den = torch.log2(1.0 + s[..., None] * lam[:, None, None, :] / _SIGMA_NSQ).sum(dim=(1, 2, 3))
        out.append((x, mx, ss_x, s, lam, den))
    return out


def _numerator(ref: list[tuple], bands: dict) -> torch.Tensor:
    """VIF's numerator (N,): the reference's terms (:func:`_reference`) against the fused image's subbands, the
    operations of llrr.metrics.vif._information."""
    num = 0.0
    for (level, orientation, win), (x, mx, ss_x, s, lam, _) in zip(_SUBBANDS, ref, strict=True):
        n = win * win
        y = _crop(bands[(level, orientation)])
        my = _block_sums(y, win) / n
        cov = _block_sums(x * y, win) - n * mx * my
        ss_y = (_block_sums(y * y, win) - n * my * my).clamp_min(0.0)
        g = cov / (ss_x + _TOL)
        vv = (ss_y - g * cov) / n
        # LIVE's clamps, in the metric's order
        flat_x = ss_x < _TOL
        g, vv = torch.where(flat_x, 0.0, g), torch.where(flat_x, ss_y, vv)
        flat_y = ss_y < _TOL
        g, vv = torch.where(flat_y, 0.0, g), torch.where(flat_y, 0.0, vv)
        neg = g < 0
        vv, g = torch.where(neg, ss_y, vv), torch.where(neg, 0.0, g)
        vv = torch.where(vv <= _TOL, _TOL, vv)
        off = _border(win)
        g, vv = _inner(g, off), _inner(vv, off)
        gs = (g * g * s)[..., None] * lam[:, None, None, :]
        num = num + torch.log2(1.0 + gs / (vv[..., None] + _SIGMA_NSQ)).sum(dim=(1, 2, 3))
    return num


def _check(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 1:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a tensor of shape (N, 1, H, W), got {shape}")
    if min(t.shape[2:]) < MIN_SIZE:
        raise ValueError(f"{name}: VIF needs images of at least {MIN_SIZE} x {MIN_SIZE} pixels (a 4-level steerable "
                         f"pyramid), got shape {tuple(t.shape)}")


def vif_per_image(references: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """``vifvec(reference, fused)`` of each image pair on [0, 1] (Li's evaluation), shape (N,); differentiable in
    ``fused`` (``references`` are constants). nan where a reference carries no information (a flat image).

    Parameters
    ----------
    references, fused : Tensor of shape (N, 1, H, W)
        Images on [0, 1], at least :data:`MIN_SIZE` pixels on each side. The computation runs in ``fused``'s dtype:
        float64 matches :func:`llrr.metrics.vif.vifvec` (``scale=1``, on the same values) to rounding.

    Examples
    --------
    >>> img = torch.rand(1, 1, 80, 80, dtype=torch.float64)
    >>> round(float(vif_per_image(img, img)), 9)
    1.0
    """
    _check("references", references)
    _check("fused", fused)
    if references.shape != fused.shape:
        raise ValueError(f"references and fused must have the same shape, got {tuple(references.shape)} and "
                         f"{tuple(fused.shape)}")
    with torch.no_grad():
        ref = _reference(_pyramid(references.detach().to(fused.dtype)))
    den = torch.stack([r[-1] for r in ref]).sum(dim=0)
    num = _numerator(ref, _pyramid(fused))
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), float("nan"))


def vif_loss(fused255: torch.Tensor, ir255: torch.Tensor, vi255: torch.Tensor, *, gamma_ir: float,
             gamma_vi: float) -> torch.Tensor:
    """``-(gamma_ir VIF(I_ir, I_f) + gamma_vi VIF(I_vi, I_f))`` averaged over the batch, images on [0, 255] (scored on
    [0, 1] as the paper's VIF is). Computed in float64 (the local variances subtract large sums); a term whose weight
    is 0 is not computed.

    A flat source (VIF undefined, nan) is left out of its term's mean, so that one saturated sample does not stop a
    run; a term without any defined image is 0. A nearly flat source has a tiny denominator and a large VIF, as the
    metric does: with ``sampling = "crop"`` on data with large flat areas such a sample can dominate its step.
    """
    fused = fused255.to(torch.float64) / 255.0
    total = fused255.new_zeros((), dtype=torch.float64)
    for gamma, source in ((gamma_ir, ir255), (gamma_vi, vi255)):
        if gamma > 0:
            per_image = vif_per_image(source.detach().to(torch.float64) / 255.0, fused)
            defined = torch.isfinite(per_image)
            if bool(defined.any()):
                total = total - gamma * per_image[defined].mean()
    return total.to(fused255.dtype)
