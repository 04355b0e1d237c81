"""What the fast paths support: both refuse the same structures with a reason, each its own dtypes, and both say
why in the ValueError of their forward."""

import numpy as np
import pytest
import torch

from unrolled import LRRNet
from unrolled.fast.infer import fast_forward, fast_supported, fast_unsupported_reason
from unrolled.fast.support import runtime_reason, structure_reason
from unrolled.fast.train import fast_train_forward, fast_train_supported, fast_train_unsupported_reason

PATHS = {
    "inference": (fast_supported, fast_unsupported_reason, lambda net: fast_forward(net, np.zeros((30, 30)),
                                                                                 np.zeros((30, 30)))),
    "training": (fast_train_supported, fast_train_unsupported_reason,
                 lambda net: fast_train_forward(net, torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))),
}
STRUCTURES = [
    (lambda: LRRNet(extractor="conv8", n=4), "extractor='conv8'"),
    (lambda: LRRNet(extractor="dense", n=4, blocks=2), "extractor='dense'"),
    (lambda: LRRNet(kernel_size=5, n=4), "kernel_size=5"),
    (lambda: torch.nn.Identity(), "not an LRRNet"),
]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("make, reason", STRUCTURES + [
    (lambda: LRRNet(n=4).half(), "torch.float16"),
])
def test_unsupported_models_are_refused_with_the_reason(path, make, reason):
    supported, why, run = PATHS[path]
    net = make()
    assert not supported(net)
    assert reason in why(net)
    with pytest.raises(ValueError, match="does not support"):
        run(net)


def test_the_dtypes_differ_between_the_paths():
    net = LRRNet(n=4).double()
    assert "computes in torch.float32" in fast_unsupported_reason(net)
    assert fast_train_supported(net)
    assert "the fast training path computes in torch.float32 or torch.float64" in \
        fast_train_unsupported_reason(LRRNet(n=4).half())


def test_structure_and_runtime_checks_are_separate():
    net = LRRNet(n=4)
    assert structure_reason(net, "x") is None and runtime_reason(net, "x", (torch.float32,)) is None
    net.ir.theta.data = net.ir.theta.data.double()  # mixed dtypes: a runtime matter, not a structural one
    assert structure_reason(net, "x") is None
    assert "mix dtypes" in runtime_reason(net, "x", (torch.float32, torch.float64))
    handle = net.vi.c0.register_full_backward_hook(lambda *a: None)
    net.ir.theta.data = net.ir.theta.data.float()
    assert runtime_reason(net, "x", (torch.float32,)) is None  # inference runs no backward
    assert "hooks" in runtime_reason(net, "x", (torch.float32,), backward=True)
    handle.remove()
