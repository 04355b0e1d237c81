"""The frozen VGG-16 (conv1_1 .. conv4_3) of the detail-to-semantic loss (:mod:`unrolled.training.losses`): its
layout, the two input conventions and a strict loader of its weights.

- ``Phi1..Phi4`` are VGG-16's relu1_2, relu2_2, relu3_3 and relu4_3 (the ends of conv-blocks 1-4).
- The VGG input is a grey image on [0, 255] repeated to 3 channels, nothing subtracted, for the Caffe weights in
  ../shared/weights ("caffe-grey255", the authors' convention); torchvision's ImageNet weights get their own
  preprocessing (/255, repeat, mean/std: "torchvision").
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from solvers._files import SHARED as _SHARED

from .._atomic import safe_torch_load

__all__ = ["VGGFeatures", "vgg16_features", "CONVENTIONS", "DEFAULT_VGG_WEIGHTS"]

#: The Caffe VGG-16 weights (conv1_1 .. conv4_3) that the paper's loss expects (../shared/weights/README.md).
DEFAULT_VGG_WEIGHTS = _SHARED / "weights" / "vgg16_caffe_conv1_1-conv4_3.pth"

# VGG-16 "D" up to conv4_3: channels of each conv, "M" a 2x2 max pool. Indices in nn.Sequential follow torchvision's
# ``vgg16().features`` (conv at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21), so its state_dict names load as they are.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
_TAPS = (3, 8, 15, 22)  # indices of the ReLUs relu1_2, relu2_2, relu3_3, relu4_3
_TAP_NAMES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
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
