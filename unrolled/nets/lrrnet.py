"""LRRNet (Fig. 3): two LLRR branches, a decoder of four convolutions and two fusion convolutions.

Each branch codes its source image (infrared or visible) into n low-rank and n sparse coefficient maps (``n_sparse``
may differ) with the LLRR iteration of Eq. 8 unrolled T times; the decoder turns each group of maps into an image,
fuses the two low-rank images and the two sparse images ("cat": concatenation then a convolution; "add": sum then a
convolution), and returns ``I_f = L_f + S_f``. The defaults (n = 128, 3x3 kernels, T = 4, "cat") are the released
model: 49,204 parameters.

Where the paper and the authors' released code differ, this module follows the code (the released weights and outputs
depend on it): the thresholds ``theta`` (2n of them) and the scalar ``lam3`` are shared by Z_0 and every block of a
branch; ``lam3`` multiplies Z directly (Eq. 8 as printed); every convolution has a bias and reflection padding; the
threshold also applies to the low-rank channels.

The two alternative feature extractors of Section 5.2.3 are drop-in replacements (``extractor=``): "conv8", eight
plain convolutions (no activation, as in the authors' ablation code), and "dense", a convolution then T dense blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from .blocks import LLRRBlock, PaddedConv
from .threshold import soft_threshold

__all__ = ["LRRNetConfig", "LRRNet", "LLRRBranch", "Conv8Branch", "DenseBranch", "Decoder"]

EXTRACTORS = ("llrr", "conv8", "dense")
FUSIONS = ("cat", "add")


@dataclass(frozen=True)
class LRRNetConfig:
    """Architecture of :class:`LRRNet` (defaults: the paper's and the released model's).

    ``n`` is the number of low-rank maps per branch, ``n_sparse`` that of sparse maps: None (the default) means n,
    and is stored as n (so ``LRRNetConfig(n=8) == LRRNetConfig(n=8, n_sparse=8)`` and a written config always holds
    an integer). Only the "llrr" extractor allows ``n_sparse != n``.
    """

    n: int = 128
    kernel_size: int = 3
    blocks: int = 4
    channels: int = 1
    fusion: str = "cat"
    extractor: str = "llrr"
    n_sparse: int | None = None

    def __post_init__(self):
        if self.n_sparse is None:
            object.__setattr__(self, "n_sparse", self.n)
        for name in ("n", "kernel_size", "blocks", "channels", "n_sparse"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.n_sparse != self.n and self.extractor != "llrr":
            raise ValueError(f"n_sparse ({self.n_sparse}) != n ({self.n}) needs the 'llrr' extractor, got "
                             f"extractor={self.extractor!r}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"extractor must be one of {EXTRACTORS}, got {self.extractor!r}")

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel depends on, per side (used to size tile overlaps)."""
        r = self.kernel_size // 2
        per_branch = {"llrr": 1 + 2 * self.blocks, "conv8": 8, "dense": 1 + 2 * self.blocks}[self.extractor]
        return r * (per_branch + 2)


class LLRRBranch(nn.Module):
    """Z_0 = h(C0 * X), then T LLRR blocks; returns the low-rank (first n) and sparse coefficient maps.

    ``n_sparse`` defaults to n (the released model: 128 + 128); :meth:`from_problem` builds a branch equal to the
    solvers' convolutional Algorithm 1 before training.
    """

    def __init__(self, n: int = 128, channels: int = 1, kernel_size: int = 3, blocks: int = 4,
                 n_sparse: int | None = None):
        super().__init__()
        self.n = n
        K = n + (n if n_sparse is None else n_sparse)
        self.c0 = PaddedConv(channels, K, kernel_size)
        self.theta = nn.Parameter(torch.rand(K))
        self.lam3 = nn.Parameter(torch.rand(()))
        self.blocks = nn.ModuleList(LLRRBlock(K, channels, kernel_size) for _ in range(blocks))

    @classmethod
    def from_problem(cls, problem, blocks: int = 4, *, mu: float | None = None,
                     image_shape: tuple[int, int] | None = None) -> LLRRBranch:
        """The branch equal to :func:`solvers.conv_algorithm1` (reflect boundary) on ``problem`` before training.

        C0 and every C2 get the weights ``mu d_k`` (correlation: analysis), every C1 the flipped atoms (a torch
        convolution is a correlation, so this is the true convolution of the synthesis), biases 0,
        ``theta = mu (lam1; lam2)`` and ``lam3 = 1 - problem.lam3`` (Eq. 7's hat lambda3). ``mu`` defaults to the
        problem's step for ``image_shape``. Parameters take the problem's dtype.
        """
        if mu is None:
            if problem.mu is None and image_shape is None:
                raise ValueError("give mu or image_shape (the default step depends on the image size)")
            mu = problem.step(image_shape)
        first = LLRRBlock.from_problem(problem, mu)  # checks the boundary
        K, s = problem.n_atoms, problem.size
        branch = cls(problem.n_low, 1, s, blocks, n_sparse=K - problem.n_low).to(first.c2.conv.weight.dtype)
        with torch.no_grad():
            branch.c0.load_state_dict(first.c2.state_dict())  # Z_0 = h(C2 * X): C0 is the analysis
            for block in branch.blocks:
                block.load_state_dict(first.state_dict())
            branch.theta.copy_(torch.from_numpy(problem.thresholds(mu).astype(np.float64)))
            branch.lam3.fill_(1.0 - problem.lam3)
        return branch

    def iterates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Z_0 .. Z_T, each (N, K, H, W)."""
        z = soft_threshold(self.c0(x), self.theta)
        out = [z]
        for block in self.blocks:
            z = block(x, z, self.theta, self.lam3)
            out.append(z)
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = soft_threshold(self.c0(x), self.theta)
        for block in self.blocks:
            z = block(x, z, self.theta, self.lam3)
        return z[:, : self.n], z[:, self.n :]


class Conv8Branch(nn.Module):
    """Ablation extractor: eight plain convolutions (no activation) producing 2n maps."""

    def __init__(self, n: int = 128, channels: int = 1, kernel_size: int = 3, blocks: int = 4):
        super().__init__()
        self.n = n
        self.layers = nn.Sequential(PaddedConv(channels, 2 * n, kernel_size),
                                    *(PaddedConv(2 * n, 2 * n, kernel_size) for _ in range(7)))

    def forward(self, x):
        z = self.layers(x)
        return z[:, : self.n], z[:, self.n :]


class _DenseBlock(nn.Module):
    def __init__(self, n: int, growth: int, kernel_size: int, last: bool):
        super().__init__()
        self.c1 = PaddedConv(n, growth, kernel_size)
        self.c2 = PaddedConv(n + growth, growth, kernel_size)
        self.squeeze = None if last else PaddedConv(n + 2 * growth, n, 1)

    def forward(self, x):
        x = torch.cat([x, self.c1(x)], 1)
        x = torch.cat([x, self.c2(x)], 1)
        return x if self.squeeze is None else self.squeeze(x)


class DenseBranch(nn.Module):
    """Ablation extractor: a convolution to n maps, then T dense blocks (growth n/2; the last keeps its 2n maps)."""

    def __init__(self, n: int = 128, channels: int = 1, kernel_size: int = 3, blocks: int = 4):
        super().__init__()
        if n % 2:
            raise ValueError(f"the dense extractor needs an even n, got {n}")
        self.n = n
        self.c0 = PaddedConv(channels, n, kernel_size)
        self.blocks = nn.ModuleList(_DenseBlock(n, n // 2, kernel_size, i == blocks - 1) for i in range(blocks))

    def forward(self, x):
        z = self.c0(x)
        for block in self.blocks:
            z = block(z)
        return z[:, : self.n], z[:, self.n :]


class Decoder(nn.Module):
    """Four convolutions (IR/VI x low-rank/sparse maps -> images) and the two fusion convolutions.

    The low-rank convolutions take n maps, the sparse ones ``n_sparse`` (default n).
    """

    def __init__(self, n: int = 128, channels: int = 1, kernel_size: int = 3, fusion: str = "cat",
                 n_sparse: int | None = None):
        super().__init__()
        self.fusion = fusion
        n_sparse = n if n_sparse is None else n_sparse
        self.ir_low = PaddedConv(n, channels, kernel_size)
        self.ir_sparse = PaddedConv(n_sparse, channels, kernel_size)
        self.vi_low = PaddedConv(n, channels, kernel_size)
        self.vi_sparse = PaddedConv(n_sparse, channels, kernel_size)
        width = 2 * channels if fusion == "cat" else channels
        self.fuse_low = PaddedConv(width, channels, kernel_size)
        self.fuse_sparse = PaddedConv(width, channels, kernel_size)

    def _merge(self, a, b):
        return torch.cat([a, b], 1) if self.fusion == "cat" else a + b

    def forward(self, ir_l, ir_s, vi_l, vi_s) -> dict[str, torch.Tensor]:
        parts = {"ir_low": self.ir_low(ir_l), "ir_sparse": self.ir_sparse(ir_s),
                 "vi_low": self.vi_low(vi_l), "vi_sparse": self.vi_sparse(vi_s)}
        parts["low"] = self.fuse_low(self._merge(parts["ir_low"], parts["vi_low"]))
        parts["sparse"] = self.fuse_sparse(self._merge(parts["ir_sparse"], parts["vi_sparse"]))
        parts["fused"] = parts["low"] + parts["sparse"]
        return parts


_BRANCHES = {"llrr": LLRRBranch, "conv8": Conv8Branch, "dense": DenseBranch}


class LRRNet(nn.Module):
    """The fusion network of Fig. 3. ``forward(ir, vi)`` returns the fused image (N, C, H, W), unclamped.

    Parameters
    ----------
    config : LRRNetConfig, optional
        Architecture; keyword arguments override its fields (``LRRNet(blocks=6)``). Overriding ``n`` alone keeps
        ``n_sparse`` equal to the new n when it was equal to the old one.

    Examples
    --------
    >>> net = LRRNet()
    >>> sum(p.numel() for p in net.parameters())
    49204
    >>> LRRNet(blocks=2, n=8)(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)).shape
    torch.Size([1, 1, 16, 16])
    """

    def __init__(self, config: LRRNetConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = LRRNetConfig(**overrides)
        elif overrides:
            if "n" in overrides and "n_sparse" not in overrides and config.n_sparse == config.n:
                overrides["n_sparse"] = None  # n_sparse follows n, as in a fresh config
            config = replace(config, **overrides)
        self.config = config
        Branch = _BRANCHES[config.extractor]
        args = (config.n, config.channels, config.kernel_size, config.blocks)
        extra = {"n_sparse": config.n_sparse} if Branch is LLRRBranch else {}
        self.ir = Branch(*args, **extra)
        self.vi = Branch(*args, **extra)
        self.decoder = Decoder(config.n, config.channels, config.kernel_size, config.fusion, config.n_sparse)

    def decompose(self, ir: torch.Tensor, vi: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate: coefficient maps (``ir_L``, ``ir_S``, ``vi_L``, ``vi_S``), the part images, the fused
        low-rank and sparse images and ``fused``."""
        if ir.shape != vi.shape:
            raise ValueError(f"ir and vi must have the same shape, got {tuple(ir.shape)} and {tuple(vi.shape)}")
        ir_l, ir_s = self.ir(ir)
        vi_l, vi_s = self.vi(vi)
        parts = self.decoder(ir_l, ir_s, vi_l, vi_s)
        parts.update(ir_L=ir_l, ir_S=ir_s, vi_L=vi_l, vi_S=vi_s)
        return parts

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
        return self.decompose(ir, vi)["fused"]
