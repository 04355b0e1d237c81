"""LRRNet fusion of a 3840 x 2160 pair with tiled inference: time and peak memory (RSS) of a fresh process.

The network is the default architecture (49,204 parameters, seeded random weights: time and memory do not depend on
the values), eager float32, tiles of 256 x 256 output pixels with the receptive-field margin. Target (issue 4): peak
RSS under 2 GB.
"""

import json
import subprocess
import sys

from ._setup import SMOKE

SCRIPT = r"""
import json, resource, time
import numpy as np, torch
from unrolled import LRRNet, fuse_images
torch.manual_seed(0)
net = LRRNet().eval()
rng = np.random.default_rng(0)
ir = rng.integers(0, 256, SHAPE, dtype=np.uint8)
vi = rng.integers(0, 256, SHAPE, dtype=np.uint8)
t = time.perf_counter()
out = fuse_images(net, ir, vi, tile=256)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "shape": list(out.shape)}))
"""


def _run():
    shape = (96, 128) if SMOKE else (2160, 3840)
    res = subprocess.run([sys.executable, "-c", f"SHAPE = {shape}\n" + SCRIPT], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_fuse_3840x2160_tiled(benchmark):
    benchmark.group = "lrrnet-4k"
    result = benchmark.pedantic(_run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
