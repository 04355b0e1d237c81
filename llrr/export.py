"""``llrr export``: the LRRNet of a weights name or checkpoint as an ONNX file, checked against ``llrr.fuse``.

:func:`export` writes the graph of :mod:`unrolled.export` (inputs ``ir`` and ``vi``: float32 (N, 1, H, W) grey
images on any scale, min-max scaled inside; output ``fused`` on [0, 1]; H, W and N dynamic), then runs it with ONNX
Runtime on the bundled demo pair at two sizes and compares ``round(255 * fused)`` with the 8-bit image ``llrr.fuse``
gives for the same weights: at most one grey level apart, or the export fails and no file is left. A sidecar
``<file>.json`` records the weights and their sha256, the ONNX file's sha256, the opset, the input convention and the
check. Needs the deploy extra (onnx, onnxruntime): ``pip install '.[deploy]'`` in the llrr checkout.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from solvers._extras import MissingExtra
from solvers._files import atomic_path, atomic_write_text, sha256_file

__all__ = ["ExportReport", "export", "CHECK_SIZES", "run_onnx"]

CHECK_SIZES = ((270, 360), (131, 97))
"""(height, width) of the two checks: the whole demo pair, and an odd-sized crop of it."""
_TOLERANCE = 1  # grey levels


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export` wrote and measured: ``path`` and ``sidecar``, the weights (``weights``, their sha256), the
    ``opset``, and per checked size the largest difference from ``llrr.fuse`` in grey levels."""

    path: Path
    sidecar: Path
    weights: str
    weights_sha256: str
    onnx_sha256: str
    opset: int
    max_grey_diff: dict


def run_onnx(path, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """The exported graph's output for one grey pair (H, W) of any numeric type: float32 (H, W) on [0, 1]."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"ir": np.asarray(ir, np.float32)[None, None], "vi": np.asarray(vi, np.float32)[None, None]}
    return session.run(None, feed)[0][0, 0]


def export(weights="default", out="lrrnet.onnx", *, opset: int | None = None) -> ExportReport:
    """Export the LRRNet of ``weights`` (a registry name or a checkpoint path) to ``out`` (module docstring).

    Raises
    ------
    ValueError, FileNotFoundError
        Unknown weights, a bad opset, or an exported graph that disagrees with ``llrr.fuse`` by more than one grey
        level (then nothing is written).
    ImportError
        onnx or onnxruntime missing (the message names the extra to install).
    """
    from unrolled.export import DEFAULT_OPSET, export_onnx
    from unrolled.weights import cached_model, resolve_weights

    from .fuse import fuse
    from .io import demo_pair, read_image

    opset = DEFAULT_OPSET if opset is None else opset
    try:
        import onnxruntime  # noqa: F401 (checked before any work)
    except ImportError:
        raise MissingExtra("llrr export checks the graph with ONNX Runtime: pip install '.[deploy]' in the llrr "
                           "checkout (the deploy extra)") from None
    source = resolve_weights(weights)  # an unknown name or a missing file is an error before anything is written
    model = cached_model(weights)
    out = Path(out)
    ir_full, vi_full = (read_image(p) for p in demo_pair())
    diffs = {}
    with atomic_path(out) as tmp:
        export_onnx(model, tmp, opset=opset)
        for h, w in CHECK_SIZES:
            ir, vi = ir_full[:h, :w], vi_full[:h, :w]
            ours = fuse(ir, vi, method="lrrnet", weights=weights).astype(np.int64)
            theirs = np.round(255.0 * run_onnx(tmp, ir, vi)).astype(np.int64)
            diffs[f"{h}x{w}"] = int(np.abs(ours - theirs).max())
        bad = {k: v for k, v in diffs.items() if v > _TOLERANCE}
        if bad:
            raise ValueError(f"the exported graph differs from llrr.fuse by more than {_TOLERANCE} grey level at "
                             f"{bad} (grey levels); nothing was written to {out}")
        # the old sidecar goes before the new file arrives: never a sidecar that describes another file
        out.with_name(out.name + ".json").unlink(missing_ok=True)
    report = ExportReport(out, out.with_name(out.name + ".json"), str(weights), sha256_file(source),
                          sha256_file(out), opset, diffs)
    import onnx
    import onnxruntime as ort
    import torch

    sidecar = {
        "format": "llrr-onnx", "file": out.name, "sha256": report.onnx_sha256, "opset": opset,
        "weights": str(weights), "weights_sha256": report.weights_sha256,
        "inputs": {"ir": "float32 (N, 1, H, W), a grey image on any scale", "vi": "the same, the visible image"},
        "output": {"fused": "float32 (N, 1, H, W) on [0, 1]; round(255 * fused) is llrr fuse's 8-bit image"},
        "preprocessing": "none outside the graph: each input is min-max scaled inside ((x - min) / (max - min + 1e-5))",
        "check": {"against": "llrr.fuse on the bundled demo pair", "max_grey_diff": diffs, "tolerance": _TOLERANCE},
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
    }
    atomic_write_text(report.sidecar, json.dumps(sidecar, indent=2) + "\n")
    return report


def report_lines(report: ExportReport) -> list[str]:
    d = asdict(report)
    return [f"exported {d['weights']} (sha256 {d['weights_sha256'][:12]}...) to {Path(d['path']).resolve()} "
            f"(opset {d['opset']}, dynamic N, H, W)",
            "checked with ONNX Runtime against llrr.fuse: " + ", ".join(f"{k} max {v} grey level(s)"
                                                                        for k, v in d["max_grey_diff"].items()),
            f"sidecar: {Path(d['sidecar']).resolve()}"]
