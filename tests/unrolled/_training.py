"""A shared check for the unrolled networks: gradients reach every parameter, and Adam steps lower a loss."""

import torch


def grads_and_steps(model: torch.nn.Module, loss_fn, steps: int, lr: float = 1e-2) -> tuple[float, float]:
    """Assert every parameter gets a non-zero gradient from ``loss_fn()``, then take ``steps`` Adam steps.

    Returns (first loss, last loss).
    """
    loss = loss_fn()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name
    first = loss.item()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    return first, loss.item()
