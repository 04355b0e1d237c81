"""Algorithm 1 unrolled into a network, patch for patch (Section 3.2): built from a :mod:`solvers` problem.

Before any training, ``PatchLLRRNet.from_problem(problem, size, stride, T)`` computes exactly what
:func:`solvers.algorithm1` computes on ``extract_patches(image, size, stride)``, at every step t = 0..T:

* ``C0``: a ``size x size`` convolution at the patch stride with weights :math:`W_e = \\mu D^T` (no bias): its output
  at patch position p is :math:`B_p = \\mu D^T x_p`;
* each block: :math:`Z_t = h_\\theta(B + (1 - \\lambda_3) Z_{t-1} + G * Z_{t-1})` with ``G`` a 1x1 convolution of
  weight :math:`-\\mu D^TD`, i.e. :math:`H = \\hat\\lambda_3 I - \\mu D^TD` of Algorithm 1;
* per-channel thresholds :math:`\\theta = \\mu(\\lambda_1; \\lambda_2)`;
* the decoder: D1 and D2 as transposed convolutions (``size x size`` kernels at the stride) that overlap-add the
  patches, divided by the number of patches covering each pixel, exactly as :func:`solvers.fold_patches` averages.

Everything is learnable: ``theta``, ``lam3``, ``C0``, the ``G`` of every block (shared by all blocks with
``tied=True``, one per block otherwise) and the two decoder dictionaries.

Patch geometry: exactly that of :func:`solvers.extract_patches`, for any image size: corners at ``0, stride,
2 stride, ...`` plus, when the grid does not reach the border, one patch flush with it. On a regular grid
(``(H - size) % stride == 0``, always for stride 1) C0 is a strided convolution and the decoder a strided transposed
convolution; otherwise C0 is evaluated at stride 1 and sampled at the patch corners, and the decoder places the
coefficients at their corners on the stride-1 grid before the transposed convolution (same results, more work).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from solvers import LowRankSparseProblem
from solvers.patches import patch_positions

from .threshold import soft_threshold

__all__ = ["PatchLLRRNet"]


class PatchLLRRNet(nn.Module):
    """Algorithm 1 as a network on patch maps (module docstring).

    Parameters
    ----------
    n_low, n_sparse : int
        Atoms of D1 and D2.
    size, stride : int
        Patch geometry.
    blocks : int
        T, the number of iterations after Z_0.
    tied : bool
        One ``G`` shared by all blocks (as Algorithm 1) or one per block.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import LowRankSparseProblem, algorithm1, extract_patches
    >>> from solvers.dictionary import dct_atoms
    >>> D = dct_atoms(16, 24)
    >>> prob = LowRankSparseProblem(D[:, :4], D[:, 4:], lam1=0.05, lam2=0.02)
    >>> img = np.random.default_rng(0).random((10, 12))
    >>> net = PatchLLRRNet.from_problem(prob, size=4, stride=2, blocks=3)
    >>> Z = net.codes(torch.from_numpy(img)[None, None])
    >>> ref = algorithm1(extract_patches(img, 4, 2), D[:, :4], D[:, 4:], lam1=0.05, lam2=0.02, n_iter=3).Z
    >>> bool(np.allclose(Z, ref, atol=1e-12))
    True
    """

    def __init__(self, n_low: int, n_sparse: int, size: int, stride: int = 1, blocks: int = 4, tied: bool = True):
        super().__init__()
        if not 1 <= stride <= size:
            raise ValueError(f"stride must be between 1 and the patch size {size}, got {stride}")
        K = n_low + n_sparse
        self.n_low, self.n_sparse, self.size, self.stride, self.tied = n_low, n_sparse, size, stride, tied
        self.c0 = nn.Conv2d(1, K, size, stride=stride, bias=False)
        n_g = 1 if tied else blocks
        self.g = nn.ModuleList(nn.Conv2d(K, K, 1, bias=False) for _ in range(n_g))
        self.n_blocks = blocks
        self.theta = nn.Parameter(torch.zeros(K))
        self.lam3 = nn.Parameter(torch.zeros(()))
        self.d1 = nn.ConvTranspose2d(n_low, 1, size, stride=stride, bias=False)
        self.d2 = nn.ConvTranspose2d(n_sparse, 1, size, stride=stride, bias=False)

    @classmethod
    def from_problem(cls, problem: LowRankSparseProblem, size: int, stride: int = 1, blocks: int = 4,
                     tied: bool = True) -> PatchLLRRNet:
        """The network equal to Algorithm 1 with ``problem``'s D1, D2, lambdas and mu, with parameters in the
        problem's dtype (float64 or float32)."""
        if problem.n_features != size * size:
            raise ValueError(f"the dictionaries have {problem.n_features} rows, patches of size {size} have "
                             f"{size * size} pixels")
        if problem.ridge:
            raise ValueError(f"Algorithm 1 takes its ridge from lam3; got a problem with ridge={problem.ridge}")
        net = cls(problem.n_low, problem.n_sparse, size, stride, blocks, tied)
        net = net.to(torch.float64 if problem.dtype == np.float64 else torch.float32)
        mu = problem.step
        D = problem.D.astype(np.float64)
        K = problem.n_atoms
        with torch.no_grad():
            net.c0.weight.copy_(torch.from_numpy(mu * D.T).reshape(K, 1, size, size))
            for g in net.g:
                g.weight.copy_(torch.from_numpy(-mu * D.T @ D).reshape(K, K, 1, 1))
            net.theta.copy_(torch.from_numpy(problem.thresholds(mu).astype(np.float64)))
            net.lam3.fill_(problem.lam3)
            net.d1.weight.copy_(torch.from_numpy(problem.D1.T.astype(np.float64)).reshape(-1, 1, size, size))
            net.d2.weight.copy_(torch.from_numpy(problem.D2.T.astype(np.float64)).reshape(-1, 1, size, size))
        return net

    def _geometry(self, x: torch.Tensor):
        """Patch corners along each axis, and whether they form the regular strided grid."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected images of shape (N, 1, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h < self.size or w < self.size:
            raise ValueError(f"image size {(h, w)} is smaller than the patch size {self.size}")
        rows, cols = patch_positions(h, self.size, self.stride), patch_positions(w, self.size, self.stride)
        regular = (h - self.size) % self.stride == 0 and (w - self.size) % self.stride == 0
        return rows, cols, regular

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        rows, cols, regular = self._geometry(x)
        if regular:
            return self.c0(x)
        full = F.conv2d(x, self.c0.weight)  # every position, then the patch corners
        return full[:, :, torch.as_tensor(rows)][:, :, :, torch.as_tensor(cols)]

    def iterates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Coefficient maps Z_0 .. Z_T, each (N, K, n_rows, n_cols)."""
        b = self._encode(x)
        z = soft_threshold(b, self.theta)
        out = [z]
        keep = 1.0 - self.lam3
        for t in range(self.n_blocks):
            g = self.g[0 if self.tied else t]
            z = soft_threshold(b + keep * z + g(z), self.theta)
            out.append(z)
        return out

    def codes(self, x: torch.Tensor, t: int = -1) -> np.ndarray:
        """Z_t of the first image as the solvers' matrix (n_atoms, n_patches), patches in row-major order."""
        with torch.no_grad():
            z = self.iterates(x)[t][0]
        return z.reshape(z.shape[0], -1).cpu().numpy()

    def _fold(self, weight: torch.Tensor, z: torch.Tensor, geometry, shape) -> torch.Tensor:
        rows, cols, regular = geometry
        ones = torch.ones((1, 1) + z.shape[-2:], dtype=z.dtype, device=z.device)
        box = torch.ones((1, 1, self.size, self.size), dtype=z.dtype, device=z.device)
        if regular:
            out = F.conv_transpose2d(z, weight, stride=self.stride)
            count = F.conv_transpose2d(ones, box, stride=self.stride)
        else:  # place the coefficients at their corners on the stride-1 grid, then overlap-add
            grid = (shape[0] - self.size + 1, shape[1] - self.size + 1)
            r, c = torch.as_tensor(rows)[:, None], torch.as_tensor(cols)[None, :]
            zz = z.new_zeros(z.shape[:2] + grid)
            zz[:, :, r, c] = z
            mask = z.new_zeros((1, 1) + grid)
            mask[:, :, r, c] = ones
            out, count = F.conv_transpose2d(zz, weight), F.conv_transpose2d(mask, box)
        return out[..., : shape[0], : shape[1]] / count[..., : shape[0], : shape[1]]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-rank and sparse images ``(fold(D1 L), fold(D2 S))``, each (N, 1, H, W)."""
        geometry = self._geometry(x)
        z = self.iterates(x)[-1]
        shape = x.shape[-2:]
        return (self._fold(self.d1.weight, z[:, : self.n_low], geometry, shape),
                self._fold(self.d2.weight, z[:, self.n_low :], geometry, shape))
