"""Issue 16's scoring benchmark: the paper, vifb and cddfuse profiles on VIFB's 21 pairs x 25 stored methods (goal:
under 2 minutes for the three), and the time per pair of the classical "latlrr" fusion against the feed-forward
"lrrnet" on the same images.

Images are read from their files by each profile's own reader (as ``llrr evaluate`` and ``llrr benchmark`` do), so
the time includes reading. The scoring runs as ``llrr benchmark`` runs it, once with one process per CPU (its
default) and once in one process. Without ../shared the bundled demo pair stands in (fused = the mean of the sources);
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


def _sets(tmp_path):
    """(label, image sets, methods): VIFB's pairs with its stored fused images, or the bundled pair."""
    from llrr.evaluate import pair_images

    if (VIFB / "fused").is_dir():
        methods = tuple(sorted(p.name for p in (VIFB / "fused").iterdir() if p.is_dir()))
        if smoke():
            methods = methods[:2]
        sets = pair_images(VIFB / "ir", VIFB / "vi", {m: VIFB / "fused" / m for m in methods})
        return "vifb (stored fused images)", sets[:2] if smoke() else sets, methods
    from PIL import Image

    ir, vi = (read_image(p) for p in demo_pair())
    for folder, image in (("ir", ir), ("vi", vi), ("mean", ((ir.astype(float) + vi) / 2).round().astype(np.uint8))):
        for stem in ("a", "b"):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / folder / f"{stem}.png")
    sets = pair_images(tmp_path / "ir", tmp_path / "vi", {"mean": tmp_path / "mean"})
    return "bundled demo pair (fused = mean)", sets, ("mean",)


def _score(sets, methods, workers, seconds):
    """Every profile's scores, as ``llrr benchmark`` computes them (one :func:`llrr.evaluate.score_sets` per profile,
    files read by each profile's reader); the seconds of each profile go into ``seconds``."""
    import time

    from llrr.evaluate import _check_metrics, score_sets

    out = {}
    for p in PROFILES:
        t = time.perf_counter()
        out[p] = score_sets(sets, methods, p, _check_metrics(p, None), workers=workers, progress=False)
        seconds[p] = round(time.perf_counter() - t, 2)
    return out


def _profiles_bench(benchmark, tmp_path, workers):
    from llrr.evaluate import resolve_workers

    benchmark.group = "profiles"
    source, sets, methods = _sets(tmp_path)
    seconds: dict = {}
    scores = benchmark.pedantic(_score, args=(sets, methods, workers, seconds), rounds=1, iterations=1,
                                warmup_rounds=0)
    first = scores["vifb"][methods[0]][sets[0].name]
    assert np.isfinite(first["Entropy"])
    benchmark.extra_info.update(source=source, pairs=len(sets), methods=len(methods), images=len(sets) * len(methods),
                                profiles=list(PROFILES), workers=resolve_workers(workers, len(sets)),
                                profile_seconds=seconds)


def test_three_profiles_on_vifb(benchmark, tmp_path):
    """One scoring process per CPU: what ``llrr benchmark`` and ``llrr evaluate`` do by default."""
    _profiles_bench(benchmark, tmp_path, None)


def test_three_profiles_on_vifb_one_process(benchmark, tmp_path):
    """The same in one process (``--workers 1``, the API's default)."""
    _profiles_bench(benchmark, tmp_path, 1)


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
