r"""One step of the convolutional LLRR iteration (Eq. 8) as a torch module, and the padded convolution it uses.

.. math:: Z_t = h_\theta\big(C_2 * (X - C_1 * Z_{t-1}) + \lambda_3 Z_{t-1}\big)

``C1`` maps the 2n coefficient maps to the image channels (synthesis, :math:`D`), ``C2`` maps the residual back to
2n maps (analysis, :math:`\mu D^T`); both are reflection-padded "same" convolutions with bias, as in the authors'
code. As printed in Eq. 8 (and as the released model learns it), :math:`\lambda_3` multiplies :math:`Z_{t-1}`
directly; Algorithm 1's :math:`1 - \lambda_3` is recovered by initialising it to :math:`1 - \lambda_3`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .threshold import soft_threshold

__all__ = ["PaddedConv", "LLRRBlock"]


class PaddedConv(nn.Module):
    """Reflection padding by ``kernel_size // 2`` then a 2-D convolution with bias ("same" size output).

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' reflection padding, got {kernel_size}")
        self.pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class LLRRBlock(nn.Module):
    r"""One LLRR block (Eq. 8, Fig. 2): ``Z = h_theta(C2 * (X - C1 * Z) + lam3 * Z)``.

    The thresholds ``theta`` (one per coefficient channel) and the scalar ``lam3`` are passed in: the released model
    shares them between all blocks of a branch.

    Parameters
    ----------
    n_maps : int
        Coefficient channels 2n (low-rank then sparse).
    channels : int
        Image channels (1 for grey).
    kernel_size : int
    """

    def __init__(self, n_maps: int, channels: int = 1, kernel_size: int = 3):
        super().__init__()
        self.c1 = PaddedConv(n_maps, channels, kernel_size)  # synthesis D
        self.c2 = PaddedConv(channels, n_maps, kernel_size)  # analysis mu D^T

    @classmethod
    def from_problem(cls, problem, mu: float) -> LLRRBlock:
        """The block equal to one step of :func:`solvers.conv_algorithm1` (reflect boundary) on a
        :class:`solvers.ConvProblem`: C1 holds the flipped atoms (a torch convolution is a correlation, so this is
        the true convolution of the synthesis), C2 the atoms times mu (correlation: analysis), biases 0. The
        problem's dtype is kept."""
        if problem.boundary != "reflect":
            raise ValueError(f"LLRR blocks pad by reflection; the problem has boundary={problem.boundary!r}")
        f = problem.filters.astype(np.float64)
        K, s, _ = f.shape
        block = cls(K, 1, s).to(torch.float64 if problem.dtype == np.float64 else torch.float32)
        with torch.no_grad():
            block.c1.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(f[:, ::-1, ::-1])).reshape(1, K, s, s))
            block.c2.conv.weight.copy_(torch.from_numpy(mu * f).reshape(K, 1, s, s))
            block.c1.conv.bias.zero_()
            block.c2.conv.bias.zero_()
        return block

    def forward(self, x: torch.Tensor, z: torch.Tensor, theta: torch.Tensor, lam3: torch.Tensor) -> torch.Tensor:
        return soft_threshold(lam3 * z + self.c2(x - self.c1(z)), theta)
