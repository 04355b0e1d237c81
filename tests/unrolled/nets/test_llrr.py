"""Before training, the patch-exact LLRR network IS Algorithm 1 on patches, step by step; training moves it."""

import numpy as np
import pytest
import torch

from solvers import LowRankSparseProblem, algorithm1, extract_patches, fold_patches
from solvers.dictionary import dct_atoms
from unrolled.nets.llrr import PatchLLRRNet

from ...conftest import load_grey, shared_path
from .._training import grads_and_steps

# The network (torch) and the solver (numpy) compute the same T <= 4 steps, each a product with up to 128 atoms
# plus a fold over overlapping patches: float32 u = 6e-8 x depth ~150 -> 1e-5 (measured 1e-6 of max|Z| ~ 1);
# float64 1.1e-16 x 150 -> 2e-14 (1e-10 is loose). Values are scaled to max|Z| >= 1 before comparing.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}


def _check_patch_net(img, dtype, size, stride, T=4, lam=(0.03, 0.01, 0.05)):
    D = dct_atoms(size * size, 2 * size * size).astype(dtype)
    n_low = size * size // 4
    prob = LowRankSparseProblem(D[:, :n_low], D[:, n_low:], lam1=lam[0], lam2=lam[1], lam3=lam[2])
    img = img.astype(dtype)
    ref = algorithm1(extract_patches(img, size, stride), prob.D1, prob.D2, lam1=lam[0], lam2=lam[1], lam3=lam[2],
                     n_iter=T, return_iterates=True)
    net = PatchLLRRNet.from_problem(prob, size, stride, blocks=T)
    x = torch.from_numpy(img)[None, None]
    with torch.no_grad():
        its = net.iterates(x)
        low, sparse = net(x)
    assert len(its) == T + 1
    scale = max(1.0, float(np.abs(ref.iterates[-1]).max()))
    for t, (z, zr) in enumerate(zip(its, ref.iterates, strict=True)):
        got = z[0].reshape(z.shape[1], -1).numpy()
        assert got.dtype == dtype
        np.testing.assert_allclose(got / scale, zr / scale, err_msg=f"step {t}", **TOL[dtype])
    np.testing.assert_allclose(low[0, 0].numpy(), fold_patches(ref.low_rank, img.shape, size, stride), **TOL[dtype])
    np.testing.assert_allclose(sparse[0, 0].numpy(), fold_patches(ref.sparse, img.shape, size, stride), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "stride"), [((28, 36), 1), ((28, 36), 4), ((29, 35), 3)])  # last: border patches
def test_patch_net_equals_algorithm1_on_synthetic_data(rng, dtype, shape, stride):
    _check_patch_net(rng.random(shape), dtype, size=4, stride=stride)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stride", [1, 4, 5])
def test_patch_net_equals_algorithm1_on_the_demo_image(demo_vi, dtype, stride):
    _check_patch_net(demo_vi[40:88, 100:164] / 255.0, dtype, size=8, stride=stride)


@pytest.mark.shared
@pytest.mark.parametrize("stride", [1, 4])
def test_patch_net_equals_algorithm1_on_tno21(stride):
    img = load_grey(shared_path("data", "tno21", "ir", "03.png"))[100:164, 200:272] / 255.0
    _check_patch_net(img, np.float64, size=8, stride=stride)


def test_untied_starts_equal_to_tied_and_everything_learns(rng):
    D = dct_atoms(16, 24)
    prob = LowRankSparseProblem(D[:, :4], D[:, 4:], lam1=0.02, lam2=0.01)
    x = torch.from_numpy(rng.random((1, 1, 12, 12)))
    tied = PatchLLRRNet.from_problem(prob, 4, 2, blocks=3)
    untied = PatchLLRRNet.from_problem(prob, 4, 2, blocks=3, tied=False)
    assert len(untied.g) == 3 and len(tied.g) == 1
    with torch.no_grad():  # the same float64 operations (measured equal; assert_close's float64 default 1e-7)
        torch.testing.assert_close(untied.iterates(x)[-1], tied.iterates(x)[-1])

    def loss_fn():
        low, sparse = untied(x)
        return ((low + sparse - x) ** 2).mean() + 1e-3 * sparse.abs().mean()

    first, last = grads_and_steps(untied, loss_fn, steps=20)
    assert last < 0.75 * first  # training makes progress (a factor, far beyond rounding)


def test_patch_net_rejects_bad_geometry():
    D = dct_atoms(16, 24)
    net = PatchLLRRNet.from_problem(LowRankSparseProblem(D[:, :4], D[:, 4:], lam1=0.1, lam2=0.1), 4, 3)
    with pytest.raises(ValueError, match=r"\(3, 12\) is smaller than the patch size 4"):
        net.iterates(torch.zeros(1, 1, 3, 12, dtype=torch.float64))
    with pytest.raises(ValueError, match="rows"):
        PatchLLRRNet.from_problem(LowRankSparseProblem(D[:, :4], D[:, 4:], lam1=0.1, lam2=0.1), 5)
