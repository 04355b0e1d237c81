"""The benchmark problem of the foundation issue, built from the bundled demo image (no ../shared needed).

8x8 patches at stride 1 of a 256x256 crop of the demo visible image scaled to [0, 1]: 62,001 patches; 128 atoms
(the overcomplete 2-D DCT, :func:`solvers.dictionary.dct_atoms`); lambda 0.1. For the low-rank + sparse iteration
the 32 lowest-frequency atoms form D1 and the other 96 D2; for the pure-sparse (Lasso) problem all 128 form D2.
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path

import numpy as np

from llrr.io import load_grey
from solvers import LowRankSparseProblem, extract_patches
from solvers._files import SHARED
from solvers.dictionary import dct_atoms

DEMO = Path(__file__).resolve().parents[1] / "llrr" / "data" / "demo_vi.png"
N_ATOMS = 128
N_LOW = 32
LAM = 0.1
PATCH = 8
SMOKE = os.environ.get("LLRR_BENCH_SMOKE", "") not in ("", "0")
"""``LLRR_BENCH_SMOKE=1``: tiny sizes and caps, so that the test suite runs every benchmark in a few seconds."""
CROP = 24 if SMOKE else 256

RANDOM_PAIR = """torch.manual_seed(0)
net = LRRNet().eval()
rng = np.random.default_rng(0)
ir = rng.integers(0, 256, shape, dtype=np.uint8)
vi = rng.integers(0, 256, shape, dtype=np.uint8)
"""
"""Lines of a benchmark script (after ``shape`` is read): the default LRRNet with seeded random weights and a random
uint8 pair of that shape (time and memory depend on neither's values)."""


@cache
def patches(dtype=np.float64) -> np.ndarray:
    img = load_grey(DEMO)[:CROP, :CROP] / 255.0
    return extract_patches(img, PATCH, 1).astype(dtype)


@cache
def low_rank_sparse_problem(dtype=np.float64) -> LowRankSparseProblem:
    D = dct_atoms(PATCH * PATCH, N_ATOMS).astype(dtype)
    return LowRankSparseProblem(D[:, :N_LOW], D[:, N_LOW:], lam1=LAM, lam2=LAM)


@cache
def lasso_problem(dtype=np.float64) -> LowRankSparseProblem:
    D = dct_atoms(PATCH * PATCH, N_ATOMS).astype(dtype)
    return LowRankSparseProblem(np.zeros((PATCH * PATCH, 0), dtype), D, lam1=0.0, lam2=LAM)


def median_time(fn, repeat: int = 5) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def machine() -> dict:
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def shared(*parts) -> Path | None:
    """A path under ../shared (or ``$LLRR_SHARED``), or None when it is not there."""
    path = SHARED.joinpath(*parts)
    return path if path.exists() else None
