"""The detail-to-semantic loss of LRRNet (Eq. 10-14) and its frozen VGG-16 loss network.

    L_total   = gamma1 L_pixel + gamma2 L_shallow + L_middle + gamma4 L_deep                         (10)
    L_pixel   = || I_f - I_vi ||^2                                                                   (11)
    L_shallow = || Phi1(I_f) - Phi1(I_vi) ||^2                                                       (12)
    L_middle  = sum_{k=2,3} beta_k || Phik(I_f) - [w_ir Phik(I_ir) + w_vi Phik(I_vi)] ||^2           (13)
    L_deep    = || Gram(Phi4(I_f)) - Gram(Phi4(I_ir)) ||^2                                           (14)

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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from solvers._files import SHARED as _SHARED

from .._atomic import safe_torch_load
from ..inference import MINMAX_EPS

__all__ = ["VGGFeatures", "vgg16_features", "FusionLoss", "pixel_loss", "shallow_loss", "middle_loss", "deep_loss",
           "gram", "minmax_255", "CONVENTIONS", "DEFAULT_VGG_WEIGHTS", "MINMAX_EPS", "SOURCE_TARGETS"]

#: The Caffe VGG-16 weights (conv1_1 .. conv4_3) that the paper's loss expects (../shared/weights/README.md).
DEFAULT_VGG_WEIGHTS = _SHARED / "weights" / "vgg16_caffe_conv1_1-conv4_3.pth"

# VGG-16 "D" up to conv4_3: channels of each conv, "M" a 2x2 max pool. Indices in nn.Sequential follow torchvision's
# ``vgg16().features`` (conv at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21), so its state_dict names load as they are.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
_TAPS = (3, 8, 15, 22)  # indices of the ReLUs relu1_2, relu2_2, relu3_3, relu4_3
_TAP_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
#: Names of the sources' part of the loss (:meth:`FusionLoss.source_targets`): Phi1(I_vi) (Eq. 12), the middle
#: targets w_ir Phik(I_ir) + w_vi Phik(I_vi) for k = 2, 3 (Eq. 13) and Gram(Phi4(I_ir)) (Eq. 14).
SOURCE_TARGETS = ("vi_relu1_2", "mix_relu2_2", "mix_relu3_3", "ir_gram4_3")


class _CaffeGrey255(nn.Module):
    """Grey [0, 255] -> 3 equal channels, nothing else (the Caffe/Keras VGG-16 as the LRRNet authors use it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


class _TorchvisionImageNet(nn.Module):
    """Grey [0, 255] -> [0, 1], 3 equal channels, then (x - ImageNet mean) / ImageNet std (torchvision's weights)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.expand(-1, 3, -1, -1) / 255.0 - self.mean) / self.std


#: Input conventions of VGG-16 weights: name -> the preprocessing module applied to grey [0, 255] images.
CONVENTIONS: dict[str, type[nn.Module]] = {"caffe-grey255": _CaffeGrey255, "torchvision": _TorchvisionImageNet}


class VGGFeatures(nn.Module):
    """Frozen VGG-16 from conv1_1 to relu4_3; returns ``[relu1_2, relu2_2, relu3_3, relu4_3]``.

    Build it with :func:`vgg16_features`, which loads weights. The module takes grey images of shape (N, 1, H, W) on
    the [0, 255] scale and applies the preprocessing of its weights' convention itself. Its parameters never require
    a gradient and it stays in eval mode (``train()`` is a no-op), so that it can sit inside a model being trained.

    Parameters
    ----------
    convention : {"caffe-grey255", "torchvision"}
        Input convention of the weights that will be loaded (see :data:`CONVENTIONS`).

    Notes
    -----
    3x3 convolutions with zero padding 1, ReLU, 2x2 max pools of stride 2: the outputs have 64, 128, 256 and 512
    channels at full, 1/2, 1/4 and 1/8 resolution (H and W are floored at each pool). Weights and activations are
    kept channels-last (returned features too): on CPU the loss's forward and backward took ~18 % less CPU time that
    way at 128x128 crops (about the same at 64x64).
    """

    def __init__(self, convention: str = "caffe-grey255"):
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
        self.convention = convention
        self.preprocess = CONVENTIONS[convention]()
        layers: list[nn.Module] = []
        c_in = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = item
        self.features = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode whatever ``mode`` is (the loss network is frozen)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features ``[relu1_2, relu2_2, relu3_3, relu4_3]`` of grey images ``x`` of shape (N, 1, H, W) on [0, 255]."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"VGGFeatures expects grey images of shape (N, 1, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"VGGFeatures needs H, W >= 8 (three 2x2 pools before relu4_3), got {tuple(x.shape)}")
        h = self.preprocess(x).contiguous(memory_format=torch.channels_last)
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in _TAPS:
                out.append(h)
        return out


def _weight_names() -> dict[str, tuple[int, ...]]:
    """The 20 state_dict names this module needs and their shapes."""
    return {k: tuple(v.shape) for k, v in VGGFeatures().state_dict().items()}


def vgg16_features(weights: str | Path | None = DEFAULT_VGG_WEIGHTS, *, convention: str = "caffe-grey255",
                   seed: int = 0) -> VGGFeatures:
    """Build the frozen VGG-16 loss network and load its conv1_1 .. conv4_3 weights from a file.

    Parameters
    ----------
    weights : str, Path or None
        A ``.pth`` state_dict with torchvision's names ``features.{0,2,5,7,10,12,14,17,19,21}.{weight,bias}``
        (other keys, such as the rest of a full torchvision VGG-16, are ignored). Default: the Caffe weights in
        ../shared/weights (override the folder with the ``LLRR_SHARED`` environment variable). ``None`` gives
        *random* weights (PyTorch's default initialisation, seeded by ``seed``): for tests and timing only, never for
        training, since the loss then measures nothing meaningful. Nothing is ever downloaded.
    convention : {"caffe-grey255", "torchvision"}
        How the weights expect their input. "caffe-grey255" (the file in ../shared/weights, and what the authors
        used): the grey [0, 255] image repeated to 3 channels. "torchvision" (``VGG16_Weights.IMAGENET1K_V1`` saved
        with ``torch.save(vgg16(weights=...).state_dict(), path)``): /255, repeated, ImageNet mean/std.
    seed : int
        Seed of the random weights when ``weights`` is None (the global RNG is left as it was).

    Returns
    -------
    VGGFeatures, float32, frozen, in eval mode.

    Raises
    ------
    FileNotFoundError
        ``weights`` does not exist.
    ValueError
        Unknown convention, a file that is not a state_dict, or one whose tensors are missing or mis-shaped (all of
        them are named in the message).

    Examples
    --------
    >>> import torch
    >>> vgg = vgg16_features(None)  # random weights: tests and benchmarks only
    >>> [tuple(f.shape) for f in vgg(torch.rand(2, 1, 16, 16) * 255)]
    [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")
    if weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return VGGFeatures(convention)
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"VGG-16 weights not found: {path} (see ../shared/weights/README.md; pass weights=PATH"
                                " to a torchvision-style state_dict, or weights=None for random test weights)")
    state = safe_torch_load(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state_dict (a mapping of names to tensors), got {type(state)}")
    needed = _weight_names()
    missing = sorted(k for k in needed if k not in state)
    misshaped = sorted(f"{k}: file {tuple(state[k].shape)} vs VGG-16 {needed[k]}" for k in needed
                       if k in state and (not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != needed[k]))
    if missing or misshaped:
        raise ValueError(f"{path} does not hold VGG-16 conv1_1..conv4_3 with torchvision names:\n"
                         f"  missing keys: {missing}\n  mis-shaped keys: {misshaped}")
    vgg = VGGFeatures(convention)
    vgg.load_state_dict({k: state[k].to(torch.float32) for k in needed}, strict=True)
    return vgg


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

    Notes
    -----
    ``forward(output, ir255, vi255)`` returns ``{"pixel", "shallow", "middle", "deep", "total"}``, each term already
    weighted (``"middle"`` includes its betas) and ``total`` their sum. ``output`` is the raw network output; it is
    min-max normalised per image and multiplied by 255 inside (:func:`minmax_255`), with the gradient. The sources are
    targets: detached, and their VGG features are computed under ``torch.no_grad()`` in one batched call
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
    ['deep', 'middle', 'pixel', 'shallow', 'total']
    >>> out["total"].backward()
    >>> targets = loss.source_targets(ir, vi)  # the sources' part, computed once
    >>> out = loss(torch.rand(2, 1, 16, 16), ir, vi, targets=targets)  # VGG-16 on the fused image only
    """

    def __init__(self, vgg: VGGFeatures, *, gamma1: float = 10.0, gamma2: float = 1.5, w_vi: float = 0.5,
                 w_ir: float = 3.0, beta2: float = 0.01, beta3: float = 0.5, gamma4: float = 2000.0):
        super().__init__()
        if not isinstance(vgg, VGGFeatures):
            raise TypeError(f"vgg must be a VGGFeatures (build it with vgg16_features), got {type(vgg).__name__}")
        self.vgg = vgg
        weights = dict(gamma1=gamma1, gamma2=gamma2, w_vi=w_vi, w_ir=w_ir, beta2=beta2, beta3=beta3, gamma4=gamma4)
        for name, value in weights.items():
            setattr(self, name, _check_weight(name, value))

    def extra_repr(self) -> str:
        names = ("gamma1", "gamma2", "w_vi", "w_ir", "beta2", "beta3", "gamma4")
        return ", ".join(f"{k}={getattr(self, k)}" for k in names)

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
            return {"vi_relu1_2": phi_vi[0],
                    "mix_relu2_2": self.w_ir * phi_ir[1] + self.w_vi * phi_vi[1],
                    "mix_relu3_3": self.w_ir * phi_ir[2] + self.w_vi * phi_vi[2],
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
        vi255 = vi255.detach().to(fused.dtype)
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
        }
        terms["total"] = terms["pixel"] + terms["shallow"] + terms["middle"] + terms["deep"]
        return terms
