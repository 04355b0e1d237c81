"""Issue 16's scoring benchmark: the paper, vifb and cddfuse profiles on VIFB's 21 pairs x 25 stored methods (goal:
under 2 minutes for the three), and the time per pair of the classical "latlrr" fusion against the feed-forward
"lrrnet" on the same images.

Images are read from their files by each profile's own reader (as ``llrr evaluate`` and ``llrr benchmark`` do), so
the time includes reading. Without ../shared the bundled demo pair stands in (fused = the mean of the sources);
``LLRR_BENCH_SMOKE=1`` uses 2 pairs x 2 methods and a crop for the fusion timing.
"""

import os

import numpy as np

from llrr.io import demo_pair, read_image
from solvers._files import SHARED

VIFB = SHARED / "data" / "vifb"
PROFILES = ("paper", "vifb", "cddfuse")


def smoke() -> bool:
    return os.environ.get("LLRR_BENCH_SMOKE", "") not in ("", "0")


def _triplets(tmp_path):
    if (VIFB / "fused").is_dir():
        pairs = sorted(p.stem for p in (VIFB / "ir").glob("*.jpg"))
        methods = sorted(p.name for p in (VIFB / "fused").iterdir() if p.is_dir())
        if smoke():
            pairs, methods = pairs[:2], methods[:2]
        return "vifb (stored fused images)", len(pairs), len(methods), [
            (VIFB / "fused" / m / f"{p}.jpg", VIFB / "ir" / f"{p}.jpg", VIFB / "vi" / f"{p}.jpg")
            for p in pairs for m in methods]
    from PIL import Image

    ir, vi = (read_image(p) for p in demo_pair())
    Image.fromarray(((ir.astype(float) + vi) / 2).round().astype(np.uint8)).save(tmp_path / "f.png")
    n = 2
    return "bundled demo pair (fused = mean)", n, 1, [(tmp_path / "f.png", *demo_pair())] * n


def _score(triplets):
    from llrr.metrics import compute

    return [[compute(f, a, b, profile=p) for p in PROFILES] for f, a, b in triplets]


def test_three_profiles_on_vifb(benchmark, tmp_path):
    benchmark.group = "profiles"
    source, pairs, methods, triplets = _triplets(tmp_path)
    scores = benchmark.pedantic(_score, args=(triplets,), rounds=1, iterations=1, warmup_rounds=0)
    assert all(np.isfinite(s[1]["Entropy"]) for s in scores)
    benchmark.extra_info.update(source=source, pairs=pairs, methods=methods, images=len(triplets),
                                profiles=list(PROFILES))


def _fusion_pair():
    if (VIFB / "ir" / "walking.jpg").is_file():
        ir, vi = read_image(VIFB / "ir" / "walking.jpg"), read_image(VIFB / "vi" / "walking.jpg")
        label = "vifb walking (colour visible image, fused on its luminance)"
    else:
        ir, vi = (read_image(p) for p in demo_pair())
        label = "bundled demo pair"
    if smoke():
        ir, vi = ir[:64, :80], vi[:64, :80]
    return label, ir, vi


def _fusion_bench(benchmark, method):
    import llrr

    label, ir, vi = _fusion_pair()
    llrr.fuse(ir[:32, :40], vi[:32, :40], method=method)  # weights, projection and kernels loaded before timing
    fused = benchmark.pedantic(llrr.fuse, args=(ir, vi), kwargs={"method": method}, rounds=2 if smoke() else 3,
                               iterations=1, warmup_rounds=0)
    assert fused.shape == vi.shape
    benchmark.extra_info.update(image=label, shape=list(ir.shape[:2]), method=method)


def test_fusion_latlrr(benchmark):
    benchmark.group = "fusion-methods"
    _fusion_bench(benchmark, "latlrr")


def test_fusion_lrrnet(benchmark):
    benchmark.group = "fusion-methods"
    _fusion_bench(benchmark, "lrrnet")
