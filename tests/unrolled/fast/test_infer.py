"""The fast inference path (unrolled.fast.infer) computes what the eager modules compute, for every size and strip
layout."""

import time

import numpy as np
import pytest
import torch

from unrolled import LRRNet
from unrolled.fast.infer import fast_branch, fast_forward, fast_supported, fast_unsupported_reason

from ...conftest import load_grey, shared_path
from .conftest import realistic


@pytest.fixture(params=["random", pytest.param("official", marks=pytest.mark.shared)])
def net(request):
    return request.getfixturevalue(f"{request.param}_net")


def eager(net, ir, vi) -> np.ndarray:
    with torch.inference_mode():
        t = [torch.from_numpy(np.asarray(a, np.float32))[None, None] for a in (ir, vi)]
        return net(*t)[0, 0].numpy()


def minmax(a):
    a = np.asarray(a, np.float64)
    return (a - a.min()) / (a.max() - a.min() + 1e-5)


def official_uint8(raw):
    return (minmax(raw) * 255.0).astype(np.uint8)


# Both sides are float32 (eps 6e-8) summed in different orders: each of the 2T + 3 = 11 layers of the default network
# adds sums of up to 9 x 256 = 2304 products, whose rounding grows like eps x sqrt(terms) ~ 3e-6 relative per layer,
# about 3e-5 through the depth in the worst case (measured: below 1e-5 of the output range). 1e-4 of the range
# leaves 3x margin over that bound and still fails on any wrong tap, threshold or reflection (errors of order 1).
FLOAT32_RANGE_TOL = 1e-4


def assert_close(fast, ref, tol=FLOAT32_RANGE_TOL):
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    err = np.abs(fast.astype(np.float64) - ref).max() / np.ptp(ref)
    assert err <= tol, f"fast path differs from eager by {err:.2e} of the output range"
    # truncation to uint8 turns any difference at an integer boundary into one level: at most 1, and rarely
    levels = np.abs(official_uint8(fast).astype(int) - official_uint8(ref))
    assert levels.max() <= 1 and (levels == 0).mean() > 0.99


@pytest.mark.parametrize("shape", [(23, 23), (31, 47), (64, 64), (100, 77), (2, 9), (7, 3)])
def test_equals_eager_on_random_inputs(net, shape, rng):
    ir, vi = rng.random(shape), rng.random(shape)
    assert_close(fast_forward(net, ir, vi), eager(net, ir, vi))


def test_equals_eager_on_a_large_image(random_net, rng):
    ir, vi = rng.random((256, 256)), rng.random((256, 256))
    ref = eager(random_net, ir, vi)
    assert_close(fast_forward(random_net, ir, vi), ref)
    assert_close(fast_forward(random_net, torch.from_numpy(ir)[None, None].float(), vi, strip=50), ref)


def test_equals_eager_on_the_demo_pair(net, demo_ir, demo_vi):
    ir, vi = minmax(demo_ir[60:180, 40:190]), minmax(demo_vi[60:180, 40:190])  # 120 x 150 crop, official scaling
    ref = eager(net, ir, vi)
    assert_close(fast_forward(net, ir, vi), ref)


@pytest.mark.shared
def test_equals_eager_on_a_tno_pair(official_net):
    ir = minmax(load_grey(shared_path("data", "tno21", "ir", "03.png"))[100:197, 200:331])
    vi = minmax(load_grey(shared_path("data", "tno21", "vi", "03.png"))[100:197, 200:331])
    assert_close(fast_forward(official_net, ir, vi), eager(official_net, ir, vi))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["01.png", "03.png", "11.png"])  # 270x360, 510x505 and 247x359 (odd) pixels
def test_reproduces_the_released_outputs(official_net, name):
    ir = load_grey(shared_path("data", "tno21", "ir", name))
    vi = load_grey(shared_path("data", "tno21", "vi", name))
    ref = load_grey(shared_path("data", "tno21", "ref_lrrnet", name)).astype(int)
    fused = official_uint8(fast_forward(official_net, minmax(ir), minmax(vi))).astype(int)
    diff = np.abs(fused - ref)  # the released images are uint8 truncations of another float32 run: 1 level, rarely
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.999


@pytest.mark.parametrize("strip, threads", [(1, 2), (7, 1), (33, 3), (1000, 2), (None, None), (None, 5)])
def test_strips_and_threads_change_nothing(random_net, strip, threads, rng):
    """Exact equality: every pixel is computed by one task in one fixed order, and no reduction crosses threads
    (with 5 threads the 140 rows are cut into two bands)."""
    ir, vi = rng.random((140, 97)), rng.random((140, 97))
    np.testing.assert_array_equal(fast_forward(random_net, ir, vi, strip=strip, threads=threads),
                                  fast_forward(random_net, ir, vi, threads=1))


@pytest.mark.parametrize("config", [dict(n=8, blocks=2), dict(n=5, blocks=1, fusion="add"), dict(n=16, blocks=7),
                                    dict(n=3, n_sparse=6, blocks=1), dict(n=7, n_sparse=2, blocks=2)])
def test_other_llrr_architectures(config, rng):
    torch.manual_seed(2)
    net = realistic(LRRNet(**config), 3)
    assert fast_supported(net)
    ir, vi = rng.random((37, 52)), rng.random((37, 52))
    assert_close(fast_forward(net, ir, vi), eager(net, ir, vi))


def test_branch_maps_equal_eager(random_net, rng):
    x = torch.from_numpy(rng.random((2, 1, 33, 29)).astype(np.float32))
    low, sparse = fast_branch(random_net.vi, x)
    with torch.inference_mode():
        ref_low, ref_sparse = random_net.vi(x)
    assert low.shape == ref_low.shape == (2, 128, 33, 29) and sparse.shape == ref_sparse.shape
    scale = max(ref_low.abs().max(), ref_sparse.abs().max())
    # the maps are 2T + 1 = 9 float32 layers deep (the decoder is not included): 1e-5 of their scale is 3x the
    # eps x sqrt(2304) x depth bound of FLOAT32_RANGE_TOL's comment for this depth
    torch.testing.assert_close(low, ref_low, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(sparse, ref_sparse, rtol=0, atol=1e-5 * scale)
    assert (ref_sparse == 0).any() and (ref_sparse != 0).any()  # the thresholds act: the test sees both cases
    in_strips = fast_branch(random_net.vi, x, strip=10)  # strips change which pixels a task computes, not how: exact
    torch.testing.assert_close(in_strips[0], low, rtol=0, atol=0)
    torch.testing.assert_close(in_strips[1], sparse, rtol=0, atol=0)


def test_branch_maps_with_more_sparse_than_low_rank_maps_equal_eager(rng):
    """n_sparse != n: the kernels order the channels by part (and threshold sign) and put each map back in place."""
    torch.manual_seed(5)
    net = realistic(LRRNet(n=3, n_sparse=6, blocks=2), 6).eval()
    x = torch.from_numpy(rng.random((1, 1, 21, 35)).astype(np.float32))
    low, sparse = fast_branch(net.ir, x)
    with torch.inference_mode():
        ref_low, ref_sparse = net.ir(x)
    assert low.shape == (1, 3, 21, 35) and sparse.shape == (1, 6, 21, 35)
    scale = max(ref_low.abs().max(), ref_sparse.abs().max())
    torch.testing.assert_close(low, ref_low, rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(sparse, ref_sparse, rtol=0, atol=1e-5 * scale)


def test_hooks_and_replaced_modules_are_refused():
    net = LRRNet(n=4)
    assert fast_supported(net)
    handle = net.ir.blocks[1].register_forward_hook(lambda *args: None)
    assert "hooks" in fast_unsupported_reason(net)
    handle.remove()
    net.decoder.fuse_low.pad = torch.nn.ZeroPad2d(1)
    assert "reflection" in fast_unsupported_reason(net)
    net.decoder.fuse_low.pad = torch.nn.ReflectionPad2d(1)
    assert fast_supported(net)
    net.ir.theta.requires_grad_(False)
    net.train()  # the flags do not change what the network computes
    assert fast_supported(net)


def test_bad_input(random_net):
    a = np.zeros((30, 31))
    with pytest.raises(ValueError, match=r"same shape, got \(30, 31\) and \(30, 30\)"):
        fast_forward(random_net, a, a[:, :30])
    with pytest.raises(ValueError, match="at least 2 x 2"):
        fast_forward(random_net, a[:1], a[:1])
    with pytest.raises(ValueError, match=r"\(H, W\) or \(1, 1, H, W\)"):
        fast_forward(random_net, np.zeros((2, 1, 30, 31)), np.zeros((2, 1, 30, 31)))
    nan = a.copy()
    nan[2, 3] = np.nan
    with pytest.raises(ValueError, match="vi contains non-finite"):
        fast_forward(random_net, a, nan)
    with pytest.raises(TypeError, match="dtype complex"):
        fast_forward(random_net, a.astype(complex), a)
    with pytest.raises(ValueError, match="strip"):
        fast_forward(random_net, a, a, strip=0)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        fast_forward(random_net, a, a, threads=1.5)
    with pytest.raises(ValueError, match="not an LLRRBranch"):
        fast_branch(LRRNet(extractor="conv8", n=4).ir, a)


def test_the_task_queue_cuts_strips_for_every_thread_and_stops_on_an_interrupt():
    from unrolled.fast import infer as fast

    # strips where a row is longer than MAX_STRIP, and more of them (down to MIN_STRIP columns) to give every thread
    # a task; then bands of rows where the rows are too short for that
    assert len(fast._strips(2 * fast.MAX_STRIP, 10, None)) == 2 and len(fast._strips(640, 10, None)) == 1
    assert len(fast._strips(640, 10, None, 2)) == 2 and len(fast._strips(640, 10, None, 8)) == 640 // fast.MIN_STRIP
    assert len(fast._strips(3 * fast.MAX_STRIP, 10, None, 2)) == 3  # never fewer than MAX_STRIP asks for
    assert len(fast._strips(640, 10, 100)) == 7 and len(fast._strips(640, 10, 100, 8)) == 7  # an explicit width
    bands = fast._bands(480, 10, 2, None, 8)  # 2 tasks (images x strips), 8 threads: 4 bands each
    assert len(bands) * 2 >= fast.TASKS_PER_THREAD * 8 and (bands[:, 3] - bands[:, 2]).min() >= 64
    assert bands[0, 0] == 0 and bands[-1, 1] == 480 and (bands[1:, 2] == bands[:-1, 3]).all()  # cover, no gap
    assert (bands[1:, 0] == bands[1:, 2] - 10).all()  # the overlap above each inner edge
    assert len(fast._bands(480, 10, 2, None, 1)) == 1  # one thread: no bands
    assert len(fast._bands(100, 10, 2, None, 8)) == 1  # and none under 64 rows
    assert len(fast._bands(480, 10, 2, 320, 8)) == 1  # nor with an explicit strip width
    done = []

    def job(k):
        if k == 1:
            raise KeyboardInterrupt
        time.sleep(0.01)  # 200 jobs on 2 threads would take 1 s; the interrupt comes after about 2 of them
        done.append(k)

    with pytest.raises(KeyboardInterrupt):
        fast.run_tasks(job, range(200), 2)
    time.sleep(0.1)
    assert len(done) < 100  # the jobs not yet started were cancelled (and none runs later)


@pytest.mark.parametrize("signs", ["positive", "negative", "mixed"])
def test_thresholds_of_either_sign_equal_eager(random_net, signs, rng):
    """A channel whose threshold is >= 0 takes the kernels' clamp form of the soft threshold, a negative one the
    general form; a branch may mix both (the shipped default does)."""
    import copy

    net = copy.deepcopy(random_net)
    with torch.no_grad():
        for branch in (net.ir, net.vi):
            sign = {"positive": 1.0, "negative": -1.0}.get(signs)
            if sign is None:  # alternate channel by channel
                sign = torch.where(torch.arange(branch.theta.numel()) % 2 == 0, 1.0, -1.0).reshape(branch.theta.shape)
            branch.theta.copy_(sign * (branch.theta.abs() + 1e-3))
    ir, vi = rng.random((37, 53)), rng.random((37, 53))
    assert_close(fast_forward(net, ir, vi), eager(net, ir, vi))


def test_the_maps_of_a_branch_cut_into_bands_equal_one_task(random_net, rng):
    x = rng.random((200, 90))  # 6 threads: 3 bands of rows
    one, many = fast_branch(random_net.ir, x, threads=1), fast_branch(random_net.ir, x, threads=6)
    assert all(torch.equal(a, b) for a, b in zip(one, many, strict=True))
