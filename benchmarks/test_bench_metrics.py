"""All metrics of both profiles on the 21 TNO pairs (issue 5): target under 20 s on this machine.

The fused images are the authors' released LRRNet outputs (../shared/data/tno21/ref_lrrnet), read into memory
beforehand: the time is the metrics only. Without ../shared the bundled demo pair (fused = the mean of the two
sources) stands in, repeated; ``LLRR_BENCH_SMOKE=1`` uses 2 pairs.
"""

import os

import numpy as np

from llrr.io import demo_pair, load_grey
from llrr.metrics import compute, list_metrics
from solvers._files import SHARED

TNO = SHARED / "data" / "tno21"


def triplets():
    n = 2 if os.environ.get("LLRR_BENCH_SMOKE", "") not in ("", "0") else 21
    if (TNO / "ref_lrrnet" / "01.png").is_file():
        names = [f"{k:02d}.png" for k in range(1, n + 1)]
        return "tno21 (released LRRNet outputs)", [
            tuple(load_grey(TNO / d / name).astype(np.uint8) for d in ("ref_lrrnet", "ir", "vi")) for name in names]
    ir, vi = (load_grey(p) for p in demo_pair())
    return "bundled demo pair (fused = mean)", [(((ir + vi) / 2).round().astype(np.uint8), ir.astype(np.uint8),
                                                 vi.astype(np.uint8))] * n


def _all(data):
    return [{p: compute(f, a, b, profile=p) for p in ("paper", "standard")} for f, a, b in data]


def test_all_metrics_both_profiles(benchmark):
    benchmark.group = "metrics"
    source, data = triplets()
    scores = benchmark.pedantic(_all, args=(data,), rounds=3, iterations=1, warmup_rounds=1)
    assert all(np.isfinite(s["paper"]["En"]) for s in scores)
    benchmark.extra_info.update(source=source, pairs=len(data), pixels=int(sum(f.size for f, _, _ in data)),
                                metrics={p: list_metrics(p) for p in ("paper", "standard")})
