"""LRRNet training step (issue 7): forward + backward, eager autograd against the fast path (unrolled.fast.train).

``test_train_step`` measures the network's part of a training step: ``loss = net(ir, vi).square().mean()``, then
``loss.backward()`` (the VGG loss is not included); ``test_full_train_step`` the whole step (network, VGG loss, Adam),
at batch 8 on 64 x 64, 96 x 96 and 128 x 128 crops; ``test_full_train_step_cached`` the whole step on the fast path at
128 x 128 with the sources' VGG-16 targets served by the feature cache (issue 14,
:mod:`unrolled.training.feature_cache`),
every sample a hit: the steady state of a run whose samples fit ``feature_cache_mb``. Each
measurement runs in a fresh process, so that its peak RSS (``ru_maxrss``: the whole process, Python, torch, numba and
the saved activations) belongs to it alone. The network is the default architecture (49,204 parameters) with seeded
random weights whose thresholds lie in the released model's range (time and memory do not depend on the values);
inputs are uniform random. Times are medians of the repeats after one warm-up call on 16 x 16 crops (kernels loaded,
thread pools started).

Target: the whole training step >= 5x faster than eager at 128 x 128, so this part >= 10x.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ._setup import SMOKE

BATCH = 2 if SMOKE else 8
SIZES = {"64x64": 20} if SMOKE else {"64x64": 64, "96x96": 96, "128x128": 128}  # smoke: one size (a process each)

SCRIPT = r"""
import json, resource, statistics, sys, time
import torch
from unrolled import LRRNet
from unrolled.fast.train import fast_train_forward
size, batch, path, repeat, full, vgg_path, cached = json.loads(sys.argv[1])
torch.manual_seed(0)
net = LRRNet()
with torch.no_grad():
    for branch in (net.ir, net.vi):
        branch.theta.uniform_(-0.01, 0.05)
        branch.lam3.fill_(0.9)
forward = fast_train_forward if path == "fast" else (lambda net, ir, vi: net(ir, vi))


if full:  # the whole training step: network, the Eq. 10-14 loss through VGG-16, Adam
    from unrolled.training.losses import FusionLoss, vgg16_features
    loss_fn = FusionLoss(vgg16_features(vgg_path) if vgg_path else vgg16_features(None, seed=0))
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=0.9)
cache = keys = None


def step(ir, vi):
    net.zero_grad(set_to_none=True)
    targets = cache.targets(keys, 255 * ir, 255 * vi) if cache is not None else None  # as unrolled.training.loop does
    out = forward(net, ir, vi)
    loss = loss_fn(out, 255 * ir, 255 * vi, targets=targets)["total"] if full else out.square().mean()
    loss.backward()
    if full:
        opt.step()
    return loss.item()


step(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))  # warm-up
ir, vi = torch.rand(batch, 1, size, size), torch.rand(batch, 1, size, size)
if cached:  # every sample already in the cache: the timed steps are all hits
    from unrolled.training.feature_cache import SourceTargetCache
    cache, keys = SourceTargetCache(loss_fn, budget_mb=4096), [(i, False, False) for i in range(batch)]
    cache.targets(keys, 255 * ir, 255 * vi)
times = []
for _ in range(repeat):
    t = time.perf_counter()
    loss = step(ir, vi)
    times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"median": statistics.median(times), "min": min(times), "peak_rss_mb": peak, "loss": loss,
                  "threads": torch.get_num_threads(), "cache_hits": cache.hits if cache is not None else 0}))
"""


def _run_process(size: int, path: str, repeat: int, full: bool = False, cached: bool = False) -> dict:
    from ._setup import shared

    vgg = shared("weights", "vgg16_caffe_conv1_1-conv4_3.pth") if full else None
    res = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([size, BATCH, path, repeat, full,
                                                                    str(vgg) if vgg else None, cached])],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", ["fast", "eager"])
@pytest.mark.parametrize("size", list(SIZES))
def test_train_step(benchmark, size, path):
    crop = SIZES[size]
    repeat = 5 if path == "fast" else {"64x64": 3, "96x96": 3, "128x128": 2}[size]
    benchmark.group = f"train-step-{size}"
    info = benchmark.pedantic(_run_process, args=(crop, path, repeat), rounds=1, iterations=1)
    assert info["loss"] > 0
    info.update(size=size, path=path, batch=BATCH, crop=crop, repeat=repeat, cores=os.cpu_count())
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("path", ["fast", "eager"])
@pytest.mark.parametrize("size", list(SIZES))
def test_full_train_step(benchmark, size, path):
    """The whole step of ``llrr train``: network forward and backward, the VGG-16 loss of Eq. 10-14 (its weights from
    ../shared when present, else seeded random ones of the same shapes: the cost is the same), and an Adam step."""
    crop = SIZES[size]
    repeat = 3 if path == "fast" else {"64x64": 2, "96x96": 2, "128x128": 1}[size]
    benchmark.group = f"full-train-step-{size}"
    info = benchmark.pedantic(_run_process, args=(crop, path, repeat, True), rounds=1, iterations=1)
    assert info["loss"] > 0
    info.update(size=size, path=path, batch=BATCH, crop=crop, repeat=repeat, cores=os.cpu_count(), full=True)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("size", list(SIZES)[-1:])  # 128 x 128 (smoke: its one size)
def test_full_train_step_cached(benchmark, size):
    """The whole step as in ``test_full_train_step`` (fast path), the sources' targets from the feature cache: VGG-16
    runs on the fused image only (forward and backward); the cache stacks the batch's stored targets."""
    crop, repeat = SIZES[size], 3
    benchmark.group = f"full-train-step-{size}"
    info = benchmark.pedantic(_run_process, args=(crop, "fast", repeat, True, True), rounds=1, iterations=1)
    assert info["loss"] > 0 and info["cache_hits"] == BATCH * repeat  # every timed step served by the cache
    info.update(size=size, path="fast", batch=BATCH, crop=crop, repeat=repeat, cores=os.cpu_count(), full=True,
                cached=True)
    benchmark.extra_info.update(info)
