"""Inference engines side by side (issue 18): llrr's fast path, ONNX Runtime and OpenVINO (on the exported graph),
torch.compile and eager torch (on the same graph as a module), one pair of 640 x 480 and of 1920 x 1080, in one run
(each engine in a fresh process, one after the other), so that their ratios and the sgemm share one run.

Every engine computes the exported graph's function (inputs min-max scaled, LRRNet, output min-max scaled); the
fast path is ``unrolled.fuse_images(..., normalization="minmax")``. Their outputs must agree within one grey level.
Times are medians of the repeats after a first call (which is reported apart: it includes torch.compile's compilation
and OpenVINO's graph compilation). An engine that is not installed is reported as such (OpenVINO comes with
``pip install openvino``; it is not a dependency). Goal: the fast path at least 3x faster than the best other engine
at both sizes. The shipped default weights; a random pair of the bundled demo images' statistics.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ._setup import SMOKE

MACS_PER_PIXEL = 46_116
SIZES = {"640x480": (480, 640), "1920x1080": (1080, 1920)}
SMOKE_SIZES = {"640x480": (48, 64)}  # smoke mode (the test suite): one tiny case, torch.compile's compilation is slow

SCRIPT = r"""
import json, statistics, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
from unrolled.export import FusionGraph, export_onnx
from unrolled.inference import fuse_images
from unrolled.weights import cached_model
(h, w), engine, repeat, out_path = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
ir = rng.integers(0, 256, (h, w)).astype(np.float32)
vi = np.clip(ir * 0.5 + rng.normal(60, 30, (h, w)), 0, 255).astype(np.float32)
net = cached_model("default")
x_ir, x_vi = torch.from_numpy(ir)[None, None], torch.from_numpy(vi)[None, None]
graph = FusionGraph(net).eval()
name = engine
if engine == "fast":
    name = "llrr fast path"
    run = lambda: fuse_images(net, ir, vi, normalization="minmax")
elif engine in ("onnxruntime", "openvino"):
    tmp = Path(tempfile.mkdtemp()) / "lrrnet.onnx"
    export_onnx(net, tmp)
    feed = {"ir": ir[None, None], "vi": vi[None, None]}
    if engine == "onnxruntime":
        import onnxruntime as ort
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        name, run = "ONNX Runtime " + ort.__version__, lambda: session.run(None, feed)[0][0, 0]
    else:
        try:
            import openvino as ov
        except ImportError:
            print(json.dumps({"engine": "OpenVINO (not installed)"})); sys.exit(0)
        compiled = ov.Core().compile_model(str(tmp), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})  # float32
        name, run = "OpenVINO " + ov.__version__.split("-")[0], lambda: compiled(feed)[0][0, 0]
elif engine == "compile":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled_graph = torch.compile(graph)
    def run():
        with torch.inference_mode():
            return compiled_graph(x_ir, x_vi)[0, 0].numpy()
    name = "torch.compile " + torch.__version__.split("+")[0]
else:
    def run():
        with torch.inference_mode():
            return graph(x_ir, x_vi)[0, 0].numpy()
    name = "torch eager"
t = time.perf_counter(); out = run(); first = time.perf_counter() - t
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = run(); times.append(time.perf_counter() - t)
np.save(out_path, np.round(255 * np.asarray(out, np.float64)).astype(np.uint8))
print(json.dumps({"engine": name, "first": first, "median": statistics.median(times)}))
"""
ENGINES = ("fast", "onnxruntime", "openvino", "compile", "eager")


def _run(shape, repeat: int, slow_repeat: int, folder: Path) -> list:
    """Each engine in a fresh process (at 1920 x 1080 the engines' arenas do not fit in one), the fast path first;
    outputs compared with the fast path's."""
    rows, ref = [], None
    for engine in ENGINES:
        out = folder / f"{engine}.npy"
        args = [list(shape), engine, repeat if engine == "fast" else slow_repeat, str(out)]
        res = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(args)], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parents[1])
        row = json.loads(res.stdout.strip().splitlines()[-1])
        if out.is_file():
            grey = np.load(out).astype(int)
            ref = grey if ref is None else ref
            row["max_grey_diff"] = int(np.abs(grey - ref).max())
        rows.append(row)
    return rows


@pytest.mark.parametrize("size", list(SMOKE_SIZES if SMOKE else SIZES))
def test_engines(benchmark, size, tmp_path):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'llrr[deploy]')")
    shape = (SMOKE_SIZES if SMOKE else SIZES)[size]
    benchmark.group = f"engines-{size}"
    rows = benchmark.pedantic(_run, args=(shape, 3 if size == "640x480" else 2, 2 if size == "640x480" else 1,
                                          tmp_path), rounds=1, iterations=1)
    timed = [r for r in rows if "median" in r]
    assert timed[0]["engine"] == "llrr fast path" and all(r["max_grey_diff"] <= 1 for r in timed)
    pixels = shape[0] * shape[1]
    for r in timed:
        r["gflops"] = 2 * MACS_PER_PIXEL * pixels / r["median"] / 1e9
    benchmark.extra_info.update(size=size, pixels=pixels, engines=rows)
