"""Networks both fast paths are tested on: random weights with realistic thresholds, and the released checkpoint."""

import pytest
import torch

from unrolled import LRRNet, load_official_checkpoint

from ...conftest import shared_path

OFFICIAL = ("weights", "lrrnet_official_tno_block4.model")


def realistic(net: LRRNet, seed: int, dtype: torch.dtype = torch.float32) -> LRRNet:
    """Thresholds in the released model's range (some negative) and lam3 = 0.9, so that the thresholds act both ways
    and the maps are not all 0 (drawn in ``dtype``: the stream differs between float32 and float64); returns ``net``,
    changed in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for branch in (net.ir, net.vi):
            branch.theta.copy_(torch.rand(branch.theta.shape, generator=g, dtype=dtype) * 0.06 - 0.01)
            branch.lam3.fill_(0.9)
    return net


@pytest.fixture(scope="module")
def random_net():
    torch.manual_seed(0)
    return realistic(LRRNet(), 1).eval()


@pytest.fixture(scope="module")
def official_net():
    return load_official_checkpoint(shared_path(*OFFICIAL))
