"""The "vifb" metric profile against VIFB's own published means: the validation table of docs/metrics.md.

``python -m benchmarks.vifb_validation [--methods ADF LatLRR ...] [--root DIR]`` scores every fused image of
``../shared/data/vifb`` (21 pairs, 25 methods) with :func:`llrr.metrics.compute` (profile "vifb", files read by
:func:`llrr.metrics.vifb.imread_vifb`), averages over the pairs and compares with ``vifb_method_means.json``
(VIFB's ``evaluationMetricsAverageImg.mat``). Two comparisons per method and metric:

* **5 digits**: our mean and VIFB's, both rounded to 5 significant digits, are equal;
* **exact**: VIFB's pipeline replayed: ``compute_metrics.m`` writes each per-pair value with ``dlmwrite`` (5
  significant digits), reads it back, and averages with ``nanmean``; our per-pair values rounded the same way must
  give VIFB's mean to 1e-9 (relative), i.e. every per-pair value rounds to VIFB's.

The published means are means of rounded values, not rounded means, so the first comparison can fail for a correct
implementation: our unrounded mean differs from VIFB's by up to the mean of the per-pair rounding steps (half a unit
in the 5th digit of each value, ``bound``), and that can move the 5th digit of the mean. "exact" is the test.

SwinFusion and YDTR are reported apart: their stored fused images are not the ones VIFB scored (the data README).
The VIFB data are a test set: this only checks the metric code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from llrr.metrics import compute, list_metrics
from llrr.metrics.vifb import imread_vifb
from solvers._files import SHARED

__all__ = ["VIFB", "NOT_SCORED_FILES", "load_reference", "pair_scores", "vifb_mean", "compare", "main"]

VIFB = SHARED / "data" / "vifb"
NOT_SCORED_FILES = ("SwinFusion", "YDTR")
"""Methods whose stored fused images are not those VIFB scored: reported apart."""


def load_reference(root: Path = VIFB) -> dict:
    """``vifb_method_means.json``: pairs, methods, metrics and ``means_over_21_pairs[method][metric]``."""
    return json.loads((Path(root) / "vifb_method_means.json").read_text())


def pair_scores(methods, root: Path = VIFB) -> dict[str, dict[str, dict[str, float]]]:
    """``scores[method][pair][metric]``: the vifb profile on every pair of ``root`` for each method."""
    root = Path(root)
    pairs = load_reference(root)["pairs"]
    sources = {p: (imread_vifb(root / "ir" / f"{p}.jpg"), imread_vifb(root / "vi" / f"{p}.jpg")) for p in pairs}
    out: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    for p in pairs:  # pair-major: the per-source work is memoised across the methods
        ir, vi = sources[p]
        for m in methods:
            out[m][p] = compute(imread_vifb(root / "fused" / m / f"{p}.jpg"), ir, vi, profile="vifb")
    return out


def _sig5(x: float) -> float:
    return float(f"{x:.5g}") if math.isfinite(x) else x


def vifb_mean(values, *, as_vifb: bool) -> float:
    """The mean over the pairs, ignoring NaN (``nanmean``); ``as_vifb`` first rounds each value to 5 significant
    digits, as VIFB's ``dlmwrite`` / ``importdata`` round trip does."""
    v = np.array([_sig5(x) if as_vifb else x for x in values], dtype=np.float64)
    return float(np.nanmean(v))


def compare(scores: dict[str, dict[str, dict[str, float]]], reference: dict) -> dict[str, dict[str, dict]]:
    """``rows[metric][method]``: ``ours`` (plain mean), ``vifb`` (published), ``rel`` (relative difference),
    ``digits5`` (equal at 5 significant digits), ``exact`` (VIFB's rounding replayed equals it to 1e-9) and
    ``bound`` (the largest ``|ours - vifb|`` that VIFB's rounding of the per-pair values can explain)."""
    rows: dict[str, dict[str, dict]] = {}
    for k in reference["metrics"]:
        rows[k] = {}
        for m, per_pair in scores.items():
            values = [per_pair[p][k] for p in reference["pairs"]]
            ours, replay = vifb_mean(values, as_vifb=False), vifb_mean(values, as_vifb=True)
            ref = reference["means_over_21_pairs"][m][k]
            bound = float(np.nanmean([0.5 * 10.0 ** (math.floor(math.log10(abs(x))) - 4) if x else 0.0
                                      for x in values]))
            rows[k][m] = {"ours": ours, "vifb": ref, "rel": abs(ours - ref) / abs(ref), "bound": bound,
                          "digits5": _sig5(ours) == _sig5(ref), "exact": math.isclose(replay, ref, rel_tol=1e-9)}
    return rows


def _table(rows: dict[str, dict[str, dict]], methods: list[str]) -> str:
    lines = ["| metric | equal to 5 digits | exact (VIFB's rounding replayed) | max relative difference |",
             "|---|---|---|---|"]
    for k, per_method in rows.items():
        sel = [per_method[m] for m in methods]
        lines.append(f"| {k} | {sum(r['digits5'] for r in sel)} / {len(sel)} | {sum(r['exact'] for r in sel)} / "
                     f"{len(sel)} | {max(r['rel'] for r in sel):.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=VIFB, help="the VIFB data folder (default: %(default)s)")
    parser.add_argument("--methods", nargs="+", help="methods to score (default: all 25)")
    args = parser.parse_args(argv)
    reference = load_reference(args.root)
    methods = args.methods or reference["methods"]
    assert list_metrics("vifb") == reference["metrics"], "the profile's metrics must be VIFB's, in its order"
    t0, c0 = time.perf_counter(), time.process_time()
    scores = pair_scores(methods, args.root)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = compare(scores, reference)
    main_methods = [m for m in methods if m not in NOT_SCORED_FILES]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(methods)} methods x {len(reference['pairs'])} pairs scored (files read and 13 metrics) in "
          f"{seconds:.1f} s wall, {cpu:.1f} s CPU; load average {load} on {os.cpu_count()} cores\n")
    if main_methods:
        print(f"{len(main_methods)} methods ({', '.join(main_methods)}):\n")
        print(_table(rows, main_methods))
    for m in (m for m in methods if m in NOT_SCORED_FILES):
        print(f"\n{m} (stored images not those VIFB scored):\n")
        print(_table(rows, [m]))
    misses = [(k, m) for k, per in rows.items() for m in main_methods if not per[m]["digits5"]]
    for k, m in misses:
        r = rows[k][m]
        print(f"  not equal to 5 digits: {m} {k}: ours {r['ours']:.8g}, VIFB {r['vifb']:.8g}, relative "
              f"{r['rel']:.1e}, VIFB's rounding explains up to {r['bound'] / abs(r['vifb']):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
