"""An LRRNet initialised from Algorithm 1 IS, before training, Algorithm 1 on each source and the average of its
reconstructions; built from training images it is deterministic, trainable and runs on the fast paths."""

import numpy as np
import pytest
import torch

from solvers import ConvProblem, conv_algorithm1, extract_patches
from solvers.dictionary import dct_atoms
from unrolled.fast.infer import fast_forward, fast_supported
from unrolled.fast.train import fast_train_forward, fast_train_supported
from unrolled.nets.lrrnet import LRRNetConfig
from unrolled.training.init import (
    lrrnet_from_problems,
    lrrnet_from_training_data,
    problems_from_training_data,
    sample_patches,
    set_decoder_mix,
)

from .._training import grads_and_steps

# float64 network vs float64 solver, T <= 4 steps of sums of <= 25 x 20 products: 1e-16 x depth ~100 -> 1e-14;
# 1e-10 is loose (values scaled to max|Z| >= 1 before comparing, as in test_unrolled_equals_solvers)
TOL64 = dict(rtol=1e-10, atol=1e-10)
# float32 fast kernels vs float32 eager torch: the two float32 computations of the same function (relative 1e-6
# measured for the released model in test_fast); 1e-5 of the output's scale leaves 10x
TOL32 = 1e-5


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Speed only: torch's thread pool costs milliseconds per tiny convolution on a loaded 2-core machine (the
    training test: 27 s with it, 0.5 s without)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _problem(seed: int, size: int, n_low: int, n_sparse: int, **kw) -> ConvProblem:
    """DCT atoms plus noise (no two alike), in float64."""
    rng = np.random.default_rng(seed)
    K = n_low + n_sparse
    f = dct_atoms(size * size, K).T.reshape(K, size, size) + 0.1 * rng.standard_normal((K, size, size))
    return ConvProblem(f, n_low, boundary="reflect", **kw)


def _crops(demo_ir, demo_vi, shape=(26, 33)):
    h, w = shape
    return demo_ir[100:100 + h, 150:150 + w] / 255.0, demo_vi[100:100 + h, 150:150 + w] / 255.0


def _assert_equals_algorithm1(net, problems, images, T, low=(0.5, 0.5), sparse=(0.5, 0.5)):
    """Every iterate of both branches, the four part images and the fused image (the ``low`` / ``sparse`` weighted
    sum of the parts), against the solver."""
    x = {name: torch.from_numpy(img)[None, None] for name, img in zip(("ir", "vi"), images, strict=True)}
    with torch.no_grad():
        parts = net.decompose(x["ir"], x["vi"])
    recon, fused_ref = [], 0.0
    for i, (name, p, img) in enumerate(zip(("ir", "vi"), problems, images, strict=True)):
        ref = conv_algorithm1(img, p.filters, p.n_low, lam1=p.lam1, lam2=p.lam2, lam3=p.lam3, mu=p.mu, n_iter=T,
                              return_iterates=True, track_objective=False)
        with torch.no_grad():
            its = getattr(net, name).iterates(x[name])
        assert len(its) == T + 1
        scale = max(1.0, float(np.abs(ref.Z).max()))
        for t, (z, zr) in enumerate(zip(its, ref.iterates, strict=True)):
            np.testing.assert_allclose(z[0].numpy() / scale, zr / scale, err_msg=f"{name} step {t}", **TOL64)
        np.testing.assert_allclose(parts[f"{name}_low"][0, 0].numpy(), ref.low_rank, **TOL64)
        np.testing.assert_allclose(parts[f"{name}_sparse"][0, 0].numpy(), ref.sparse, **TOL64)
        recon.append(ref.reconstruction)
        fused_ref = fused_ref + low[i] * ref.low_rank + sparse[i] * ref.sparse
    np.testing.assert_allclose(parts["fused"][0, 0].numpy(), fused_ref, **TOL64)
    if low == sparse == (0.5, 0.5):  # the default: the average of the two reconstructions
        np.testing.assert_allclose(parts["fused"][0, 0].numpy(), 0.5 * (recon[0] + recon[1]), **TOL64)


@pytest.mark.parametrize("fusion", ["cat", "add"])
@pytest.mark.parametrize(("size", "n_low", "n_sparse", "T"), [(3, 4, 8, 4), (5, 6, 6, 2)])
def test_network_from_problems_equals_algorithm1_and_averages_its_reconstructions(demo_ir, demo_vi, fusion, size,
                                                                                    n_low, n_sparse, T):
    lam = dict(lam1=0.02, lam2=0.01, lam3=0.1)
    p_ir = _problem(0, size, n_low, n_sparse, mu=0.04, **lam)
    p_vi = _problem(1, size, n_low, n_sparse, mu=0.03, **lam)  # another dictionary and step
    net = lrrnet_from_problems(p_ir, p_vi, blocks=T, fusion=fusion)
    assert net.config == LRRNetConfig(n=n_low, n_sparse=n_sparse, kernel_size=size, blocks=T, fusion=fusion)
    assert net.ir.theta.dtype == torch.float64
    _assert_equals_algorithm1(net, (p_ir, p_vi), _crops(demo_ir, demo_vi), T)


@pytest.mark.parametrize(("fusion", "low", "sparse"), [("cat", (0.2, 0.8), (0.3, 0.7)), ("cat", (0.0, 1.0), (1.0, 1.0)),
                                                       ("add", (0.8, 0.8), (1.5, 1.5))])
def test_decoder_weights_give_the_weighted_sum_of_the_algorithm1_parts(demo_ir, demo_vi, fusion, low, sparse):
    lam = dict(lam1=0.02, lam2=0.01, lam3=0.1)
    problems = (_problem(0, 3, 4, 8, mu=0.04, **lam), _problem(1, 3, 4, 8, mu=0.03, **lam))
    net = lrrnet_from_problems(*problems, blocks=2, fusion=fusion, low=low, sparse=sparse)
    _assert_equals_algorithm1(net, problems, _crops(demo_ir, demo_vi), 2, low, sparse)
    # set_decoder_mix on the default network gives the same weights
    other = set_decoder_mix(lrrnet_from_problems(*problems, blocks=2, fusion=fusion), low, sparse)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values(), strict=True))


def test_bad_decoder_weights_are_refused():
    p = _problem(0, 3, 4, 4, lam1=0.01, lam2=0.01, mu=0.1)
    with pytest.raises(ValueError, match=r"low must be a pair \(infrared weight, visible weight\), got 0.5"):
        lrrnet_from_problems(p, low=0.5)
    with pytest.raises(ValueError, match=r"sparse must not be \(0, 0\)"):
        lrrnet_from_problems(p, sparse=(0, 0))
    with pytest.raises(ValueError, match=r"low\[1\]"):
        lrrnet_from_problems(p, low=(0.5, -1.0))
    with pytest.raises(ValueError, match="with fusion='add' the decoder sums the two sources"):
        lrrnet_from_problems(p, fusion="add", low=(0.2, 0.8))
    from unrolled.nets.lrrnet import LRRNet

    with pytest.raises(ValueError, match="grey networks .* got channels=3"):
        set_decoder_mix(LRRNet(n=4, channels=3), (0.5, 0.5), (0.5, 0.5))


def test_one_problem_serves_both_branches_and_the_default_step_is_the_solvers(demo_ir, demo_vi):
    p = _problem(2, 3, 4, 4, lam1=0.01, lam2=0.02)
    images = _crops(demo_ir, demo_vi)
    net = lrrnet_from_problems(p, blocks=3, image_shape=images[0].shape)
    mu = p.step(images[0].shape)
    _assert_equals_algorithm1(net, (p.replace(mu=mu),) * 2, images, 3)


def test_bad_problems_are_refused():
    p = _problem(0, 3, 4, 4, lam1=0.01, lam2=0.01, mu=0.1)
    with pytest.raises(ValueError, match=r"same \(n_low, n_sparse, atom size, dtype\), got \(4, 4, 3, 'float64'\) "
                                         r"and \(4, 5, 3, 'float64'\)"):
        lrrnet_from_problems(p, _problem(0, 3, 4, 5, lam1=0.01, lam2=0.01, mu=0.1))
    with pytest.raises(ValueError, match="at least one base and one salient atom"):
        lrrnet_from_problems(p.replace(n_low=8))
    with pytest.raises(ValueError, match="reflection"):
        lrrnet_from_problems(p.replace(boundary="zero"))
    with pytest.raises(ValueError, match="fusion must be one of"):
        lrrnet_from_problems(p, fusion="max")
    with pytest.raises(TypeError, match="must be a solvers.ConvProblem"):
        lrrnet_from_problems(p.filters)
    with pytest.raises(ValueError, match="give mu or image_shape"):
        lrrnet_from_problems(p.replace(mu=None))


SMALL = dict(n_low=6, n_sparse=10, core=(3, 8), patches=600, iterations=5)


@pytest.fixture(scope="module")
def training_images():
    from llrr.io import demo_pair, load_grey

    ir, vi = (load_grey(p) / 255.0 for p in demo_pair())
    return [ir[:135], ir[135:]], [vi[:, :180], vi[:, 180:]]


def test_network_from_training_data_is_algorithm1_with_the_learned_problems(training_images, demo_ir, demo_vi):
    problems = problems_from_training_data(*training_images, **SMALL, seed=3)
    net = lrrnet_from_training_data(*training_images, **SMALL, seed=3, blocks=3, dtype=torch.float64)
    same = lrrnet_from_problems(*problems, blocks=3)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), same.state_dict().values(), strict=True))
    _assert_equals_algorithm1(net, problems, _crops(demo_ir, demo_vi), 3)
    for p in problems:  # reflect boundary, the step of 128 x 128 crops (the Lipschitz bound), unit atoms, none alike
        assert p.boundary == "reflect" and p.mu == pytest.approx(1 / p.lipschitz_bound((128, 128)), rel=1e-12)
        atoms = p.filters.reshape(p.n_atoms, -1)
        norms = np.linalg.norm(atoms, axis=1)
        core = np.r_[0:3, 6:14]  # the learned atoms (core (3, 8)) are unit vectors, their copies jittered by ~0.1
        np.testing.assert_allclose(norms[core], 1.0, rtol=1e-12)
        assert np.all(np.abs(norms - 1) < 0.5)
        gram = np.abs(atoms @ atoms.T / np.outer(*(np.linalg.norm(atoms, axis=1),) * 2))
        assert gram[~np.eye(p.n_atoms, dtype=bool)].max() < 1 - 1e-6


def test_training_data_init_is_deterministic_for_a_seed(training_images):
    a, b, c = (lrrnet_from_training_data(*training_images, **SMALL, seed=s) for s in (0, 0, 1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a.ir.c0.conv.weight, c.ir.c0.conv.weight)
    # one dictionary per modality by default, one for both with shared=True
    assert not torch.equal(a.ir.c0.conv.weight, a.vi.c0.conv.weight)
    s = lrrnet_from_training_data(*training_images, **SMALL, shared=True)
    assert torch.equal(s.ir.c0.conv.weight, s.vi.c0.conv.weight)


def test_default_architecture_from_training_data_has_no_dead_channel(training_images, demo_ir, demo_vi):
    """The released architecture (256 atoms of 3 x 3): every channel of both branches codes some pixel of an image
    it was not built from (a channel that is zero everywhere gets no gradient, ever)."""
    net = lrrnet_from_training_data(*training_images)
    assert net.config == LRRNetConfig() and net.ir.theta.dtype == torch.float32
    assert sum(p.numel() for p in net.parameters()) == 49_204
    ir, vi = (torch.from_numpy(x.astype(np.float32))[None, None] for x in _crops(demo_ir, demo_vi, (64, 64)))
    with torch.no_grad():
        parts = net.decompose(ir, vi)
    for name in ("ir_L", "ir_S", "vi_L", "vi_S"):
        assert (parts[name].abs().amax(dim=(0, 2, 3)) > 0).all(), name


def test_it_trains(training_images):
    torch.manual_seed(0)
    net = lrrnet_from_training_data(*training_images, **SMALL, blocks=2)
    g = torch.Generator().manual_seed(0)
    ir, vi = torch.rand(2, 1, 20, 20, generator=g), torch.rand(2, 1, 20, 20, generator=g)
    target = torch.maximum(ir, vi)  # not the average the network starts from
    first, last = grads_and_steps(net, lambda: torch.nn.functional.mse_loss(net(ir, vi), target), steps=30,
                                  lr=1e-3)
    assert last < 0.5 * first  # training makes progress (a factor, far beyond rounding)


@pytest.mark.parametrize("n_sparse", [6, 10])
def test_fast_paths_run_the_initialised_network(training_images, demo_ir, demo_vi, n_sparse):
    net = lrrnet_from_training_data(*training_images, **{**SMALL, "n_sparse": n_sparse}).eval()
    assert fast_supported(net) and fast_train_supported(net)
    ir, vi = (torch.from_numpy(x.astype(np.float32))[None, None] for x in _crops(demo_ir, demo_vi, (30, 41)))
    with torch.no_grad():
        ref = net(ir, vi)
        train_out = fast_train_forward(net, ir, vi)
    out = fast_forward(net, ir, vi, threads=1)
    scale = float(ref.abs().max())
    np.testing.assert_allclose(out / scale, ref[0, 0].numpy() / scale, rtol=0, atol=TOL32)
    np.testing.assert_allclose(train_out.numpy() / scale, ref.numpy() / scale, rtol=0, atol=TOL32)


def test_sample_patches_are_patches_of_the_images():
    rng = np.random.default_rng(0)
    images = [rng.random((5, 7)), rng.random((9, 4))]
    X = sample_patches(images, 3, 4000, np.random.default_rng(1))
    assert X.shape == (9, 4000)
    hits = [np.all(extract_patches(img, 3)[:, :, None] == X[:, None, :], axis=0) for img in images]
    assert np.all(hits[0].sum(axis=0) + hits[1].sum(axis=0) == 1)  # each column is one patch of one image
    # every position equally likely: 15 of the 29 positions are in the first image (binomial sd 32: 5 sd)
    assert abs(hits[0].sum() - 4000 * 15 / 29) < 160
    assert np.all(hits[0].sum(axis=1) > 0) and np.all(hits[1].sum(axis=1) > 0)


def test_training_data_arguments_are_checked(training_images):
    ir, vi = training_images
    with pytest.raises(ValueError, match=r"core\[0\] must be <= kernel_size\*\*2 = 9"):
        problems_from_training_data(ir, vi, core=(10, 4))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        problems_from_training_data(ir, vi, kernel_size=4)
    with pytest.raises(ValueError, match=r"ir_images\[0\] of shape \(2, 5\) is smaller than the kernel"):
        problems_from_training_data([np.zeros((2, 5))], vi)
    with pytest.raises(ValueError, match="non-empty list"):
        problems_from_training_data([], vi)
    with pytest.raises(ValueError, match="distinct contrasted patches"):
        problems_from_training_data([np.tile([0.0, 1.0], (8, 8))], vi, **SMALL)
    with pytest.raises(ValueError, match="dtype must be"):
        lrrnet_from_training_data(ir, vi, dtype=torch.float16)
