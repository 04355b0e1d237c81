"""LRRNet inference (issue 6): the fast path against the eager reference, and end-to-end fusion of files.

Each measurement runs in a fresh process, so that its peak RSS (``ru_maxrss``, the whole process: Python, torch,
numba and the images) belongs to it alone. The network is the default architecture (49,204 parameters) with seeded
random weights (time and memory do not depend on the values); inputs are random uint8 pairs; ``fuse_images`` with
the official normalisation, fast path (default) or ``fast=False`` (eager torch, whole image at once; an earlier
measurement of eager 3840 x 2160 in 256 x 256 tiles took 381 s and 973 MB). Times are medians of the repeats after
one warm-up call (numba loads its cached kernels and torch its thread pool in the warm-up). The arithmetic is 46,116
multiply-adds per pixel.

Targets (this 2-core machine): 640 x 480 in <= 0.9 s with peak RSS <= 1 GB; >= 20x faster than eager at 640 x 480;
3840 x 2160 in <= 30 s under 2 GB.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ._setup import RANDOM_PAIR, SMOKE

MACS_PER_PIXEL = 46_116
SIZES = {"256x256": (256, 256), "640x480": (480, 640), "1920x1080": (1080, 1920), "3840x2160": (2160, 3840)}
SMOKE_SIZES = {"256x256": (40, 48), "640x480": (48, 64), "1920x1080": (56, 72), "3840x2160": (64, 96)}
EAGER_SIZES = ("256x256", "640x480", "1920x1080")

SCRIPT = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
from unrolled import LRRNet, fuse_images
shape, fast, repeat, tile = json.loads(sys.argv[1])
""" + RANDOM_PAIR + r"""fuse_images(net, ir[:64, :64], vi[:64, :64], fast=fast)  # warm-up: kernels, thread pools
times = []
for _ in range(repeat):
    t = time.perf_counter()
    out = fuse_images(net, ir, vi, fast=fast, tile=tile)
    times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"median": statistics.median(times), "min": min(times), "peak_rss_mb": peak,
                  "shape": list(out.shape)}))
"""


def _run_process(shape, fast: bool, repeat: int, tile=None) -> dict:
    res = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([list(shape), fast, repeat, tile])],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _case(benchmark, size: str, fast: bool, repeat: int, tile=None):
    shape = (SMOKE_SIZES if SMOKE else SIZES)[size]
    benchmark.group = f"lrrnet-{size}"
    info = benchmark.pedantic(_run_process, args=(shape, fast, repeat, tile), rounds=1, iterations=1)
    assert info["shape"] == list(shape)
    pixels = shape[0] * shape[1]
    info.update(size=size, path="fast" if fast else "eager", pixels=pixels,
                gflops=2 * MACS_PER_PIXEL * pixels / info["median"] / 1e9, threads=os.cpu_count(), tile=tile)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("size", list(SIZES))
def test_lrrnet_fast(benchmark, size):
    _case(benchmark, size, fast=True, repeat=3 if size == "3840x2160" else 5)


@pytest.mark.parametrize("size", EAGER_SIZES)
def test_lrrnet_eager(benchmark, size):
    _case(benchmark, size, fast=False, repeat={"256x256": 3, "640x480": 3, "1920x1080": 1}[size])


E2E = r"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
from PIL import Image
from unrolled import LRRNet, fuse_images
from unrolled.weights import load_official_checkpoint
pairs, weights, out_dir = json.loads(sys.argv[1])
torch.manual_seed(0)
net = load_official_checkpoint(weights) if weights else LRRNet()
net.eval()
fuse_images(net, np.zeros((64, 64), np.uint8), np.ones((64, 64), np.uint8))  # warm-up
t = time.perf_counter()
for ir_path, vi_path in pairs:
    ir = np.asarray(Image.open(ir_path).convert("L"))
    vi = np.asarray(Image.open(vi_path).convert("L"))
    Image.fromarray(fuse_images(net, ir, vi)).save(Path(out_dir) / Path(ir_path).name)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "images": len(pairs)}))
"""


def test_fuse_tno21_files(benchmark, tmp_path):
    """All 21 TNO pairs from PNG files to PNG files (read, fuse with the released checkpoint, write)."""
    from ._setup import shared

    tno = shared("data", "tno21")
    ckpt = shared("weights", "lrrnet_official_tno_block4.model")
    if tno is not None:
        names = [f"{k:02d}.png" for k in range(1, 3 if SMOKE else 22)]
        pairs = [(str(tno / "ir" / n), str(tno / "vi" / n)) for n in names]
        source = "tno21"
    else:
        from llrr.io import demo_pair

        pairs = [tuple(map(str, demo_pair()))] * (2 if SMOKE else 21)
        source = "bundled demo pair, repeated"
    benchmark.group = "lrrnet-files"

    def run():
        res = subprocess.run([sys.executable, "-c", E2E, json.dumps([pairs, str(ckpt) if ckpt else None,
                                                                     str(tmp_path)])],
                             capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        return json.loads(res.stdout.strip().splitlines()[-1])

    info = benchmark.pedantic(run, rounds=1, iterations=1)
    assert len(list(tmp_path.glob("*.png"))) == len({p[0] for p in pairs})
    info.update(source=source, weights="released checkpoint" if ckpt else "random", per_second=info["images"] /
                info["seconds"])
    benchmark.extra_info.update(info)
