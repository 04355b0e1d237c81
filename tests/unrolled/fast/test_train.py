"""The fast training path (unrolled.fast.train) computes the output and every gradient eager autograd computes.

The soft threshold makes the gradient discontinuous where ``|P| = theta`` (and the output where ``P = 0`` for a
negative theta): a value within rounding of such a kink may fall on either side in two float32 implementations, and
one such element moves a parameter's gradient by far more than 1e-4 of its scale. So float64 compares everything at
the sizes of a real test (batch 2, 20 x 24), and float32 compares the gradients on inputs whose every pre-threshold
value is at least ``MARGIN`` from a kink (checked in float64), where any correct float32 computation must agree.
Optimiser trajectories are compared in float64 too (``test_adam_steps_give_the_eager_losses_and_gradients_float64``
says why); float32 keeps the checks that are well posed there: a forward pass, and the descent.
"""

import copy

import pytest
import torch

from unrolled import LRRNet
from unrolled.fast.train import fast_train_forward, fast_train_supported, fast_train_unsupported_reason
from unrolled.nets.threshold import soft_threshold

from .conftest import realistic

MARGIN = 1e-5  # 20x the largest float32 error of a pre-threshold value seen at these sizes (5e-7)
# float32 gradients away from the kinks: unit roundoff 6e-8 x depth ~100 of the forward and its adjoint (11
# convolutions in sequence, sums of up to 9 x 256 products) -> ~1e-5 of each tensor's largest entry (measured 3e-6);
# rtol 1e-4 of that largest entry leaves 10x
F32_RTOL = 1e-4


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Speed only: torch's thread pool costs milliseconds per tiny convolution on a loaded 2-core machine, and
    gradcheck runs thousands of them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _inputs(shape, seed: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(shape, generator=g, dtype=torch.float64).to(dtype) for _ in range(2))


def _grads(net, forward, ir, vi, loss=lambda out: out.square().mean()):
    """Output, parameter gradients and input gradients of ``loss(forward(net, ir, vi))``."""
    net.zero_grad(set_to_none=True)
    ir, vi = ir.clone().requires_grad_(), vi.clone().requires_grad_()
    out = forward(net, ir, vi)
    loss(out).backward()
    grads = {name: p.grad.clone() for name, p in net.named_parameters()}
    return out.detach(), grads, (ir.grad, vi.grad)


def _eager(net, ir, vi):
    return net(ir, vi)


def kink_margin(net: LRRNet, ir, vi) -> float:
    """The smallest distance (float64) of a pre-threshold value P_t of either branch from a kink of h_theta."""
    margin = float("inf")
    with torch.no_grad():
        for branch, x in ((copy.deepcopy(net.ir).double(), ir), (copy.deepcopy(net.vi).double(), vi)):
            theta = branch.theta.reshape(1, -1, 1, 1)
            x = x.double()
            p = branch.c0(x)
            for t in range(len(branch.blocks) + 1):
                gap = torch.minimum((p.abs() - theta).abs(), torch.where(theta < 0, p.abs(), torch.inf))
                margin = min(margin, gap.min().item())
                if t < len(branch.blocks):
                    z, block = soft_threshold(p, branch.theta), branch.blocks[t]
                    p = branch.lam3 * z + block.c2(x - block.c1(z))
    return margin


def well_conditioned_inputs(net: LRRNet, shape):
    """The first seeded pair of inputs whose pre-threshold values all keep ``MARGIN`` from the kinks."""
    for seed in range(200):
        ir, vi = _inputs(shape, seed)
        if kink_margin(net, ir, vi) >= MARGIN:
            return ir, vi
    raise AssertionError(f"no seed in 200 gives inputs of shape {shape} a kink margin of {MARGIN}")


def assert_same_gradients(net, ir, vi, rtol=F32_RTOL):
    out, grads, d_in = _grads(net, fast_train_forward, ir, vi)
    ref_out, ref_grads, ref_in = _grads(net, _eager, ir, vi)
    torch.testing.assert_close(out, ref_out, rtol=rtol, atol=rtol * ref_out.abs().max().item())
    assert grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():
        assert ref.abs().max() > 0, name  # every parameter is reached (the comparison is not 0 == 0)
        torch.testing.assert_close(grads[name], ref, rtol=rtol, atol=rtol * ref.abs().max().item(), msg=name)
    for got, ref in zip(d_in, ref_in, strict=True):
        torch.testing.assert_close(got, ref, rtol=rtol, atol=rtol * ref.abs().max().item())


def test_gradcheck_float64():
    torch.manual_seed(0)
    net = realistic(LRRNet(n=4, blocks=2).double(), 1, torch.float64)
    ir, vi = _inputs((2, 1, 6, 7), 2, torch.float64)
    params = list(net.parameters())

    def f(ir, vi, *_):  # the parameters are inputs so that gradcheck perturbs them (they are the model's own)
        return fast_train_forward(net, ir, vi, threads=1)

    # float64 central differences with eps 1e-6: truncation ~eps^2 = 1e-12, rounding ~1e-16 / eps = 1e-10 of the
    # outputs (~1), both far below atol 1e-7 (no value of P lies within eps of a kink at this seed)
    assert torch.autograd.gradcheck(f, (ir.requires_grad_(), vi.requires_grad_(), *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("config, shape", [
    (dict(n=4, blocks=2), (3, 1, 9, 5)),
    (dict(n=3, blocks=1, fusion="add"), (2, 1, 7, 8)),
    (dict(n=5, blocks=3), (1, 1, 2, 3)),  # the smallest image reflection padding allows
    (dict(n=4, n_sparse=7, blocks=2), (2, 1, 8, 9)),  # sparse maps other than n (Algorithm 1's initialisation)
])
def test_float64_equals_eager(config, shape):
    torch.manual_seed(3)
    net = realistic(LRRNet(**config).double(), 4, torch.float64)
    # float64: 1.1e-16 x depth ~1e2 (these nets: <= 3 blocks of <= 10 channels) x 10-100 for cancellation
    assert_same_gradients(net, *_inputs(shape, 5, torch.float64), rtol=1e-10)


@pytest.mark.parametrize("which", ["random", pytest.param("official", marks=pytest.mark.shared)])
def test_float64_default_architecture_equals_eager(which, request):
    net = copy.deepcopy(request.getfixturevalue(f"{which}_net")).double()
    assert fast_train_supported(net)
    # float64: 1.1e-16 x depth ~1e3-1e4 (4 blocks, sums of 9 x 256 products) -> 1e-12 (measured 1e-14)
    assert_same_gradients(net, *_inputs((2, 1, 20, 24), 6, torch.float64), rtol=1e-9)


@pytest.mark.parametrize("which", ["random", pytest.param("official", marks=pytest.mark.shared)])
def test_float32_default_architecture_equals_eager(which, request):
    net = request.getfixturevalue(f"{which}_net")
    assert fast_train_supported(net)
    assert_same_gradients(net, *well_conditioned_inputs(net, (2, 1, 5, 6)))
    ir, vi = _inputs((2, 1, 20, 24), 6)  # any inputs: the output is continuous but at P = 0 for theta < 0
    with torch.no_grad():  # a float32 forward: F32_RTOL (measured 5e-7 of the largest output)
        ref = net(ir, vi)
        torch.testing.assert_close(fast_train_forward(net, ir, vi), ref, rtol=F32_RTOL,
                                   atol=F32_RTOL * ref.abs().max())


def _adam_run(net0, forward, dtype, steps=4):
    """Losses and parameter gradients of ``steps`` Adam steps (lr 1e-3) of a copy of ``net0`` in ``dtype``."""
    net = copy.deepcopy(net0).to(dtype)
    ir, vi = _inputs((2, 1, 16, 20), 7, dtype)
    target = (ir + vi) / 2
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses, grads = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = (forward(net, ir, vi) - target).square().mean()
        loss.backward()
        grads.append({name: p.grad.clone() for name, p in net.named_parameters()})
        opt.step()
        losses.append(loss.item())
    return losses, grads


def test_adam_steps_give_the_eager_losses_and_gradients_float64(random_net):
    """Four optimiser steps through the fast path (its saved maps reused from step to step) follow eager's
    trajectory.

    Compared in float64: Adam's first steps are about lr sign(g), so a gradient component whose rounding error
    exceeds its size can flip sign and become a whole lr-sized difference; float32 trajectories of the two paths once
    differed by 1.3e-4 after 4 steps this way. In float64 a flip needs a component within ~1e-16 of its tensor's
    scale of zero (float32: 6e-8, 5e8 times likelier), and otherwise the steps follow the gradients smoothly:
    gradients agreeing to float64 rounding x depth (1.1e-16 x 1e3-1e4 for sums of 9 x 256 products; measured 1e-14
    of their largest entry) give losses agreeing to about as much (measured 2e-16). rtol 1e-9 (of each gradient's
    largest entry) keeps >= 1e4 margin, and a gradient off by more than 1e-9 of its scale fails at its first step.
    """
    fast, fast_grads = _adam_run(random_net, fast_train_forward, torch.float64)
    eager, eager_grads = _adam_run(random_net, _eager, torch.float64)
    torch.testing.assert_close(torch.tensor(fast), torch.tensor(eager), rtol=1e-9, atol=0)  # float64: docstring
    for step, (got, ref) in enumerate(zip(fast_grads, eager_grads, strict=True)):
        assert got.keys() == ref.keys()
        for name in ref:  # the gradients themselves: Adam's steps hardly depend on their scale
            assert ref[name].abs().max() > 0, name
            torch.testing.assert_close(got[name], ref[name], rtol=1e-9, atol=1e-9 * ref[name].abs().max().item(),
                                       msg=lambda m, step=step, name=name: f"step {step}, {name}: {m}")


def test_adam_steps_float32_first_loss_and_descent(random_net):
    """float32 only where it is well posed: the first loss is a forward pass, and the loss goes down.

    The first loss: float32 unit roundoff 6e-8 x depth ~100 of the 4-block network (11 convolutions in sequence,
    sums of up to 9 x 256 products) -> rtol 1e-5 (measured: the outputs agree to 5e-7 of their largest value, the
    losses to 1e-7). The later losses are not compared (see the float64 test): only the descent over 4 steps,
    0.37 -> 0.03, a factor far beyond float32 rounding of the trajectory (1e-4).
    """
    fast, _ = _adam_run(random_net, fast_train_forward, torch.float32)
    eager, _ = _adam_run(random_net, _eager, torch.float32, steps=1)
    assert fast[0] == pytest.approx(eager[0], rel=1e-5, abs=0)  # float32 forward: docstring
    assert fast[-1] < fast[0] / 2


def test_threads_change_nothing(random_net):
    ir, vi = _inputs((3, 1, 11, 13), 8)
    one = _grads(random_net, lambda *a: fast_train_forward(*a, threads=1), ir, vi)
    three = _grads(random_net, lambda *a: fast_train_forward(*a, threads=3), ir, vi)
    # bitwise: every (branch, image) task writes its own arrays, summed in a fixed order afterwards
    torch.testing.assert_close(one[0], three[0], rtol=0, atol=0)
    for name in one[1]:
        torch.testing.assert_close(one[1][name], three[1][name], rtol=0, atol=0, msg=name)


def test_a_retained_graph_backwards_again_until_a_forward_reuses_its_maps():
    net = realistic(LRRNet(n=4, blocks=1), 9, torch.float64)
    ir, vi = _inputs((1, 1, 5, 6), 10)
    first = fast_train_forward(net, ir, vi).sum()
    first.backward(retain_graph=True)
    once = [p.grad.clone() for p in net.parameters()]
    first.backward(retain_graph=True)  # the saved maps are intact: gradients accumulate as eager's would
    for p, g in zip(net.parameters(), once, strict=True):  # the same gradient again, and g + g == 2 g exactly
        torch.testing.assert_close(p.grad, 2 * g, rtol=0, atol=0)
    fast_train_forward(net, ir, vi).sum().backward()  # takes (and overwrites) the maps given back
    with pytest.raises(RuntimeError, match="cannot backward a second time"):
        first.backward()


def test_hooks_are_refused():
    net = LRRNet(n=4, blocks=1)
    net.ir.c0.register_forward_hook(lambda *a: None)
    assert "hooks" in fast_train_unsupported_reason(net)


@pytest.mark.parametrize("ir, vi, match", [
    (torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9), "same shape"),
    (torch.zeros(1, 8, 8), torch.zeros(1, 8, 8), r"\(N, 1, H, W\)"),
    (torch.zeros(1, 1, 8, 8, dtype=torch.float64), torch.zeros(1, 1, 8, 8, dtype=torch.float64), "torch.float32"),
    (torch.zeros(1, 1, 1, 8), torch.zeros(1, 1, 1, 8), "2 x 2"),
])
def test_bad_inputs_are_refused(ir, vi, match):
    with pytest.raises(ValueError, match=match):
        fast_train_forward(LRRNet(n=4, blocks=1), ir, vi)
