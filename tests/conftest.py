"""Shared fixtures: paths to ../shared (skipped with a reason where absent) and real image patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import solvers._jit  # noqa: F401 (numba set up as the library's processes set it, before any test imports numba)
from solvers._files import SHARED

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "llrr" / "data"


class Spy:
    """Counts the calls of a real function and returns what it returns (a spy, not a stand-in)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the calling test with the reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (../shared is not present on this machine; CI has it)")
    return p


def load_grey(path: Path) -> np.ndarray:
    """Grey float64 image (the application's reader)."""
    from llrr.io import load_grey as read

    return read(path)


@pytest.fixture(scope="session")
def demo_ir() -> np.ndarray:
    return load_grey(DEMO_DIR / "demo_ir.png")


@pytest.fixture(scope="session")
def demo_vi() -> np.ndarray:
    return load_grey(DEMO_DIR / "demo_vi.png")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def drawn_axes(monkeypatch) -> list:
    """The axes arrays of every matplotlib ``Figure.subplots`` call the test makes, in order (to check what a plot
    function drew: titles, lines, scales)."""
    from matplotlib.figure import Figure

    seen, original = [], Figure.subplots

    def spy(self, *args, **kwargs):
        seen.append(original(self, *args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(Figure, "subplots", spy)
    return seen


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """Speed of the suite only: the tests multiply small matrices, where OpenBLAS's threads cost more than they
    give, and on a loaded 2-core machine their spin-waiting made some test files 10x slower (47 s vs 4.6 s).
    Results do not depend on it; speed is measured in benchmarks/ with the default threading."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def write_demo_pairs(root: Path, count: int, shape: tuple[int, int]) -> Path:
    """``count`` real pairs in ``root/ir`` and ``root/vi`` (``p0.png`` ...): windows of ``shape`` of the bundled demo
    pair, 20 rows and 25 columns apart (raw 8-bit, as training reads them)."""
    from PIL import Image

    from unrolled.training.data import read_grey

    ir, vi = read_grey(DEMO_DIR / "demo_ir.png"), read_grey(DEMO_DIR / "demo_vi.png")
    h, w = shape
    for sub, img in (("ir", ir), ("vi", vi)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            Image.fromarray(img[20 * k : 20 * k + h, 25 * k : 25 * k + w]).save(root / sub / f"p{k}.png")
    return root
