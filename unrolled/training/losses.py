"""The detail-to-semantic loss of LRRNet (Eq. 10-14); its frozen VGG-16 loss network is :mod:`.vgg`.

    L_total   = gamma1 L_pixel + gamma2 L_shallow + L_middle + gamma4 L_deep                         (10)
    L_pixel   = || I_f - I_vi ||^2                                                                   (11)
    L_shallow = || Phi1(I_f) - Phi1(I_vi) ||^2                                                       (12)
    L_middle  = sum_{k=2,3} beta_k || Phik(I_f) - [w_ir Phik(I_ir) + w_vi Phik(I_vi)] ||^2           (13)
    L_deep    = || Gram(Phi4(I_f)) - Gram(Phi4(I_ir)) ||^2                                           (14)

Not in the paper, off by default (a deviation for the recipe study of issue 14, docs/training.md): a content term
that asks for each source's brighter pixel and stronger edge, as SeAFusion's and several later fusion losses do,

    L_content = gamma_int || I_f - max(I_ir, I_vi) ||_1 + gamma_grad || |grad I_f| - max(|grad I_ir|, |grad I_vi|) ||_1

with ``|grad I| = |Sobel_x * I| + |Sobel_y * I|`` (replicate padding) and each norm a mean over the pixels; and the
paper's own VIF metric as a loss, ``-(gamma_vif_ir VIF(I_ir, I_f) + gamma_vif_vi VIF(I_vi, I_f))``
(:mod:`.vif_loss`), added to the content term.

Conventions (the authors' released training code, ../shared/specs/lrrnet-reference-code.md; docs/training.md lists
every one and where ours could differ):

- ``Phi1..Phi4`` are VGG-16's relu1_2, relu2_2, relu3_3 and relu4_3 (the ends of conv-blocks 1-4).
- Every squared norm is a *mean* over batch, channels and pixels (``MSELoss``), not a sum.
- ``Gram(F) = F F^T / (C H W)`` per image, F of shape (C, H W).
- ``I_f = 255 * (y - min y) / (max y - min y + 1e-5)`` per image, y the raw network output: the min-max is inside the
  loss and the gradient flows through it (the min and the max each pass their gradient to one pixel, as
  ``torch.min(dim)`` does). ``I_ir`` and ``I_vi`` are the raw sources on [0, 255]; they are constants.
- The VGG input is a grey image on [0, 255] repeated to 3 channels, nothing subtracted, for the Caffe weights in
  ../shared/weights; torchvision's ImageNet weights get their own preprocessing (/255, repeat, mean/std).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..inference import MINMAX_EPS
from .vgg import CONVENTIONS, DEFAULT_VGG_WEIGHTS, VGGFeatures, vgg16_features
from .vif_loss import vif_loss

__all__ = ["VGGFeatures", "vgg16_features", "FusionLoss", "pixel_loss", "shallow_loss", "middle_loss", "deep_loss",
           "gram", "minmax_255", "with_contrast", "sobel_magnitude", "content_loss", "uses_vgg", "CONVENTIONS",
           "DEFAULT_VGG_WEIGHTS", "MINMAX_EPS", "SOURCE_TARGETS"]

#: Names of the sources' part of the loss (:meth:`FusionLoss.source_targets`): Phi1(I_vi) (Eq. 12), the middle
#: targets w_ir Phik(I_ir) + w_vi Phik(I_vi) for k = 2, 3 (Eq. 13) and Gram(Phi4(I_ir)) (Eq. 14).
SOURCE_TARGETS = ("vi_relu1_2", "mix_relu2_2", "mix_relu3_3", "ir_gram4_3")


def minmax_255(output: torch.Tensor, eps: float = MINMAX_EPS) -> torch.Tensor:
    """``255 * (y - min y) / (max y - min y + eps)`` per image of a batch (N, C, H, W), differentiable.

    The min and the max are taken over each image's channels and pixels; each passes its gradient to a single
    element (``torch.min(dim)``), as in the authors' training code.
    """
    flat = output.flatten(1)
    lo = flat.min(dim=1).values.reshape(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.reshape(-1, 1, 1, 1)
    return 255.0 * (output - lo) / (hi - lo + eps)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``F F^T / (C H W)`` per image: (N, C, H, W) -> (N, C, C).

    Examples
    --------
    >>> gram(torch.ones(1, 2, 3, 3))  # each entry: 9 products of 1 over 2 * 3 * 3
    tensor([[[0.5000, 0.5000],
             [0.5000, 0.5000]]])
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def pixel_loss(fused255: torch.Tensor, vi255: torch.Tensor) -> torch.Tensor:
    """Eq. 11: ``mean((I_f - I_vi)^2)``, both on [0, 255]."""
    return F.mse_loss(fused255, vi255)


def shallow_loss(fused_phi1: torch.Tensor, vi_phi1: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ``mean((Phi^1(I_f) - Phi^1(I_vi))^2)`` on relu1_2 features."""
    return F.mse_loss(fused_phi1, vi_phi1)


def middle_loss(fused_phi: Sequence[torch.Tensor], ir_phi: Sequence[torch.Tensor], vi_phi: Sequence[torch.Tensor],
                *, betas: Sequence[float] = (0.01, 0.5), w_ir: float = 3.0, w_vi: float = 0.5) -> torch.Tensor:
    """Eq. 13: ``sum_k beta_k mean((Phi^k(I_f) - [w_ir Phi^k(I_ir) + w_vi Phi^k(I_vi)])^2)``.

    Parameters
    ----------
    fused_phi, ir_phi, vi_phi : sequences of Tensor
        The features ``Phi^k`` for k = 2 .. K (relu2_2, relu3_3 by default) of the fused image and the two sources.
    betas : sequence of float
        One weight per feature level (default: beta2 = 0.01, beta3 = 0.5).
    """
    if not len(fused_phi) == len(ir_phi) == len(vi_phi) == len(betas):
        raise ValueError(f"middle_loss needs one feature map per beta in each list: got {len(fused_phi)} fused, "
                         f"{len(ir_phi)} ir, {len(vi_phi)} vi features and {len(betas)} betas")
    levels = zip(fused_phi, ir_phi, vi_phi, betas, strict=True)
    terms = [beta * F.mse_loss(f, w_ir * a + w_vi * b) for f, a, b, beta in levels]
    return torch.stack(terms).sum()


def deep_loss(fused_phi4: torch.Tensor, ir_phi4: torch.Tensor) -> torch.Tensor:
    """Eq. 14: ``mean((Gram(Phi^4(I_f)) - Gram(Phi^4(I_ir)))^2)`` on relu4_3 features (mean over N, C, C)."""
    return F.mse_loss(gram(fused_phi4), gram(ir_phi4))


VGG_TERMS = ("gamma2", "beta2", "beta3", "gamma4")
"""The weights of the terms that need VGG-16 features (Eq. 12-14)."""


def uses_vgg(weights) -> bool:
    """True if any of :data:`VGG_TERMS` is > 0 on ``weights`` (a :class:`FusionLoss` or the config's ``LossWeights``):
    otherwise VGG-16 never needs to run."""
    return any(getattr(weights, name) > 0 for name in VGG_TERMS)


_SOBEL = torch.tensor([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]],
                       [[[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]]])


def sobel_magnitude(images: torch.Tensor) -> torch.Tensor:
    """``|Sobel_x * I| + |Sobel_y * I|`` of each image (N, 1, H, W), replicate padding: an edge map of the same shape.

    Examples
    --------
    >>> step = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(4, 1)[None, None]  # a vertical edge of height 1
    >>> sobel_magnitude(step)[0, 0, 0].tolist()
    [0.0, 4.0, 4.0, 0.0]
    """
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    g = F.conv2d(padded, _SOBEL.to(images.dtype).to(images.device))
    return g.abs().sum(dim=1, keepdim=True)


def content_loss(fused255: torch.Tensor, ir255: torch.Tensor, vi255: torch.Tensor, *, gamma_int: float = 1.0,
                 gamma_grad: float = 1.0, balance_edges: bool = False) -> torch.Tensor:
    """``gamma_int mean|I_f - max(I_ir, I_vi)| + gamma_grad mean| |grad I_f| - max(|grad I_ir|, |grad I_vi|) |``.

    Not part of the paper's loss (module docstring): the targets are each pixel's brighter source and each pixel's
    stronger edge (:func:`sobel_magnitude`), all images on [0, 255]; the sources are constants. ``balance_edges``:
    each source's edge map is first rescaled, per image, to the mean edge strength of the two sources, so that the
    maximum picks each source where its edges are strong for that source rather than where they are strong in grey
    levels (on RoadScene the infrared edges are the stronger ones on most pixels).
    """
    ir255, vi255 = ir255.detach().to(fused255.dtype), vi255.detach().to(fused255.dtype)
    terms = []
    if gamma_int > 0:
        terms.append(gamma_int * (fused255 - torch.maximum(ir255, vi255)).abs().mean())
    if gamma_grad > 0:
        e_ir, e_vi = sobel_magnitude(ir255), sobel_magnitude(vi255)
        if balance_edges:
            m_ir = e_ir.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            m_vi = e_vi.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            common = (m_ir + m_vi) / 2
            e_ir, e_vi = e_ir * (common / m_ir), e_vi * (common / m_vi)
        target = torch.maximum(e_ir, e_vi)
        terms.append(gamma_grad * (sobel_magnitude(fused255) - target).abs().mean())
    return torch.stack(terms).sum() if terms else fused255.new_zeros(())


def with_contrast(images: torch.Tensor, std: float) -> torch.Tensor:
    """Each image of ``images`` (N, 1, H, W) rescaled about its mean to the standard deviation ``std`` (a flat image
    stays flat): ``mean + (x - mean) std / max(std(x), 1e-6)``.

    ``FusionLoss(middle_contrast=std)`` feeds the sources of the middle term (Eq. 13) through it, so that ``w_ir``
    and ``w_vi`` weigh sources of one contrast whatever the data's (a deviation from the paper, whose target mixes
    the raw sources: on RoadScene the infrared images have std 55 against 40 for the visible ones).
    """
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    centred = images - mean
    sd = centred.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-6)
    return mean + centred * (std / sd)


def _check_weight(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


class FusionLoss(nn.Module):
    """The detail-to-semantic loss (Eq. 10) with the paper's weights as defaults.

    Parameters
    ----------
    vgg : VGGFeatures
        The frozen loss network (:func:`vgg16_features`).
    gamma1, gamma2, gamma4 : float
        Weights of the pixel (Eq. 11), shallow (Eq. 12) and deep (Eq. 14) terms. 0 switches a term off.
    w_vi, w_ir : float
        Mix of the visible and infrared features in the middle target (Eq. 13).
    beta2, beta3 : float
        Weights of relu2_2 and relu3_3 in the middle term.
    middle_contrast : float
        0 (the paper): the middle target mixes the raw sources. ``> 0``: each source is first rescaled to this
        standard deviation (:func:`with_contrast`), a deviation that makes ``w_ir`` and ``w_vi`` independent of the
        data's contrast.
    gamma_int, gamma_grad : float
        Weights of the content term (:func:`content_loss`, not in the paper); 0 (default) switches it off.
        ``balance_edges > 0`` rescales the sources' edge maps to a common strength first. When the
        four VGG terms are all off (gamma2, beta2, beta3, gamma4 = 0) VGG-16 is not run at all.
    gamma_vif_ir, gamma_vif_vi : float
        Weights of minus each source's VIF of the fused image (:func:`unrolled.training.vif_loss.vif_loss`: the paper's
        VIF metric as a loss, not in the paper); 0 (default) switches them off. Added to the ``"content"`` term.

    Notes
    -----
    ``forward(output, ir255, vi255)`` returns ``{"pixel", "shallow", "middle", "deep", "content", "total"}``, each
    term already weighted (``"middle"`` includes its betas) and ``total`` their sum. ``output`` is the raw network
    output; it is min-max normalised per image and multiplied by 255 inside (:func:`minmax_255`), with the gradient.
    The sources are targets: detached, and their VGG features are computed under ``torch.no_grad()`` in one batched call
    (:meth:`source_targets`). ``forward(..., targets=t)`` takes them already computed (e.g. cached across steps,
    :class:`unrolled.training.feature_cache.SourceTargetCache`) and runs VGG-16 on the fused image only: the same
    operations on the same values, so the same loss and gradient bit for bit.

    Examples
    --------
    >>> import torch
    >>> loss = FusionLoss(vgg16_features(None))
    >>> ir, vi = torch.rand(2, 1, 16, 16) * 255, torch.rand(2, 1, 16, 16) * 255
    >>> out = loss(torch.rand(2, 1, 16, 16, requires_grad=True), ir, vi)
    >>> sorted(out)
    ['content', 'deep', 'middle', 'pixel', 'shallow', 'total']
    >>> out["total"].backward()
    >>> targets = loss.source_targets(ir, vi)  # the sources' part, computed once
    >>> out = loss(torch.rand(2, 1, 16, 16), ir, vi, targets=targets)  # VGG-16 on the fused image only
    """

    def __init__(self, vgg: VGGFeatures, *, gamma1: float = 10.0, gamma2: float = 1.5, w_vi: float = 0.5,
                 w_ir: float = 3.0, beta2: float = 0.01, beta3: float = 0.5, gamma4: float = 2000.0,
                 middle_contrast: float = 0.0, gamma_int: float = 0.0, gamma_grad: float = 0.0,
                 balance_edges: float = 0.0, gamma_vif_ir: float = 0.0, gamma_vif_vi: float = 0.0):
        super().__init__()
        if not isinstance(vgg, VGGFeatures):
            raise TypeError(f"vgg must be a VGGFeatures (build it with vgg16_features), got {type(vgg).__name__}")
        self.vgg = vgg
        weights = dict(gamma1=gamma1, gamma2=gamma2, w_vi=w_vi, w_ir=w_ir, beta2=beta2, beta3=beta3, gamma4=gamma4,
                       middle_contrast=middle_contrast, gamma_int=gamma_int, gamma_grad=gamma_grad,
                       balance_edges=balance_edges, gamma_vif_ir=gamma_vif_ir, gamma_vif_vi=gamma_vif_vi)
        for name, value in weights.items():
            setattr(self, name, _check_weight(name, value))

    def extra_repr(self) -> str:
        names = ("gamma1", "gamma2", "w_vi", "w_ir", "beta2", "beta3", "gamma4", "middle_contrast", "gamma_int",
                 "gamma_grad", "balance_edges", "gamma_vif_ir", "gamma_vif_vi")
        return ", ".join(f"{k}={getattr(self, k)}" for k in names)

    @property
    def uses_vgg(self) -> bool:
        """False when every VGG term is off (gamma2, beta2, beta3, gamma4 = 0): then VGG-16 never runs."""
        return uses_vgg(self)

    def source_targets(self, ir255: torch.Tensor, vi255: torch.Tensor) -> dict[str, torch.Tensor]:
        """The sources' part of the loss for a batch, detached: one VGG-16 call on ``[ir255; vi255]``, no graph.

        Parameters
        ----------
        ir255, vi255 : Tensor of shape (N, 1, H, W)
            The sources on [0, 255].

        Returns
        -------
        dict of str to Tensor, in the VGG's dtype, keys :data:`SOURCE_TARGETS`
            ``"vi_relu1_2"`` (N, 64, H, W): Phi1(I_vi), Eq. 12; ``"mix_relu2_2"`` (N, 128, H/2, W/2) and
            ``"mix_relu3_3"`` (N, 256, H/4, W/4): ``w_ir Phik(I_ir) + w_vi Phik(I_vi)``, Eq. 13; ``"ir_gram4_3"``
            (N, 512, 512): Gram(Phi4(I_ir)), Eq. 14 (H, W floored at each pool). Feature maps are channels-last.
        """
        self._check_shapes(ir255=ir255, vi255=vi255)
        dtype = self.vgg.features[0].weight.dtype
        with torch.no_grad():
            both = torch.cat([ir255.detach().to(dtype), vi255.detach().to(dtype)])
            phi_ir, phi_vi = zip(*(f.chunk(2) for f in self.vgg(both)), strict=True)
            mid_ir, mid_vi = phi_ir, phi_vi
            if self.middle_contrast > 0:  # a deviation: the middle term's sources at one contrast
                mid_ir, mid_vi = zip(*(f.chunk(2) for f in self.vgg(with_contrast(both, self.middle_contrast))),
                                     strict=True)
            return {"vi_relu1_2": phi_vi[0],
                    "mix_relu2_2": self.w_ir * mid_ir[1] + self.w_vi * mid_vi[1],
                    "mix_relu3_3": self.w_ir * mid_ir[2] + self.w_vi * mid_vi[2],
                    "ir_gram4_3": gram(phi_ir[3])}

    @staticmethod
    def _check_shapes(**tensors: torch.Tensor) -> None:
        for name, t in tensors.items():
            if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] != 1:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{name} must be a tensor of shape (N, 1, H, W), got {shape}")
        if len({t.shape for t in tensors.values()}) != 1:
            *names, last = tensors
            *shapes, end = (str(tuple(t.shape)) for t in tensors.values())
            raise ValueError(f"{', '.join(names)} and {last} must have the same shape, got {', '.join(shapes)} and "
                             f"{end}")

    @staticmethod
    def _check_targets(targets, n: int, h: int, w: int) -> None:
        shapes = {"vi_relu1_2": (n, 64, h, w), "mix_relu2_2": (n, 128, h // 2, w // 2),
                  "mix_relu3_3": (n, 256, h // 4, w // 4), "ir_gram4_3": (n, 512, 512)}
        for name, shape in shapes.items():
            t = targets.get(name) if isinstance(targets, Mapping) else targets
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"targets[{name!r}] (FusionLoss.source_targets) must be a tensor of shape {shape} "
                                 f"for sources of shape {(n, 1, h, w)}, got {got}")

    def forward(self, output: torch.Tensor, ir255: torch.Tensor, vi255: torch.Tensor,
                targets: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Weighted loss terms of the raw network ``output`` (N, 1, H, W) against sources ``ir255``, ``vi255``.

        ``targets``: the sources' part, :meth:`source_targets` of these ``ir255``, ``vi255`` (not recomputed: the
        caller vouches that they belong to these sources); None computes it.
        """
        self._check_shapes(output=output, ir255=ir255, vi255=vi255)
        if targets is not None:
            self._check_targets(targets, output.shape[0], *output.shape[2:])
        fused = minmax_255(output)
        content = content_loss(fused, ir255, vi255, gamma_int=self.gamma_int, gamma_grad=self.gamma_grad,
                               balance_edges=self.balance_edges > 0)
        if self.gamma_vif_ir > 0 or self.gamma_vif_vi > 0:
            content = content + vif_loss(fused, ir255, vi255, gamma_ir=self.gamma_vif_ir, gamma_vi=self.gamma_vif_vi)
        vi255 = vi255.detach().to(fused.dtype)
        if not self.uses_vgg:  # the content term alone (and perhaps the pixel term): no VGG-16 at all
            zero = fused.new_zeros(())
            terms = {"pixel": self.gamma1 * pixel_loss(fused, vi255), "shallow": zero, "middle": zero, "deep": zero,
                     "content": content}
            terms["total"] = terms["pixel"] + content
            return terms
        phi_f = self.vgg(fused)
        if targets is None:
            targets = self.source_targets(ir255, vi255)
        targets = {k: targets[k].detach().to(fused.dtype) for k in SOURCE_TARGETS}
        # the same operations as pixel_loss .. deep_loss with the sources' features (middle_loss: its mix is a target)
        middle = [beta * F.mse_loss(f, targets[k]) for f, k, beta in
                  ((phi_f[1], "mix_relu2_2", self.beta2), (phi_f[2], "mix_relu3_3", self.beta3))]
        terms = {
            "pixel": self.gamma1 * pixel_loss(fused, vi255),
            "shallow": self.gamma2 * shallow_loss(phi_f[0], targets["vi_relu1_2"]),
            "middle": torch.stack(middle).sum(),
            "deep": self.gamma4 * F.mse_loss(gram(phi_f[3]), targets["ir_gram4_3"]),
            "content": content,
        }
        terms["total"] = terms["pixel"] + terms["shallow"] + terms["middle"] + terms["deep"] + content
        return terms
