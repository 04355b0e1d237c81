"""The soft threshold of the LLRR blocks (unrolled.nets.threshold)."""

import numpy as np
import torch

from unrolled import soft_threshold


def test_soft_threshold_is_the_formula_also_for_negative_theta():
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    x[0, 2, 0, :3] = 0
    theta = torch.tensor([0.5, 0.0, -0.2, 1.5], dtype=torch.float64)
    ref = np.sign(x.numpy()) * np.maximum(np.abs(x.numpy()) - theta.numpy()[None, :, None, None], 0)
    np.testing.assert_array_equal(soft_threshold(x, theta).numpy(), ref)
    assert soft_threshold(x, theta)[0, 2, 0, 0] == 0  # zero stays zero under a negative threshold
