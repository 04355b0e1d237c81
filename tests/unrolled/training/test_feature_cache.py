"""The sources' targets of the loss, given or cached (issue 14): the same loss and gradient as recomputing them, the
cache's LRU budget, the sampler's keys, and a training run with the cache logging what a run without it logs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.conftest import DEMO_DIR
from unrolled.nets.lrrnet import LRRNetConfig
from unrolled.training import feature_cache as feature_cache_module
from unrolled.training.config import TrainConfig
from unrolled.training.data import CropSampler, PairDataset, resize_bilinear
from unrolled.training.feature_cache import SourceTargetCache
from unrolled.training.log import TERMS, read_log
from unrolled.training.loop import train
from unrolled.training.losses import SOURCE_TARGETS, FusionLoss, vgg16_features

# Where the cache is compared with recomputing, a sample's targets were computed by VGG-16 in another batch (the
# samples missing at that step, not the batch at hand). The network treats every image alone, so only the
# convolution engine's choice of blocking for another batch size could change a rounding: float32, 10 convolutions
# of <= 4,608 products each, a different order of the sums moves an output by ~sqrt(4608) u = 4e-6 relative per
# layer, 4e-5 after ten -> RTOL 1e-4 of each tensor's largest entry (measured: equal bit for bit, torch 2.13 CPU).
# The loss terms are means of squares of (fused - target) features, far apart for these random images (no
# cancellation): the same relative bound.
RTOL = 1e-4
SIDE = 32


@pytest.fixture(scope="module")
def loss():
    # the real layout, random weights: float32 as in training; with the content term, so that every term is on
    return FusionLoss(vgg16_features(None, seed=5), gamma_int=0.5, gamma_grad=0.25)


def _sources(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, SIDE, SIDE, generator=g) * 255, torch.rand(n, 1, SIDE, SIDE, generator=g) * 255


def _terms_and_grad(loss, output, ir, vi, targets=None):
    x = output.clone().requires_grad_(True)
    terms = loss(x, ir, vi, targets=targets)
    terms["total"].backward()
    return {k: v.detach() for k, v in terms.items()}, x.grad


def _close(a, b):
    tol = RTOL * float(b.abs().max())
    assert tol > 0 and float((a - b).abs().max()) <= tol


def test_given_targets_give_the_loss_and_gradient_of_recomputing_them_bit_for_bit(loss):
    ir, vi = _sources(3)
    output = torch.randn(3, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    targets = loss.source_targets(ir, vi)
    assert list(targets) == list(SOURCE_TARGETS)
    assert [tuple(t.shape) for t in targets.values()] == [(3, 64, 32, 32), (3, 128, 16, 16), (3, 256, 8, 8),
                                                          (3, 512, 512)]
    assert all(not t.requires_grad and t.dtype == torch.float32 for t in targets.values())
    calls = []
    hook = loss.vgg.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    try:
        ref, ref_grad = _terms_and_grad(loss, output, ir, vi)
        got, got_grad = _terms_and_grad(loss, output, ir, vi, targets)
    finally:
        hook.remove()
    assert calls == [3, 6, 3]  # recomputing: fused, then IR and VI together; with targets: the fused image only
    for k in TERMS:  # the same operations on the same values
        assert torch.equal(got[k], ref[k]), k
        assert ref[k] > 0, k
    assert torch.equal(got_grad, ref_grad) and ref_grad.abs().sum() > 0


def test_targets_that_do_not_fit_are_named(loss):
    ir, vi = _sources(2)
    targets = loss.source_targets(ir, vi)
    with pytest.raises(ValueError, match=r"targets\['ir_gram4_3'\] .* must be a tensor of shape \(2, 512, 512\) .* "
                                         r"got NoneType"):
        loss(ir, ir, vi, targets={k: v for k, v in targets.items() if k != "ir_gram4_3"})
    with pytest.raises(ValueError, match=r"targets\['vi_relu1_2'\] .* shape \(1, 64, 32, 32\) for sources of shape "
                                         r"\(1, 1, 32, 32\), got \(2, 64, 32, 32\)"):
        loss(ir[:1], ir[:1], vi[:1], targets=targets)
    with pytest.raises(ValueError, match="ir255 and vi255 must have the same shape"):
        loss.source_targets(ir, vi[:1])


def test_cached_targets_equal_recomputed_ones_and_count_hits_and_misses(loss):
    pool_ir, pool_vi = _sources(5, seed=2)  # five distinct samples, keys 0..4
    cache = SourceTargetCache(loss, budget_mb=64)
    output = torch.randn(4, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(3))
    # misses only; then a mix; a key twice in one batch (computed once); hits only
    batches = [[0, 1, 2, 3], [2, 4, 0, 1], [3, 3, 4, 4], [4, 2, 1, 0]]
    expected = [(0, 4), (3, 5), (7, 5), (11, 5)]
    for keys, (hits, misses) in zip(batches, expected, strict=True):
        ir, vi = pool_ir[keys], pool_vi[keys]
        got = cache.targets(keys, ir, vi)
        assert (cache.hits, cache.misses) == (hits, misses)
        ref = loss.source_targets(ir, vi)
        for name in SOURCE_TARGETS:
            _close(got[name], ref[name])
            assert got[name].stride() == ref[name].stride(), name  # the layout VGG-16 gives: the same reductions
        got_terms, got_grad = _terms_and_grad(loss, output, ir, vi, got)
        ref_terms, ref_grad = _terms_and_grad(loss, output, ir, vi)
        for k in TERMS:
            _close(got_terms[k], ref_terms[k])
        _close(got_grad, ref_grad)
    per_sample = 4 * (64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8 + 512 * 512)
    assert cache.info().entries == len(cache) == 5 and cache.nbytes == 5 * per_sample


def test_the_cache_drops_the_least_recently_used_beyond_its_budget_and_stays_right(loss):
    pool_ir, pool_vi = _sources(6, seed=4)
    per_sample = 4 * (64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8 + 512 * 512)
    cache = SourceTargetCache(loss, budget_mb=2.5 * per_sample / 2**20)  # room for two samples

    def check(keys):
        got = cache.targets(keys, pool_ir[keys], pool_vi[keys])
        ref = loss.source_targets(pool_ir[keys], pool_vi[keys])
        for name in SOURCE_TARGETS:
            _close(got[name], ref[name])
        assert cache.nbytes == len(cache) * per_sample <= cache.budget_bytes

    check([0, 1])
    check([0])  # 0 is now the most recent: 1 goes first
    check([2])
    assert (0 in cache, 1 in cache, 2 in cache) == (True, False, True)
    check([1])  # computed again (a miss), 0 dropped
    assert (0 in cache, 1 in cache, 2 in cache) == (False, True, True)
    check([3, 4, 5])  # a batch larger than the budget: right values, the last two kept
    assert sorted(k for k in range(6) if k in cache) == [4, 5]
    assert (cache.hits, cache.misses) == (1, 7)
    off = SourceTargetCache(loss, budget_mb=0)  # 0: nothing is kept, every sample is computed
    got = off.targets([0, 0], pool_ir[[0, 0]], pool_vi[[0, 0]])
    ref = loss.source_targets(pool_ir[[0, 0]], pool_vi[[0, 0]])
    assert all(torch.equal(got[k], ref[k]) for k in SOURCE_TARGETS)
    assert (len(off), off.nbytes, off.misses) == (0, 0, 2)


def test_the_cache_refuses_what_it_cannot_serve(loss):
    ir, vi = _sources(2)
    with pytest.raises(ValueError, match="budget_mb must be a finite number >= 0 .* got -1"):
        SourceTargetCache(loss, budget_mb=-1)
    with pytest.raises(TypeError, match="loss must be a FusionLoss"):
        SourceTargetCache(loss.vgg)
    cache = SourceTargetCache(loss, budget_mb=16)
    with pytest.raises(ValueError, match=r"one key per sample \(2\), got 3"):
        cache.targets([0, 1, 2], ir, vi)
    with pytest.raises(TypeError, match=r"keys\[1\] = \[1\] is not hashable"):
        cache.targets([0, [1]], ir, vi)
    cache.targets([0, 1], ir, vi)
    with pytest.raises(ValueError, match=r"holds samples of shape \(1, 32, 32\), got a batch of \(2, 1, 16, 16\)"):
        cache.targets([0, 1], ir[..., :16, :16], vi[..., :16, :16])


# ---- the sampler's keys ------------------------------------------------------------------------------------------

def test_resize_keys_name_the_pair_and_flips_and_equal_keys_give_equal_samples(rng):
    images = [(rng.integers(0, 256, (20, 30), dtype=np.uint8), rng.integers(0, 256, (20, 30), dtype=np.uint8))
              for _ in range(3)]
    sampler = CropSampler(PairDataset.from_arrays(images), crop=8, batch=5, seed=6, sampling="resize")
    seen: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    repeats = 0
    for _ in range(12):
        batch = sampler.next_batch()
        assert len(batch.keys) == 5
        for key, ir, vi in zip(batch.keys, batch.ir255[:, 0].numpy(), batch.vi255[:, 0].numpy(), strict=True):
            index, flip_v, flip_h = key
            assert type(index) is int and type(flip_v) is bool and type(flip_h) is bool
            for sample, source in ((ir, images[index][0]), (vi, images[index][1])):  # the same float32 operations
                whole = resize_bilinear(source, 8)
                np.testing.assert_array_equal(sample, whole[::-1 if flip_v else 1, ::-1 if flip_h else 1])
            if key in seen:
                repeats += 1
                assert np.array_equal(seen[key][0], ir) and np.array_equal(seen[key][1], vi)
            seen[key] = (ir, vi)
    assert len(seen) == 12 and repeats == 60 - 12  # 3 pairs x 4 flips, all drawn


@pytest.mark.parametrize("sampling", ["crop", "scale"])
def test_random_windows_have_no_keys(rng, sampling):
    images = [(rng.integers(0, 256, (20, 30), dtype=np.uint8),) * 2]
    assert CropSampler(PairDataset.from_arrays(images), crop=8, batch=2, sampling=sampling).next_batch().keys is None


def test_keys_leave_the_random_stream_as_it_was(rng):
    images = [(rng.integers(0, 256, (20, 30), dtype=np.uint8),) * 2 for _ in range(3)]
    a, b = (CropSampler(PairDataset.from_arrays(images), crop=8, batch=4, seed=9, sampling="resize") for _ in range(2))
    for _ in range(5):  # next_batch (with keys) draws what next_crops (without) draws, and leaves the same state
        assert np.array_equal(a.next_batch().ir255.numpy(), b.next_crops()[0])
    assert a.state_dict() == b.state_dict()


# ---- training ----------------------------------------------------------------------------------------------------

def _config(out_dir, **changes) -> TrainConfig:
    """6 steps on the demo pair resized to 24x24 (4 samples: the flips), batch 2, a tiny network, random VGG."""
    config = TrainConfig(data=(str(DEMO_DIR),), out_dir=str(out_dir), crop=24, sampling="resize", batch=2, steps=6,
                         lr=1e-3, checkpoint_every=3, threads=1, vgg_weights="random",
                         model=LRRNetConfig(n=8, blocks=2))
    return replace(config, **changes)


def test_training_with_the_cache_logs_the_losses_of_training_without_it(tmp_path, monkeypatch):
    infos = []
    targets = SourceTargetCache.targets

    def spy(self, keys, ir255, vi255):
        out = targets(self, keys, ir255, vi255)
        infos.append(self.info())
        return out

    monkeypatch.setattr(feature_cache_module.SourceTargetCache, "targets", spy)
    cached = train(_config(tmp_path / "cached"), progress=False)
    assert len(infos) == 6 and infos[-1].misses <= 4 and infos[-1].hits == 12 - infos[-1].misses >= 8
    infos.clear()
    plain = train(_config(tmp_path / "plain", feature_cache_mb=0), progress=False)
    assert infos == []
    rows = list(zip(read_log(cached.log), read_log(plain.log), strict=True))
    # Step 1: the same weights on the same batch; the targets differ at most by the VGG rounding bound above (RTOL).
    # Later steps follow Adam updates, which can turn a rounding of a near-zero gradient into an lr-sized step
    # (tests/unrolled/training/test_loop.py, fast vs eager): 1e-2, below the loss's change from step to step.
    # Measured: equal bit for bit on every step.
    for (a, b), rtol in zip(rows, [RTOL] + [1e-2] * 5, strict=True):
        for t in TERMS:
            assert a[t] == pytest.approx(b[t], rel=rtol, abs=0), (a["step"], t)

    # speed only: a run may be resumed with another budget (here none), and the crop sampling never uses the cache
    resumed = train(_config(tmp_path / "cached", steps=7, feature_cache_mb=0), resume=tmp_path / "cached",
                    progress=False)
    assert (resumed.start_step, resumed.steps) == (6, 7)
    train(_config(tmp_path / "crop", steps=1, sampling="crop"), progress=False)
    assert infos == []
    with pytest.raises(ValueError, match="feature_cache_mb must be an integer >= 0, got -1"):
        _config(tmp_path, feature_cache_mb=-1)
