"""The soft threshold of Eq. 9 for torch tensors: ``sign(x) * max(|x| - theta, 0)`` with one theta per channel.

Exactly the formula, also for a negative (learned) theta, which then expands instead of shrinking: this is not
``torch.nn.functional.softshrink`` (which requires theta >= 0). The released LRRNet checkpoint has thresholds down to
-0.006, so the difference is observable.
"""

from __future__ import annotations

import torch

__all__ = ["soft_threshold"]


def soft_threshold(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``sign(x) * clamp(|x| - theta, min=0)``, ``theta`` of shape (C,) broadcast over (N, C, H, W) or (C, P).

    Parameters
    ----------
    x : Tensor of shape (N, C, H, W) or (C, P)
    theta : Tensor of shape (C,)

    Examples
    --------
    >>> import torch
    >>> soft_threshold(torch.tensor([[-2.0, 0.0, 0.5, 2.0]]), torch.tensor([1.0]))
    tensor([[-1.,  0.,  0.,  1.]])
    """
    shape = (1, -1, 1, 1) if x.dim() == 4 else (-1, 1)
    return torch.sign(x) * torch.clamp(torch.abs(x) - theta.reshape(shape), min=0)
