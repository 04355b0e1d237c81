"""Before / after timings of a refactor that must not change speed: the fast path's inference and training step,
measured for two source trees in one run.

``python -m benchmarks.ab --base REV --label TEXT`` checks out ``REV`` into a temporary git worktree and times, for
that tree ("before") and this working tree ("after"), in alternating fresh processes (the host's speed drifts, so
neither side gets the quiet minutes): the 640 x 480 inference of ``benchmarks/test_bench_lrrnet.py`` (fast path) and
the 128 x 128 network forward + backward of ``benchmarks/test_bench_train_step.py`` (fast path, batch 8). Each
process reports the median of its repeats; a case's figure is the median over the rounds, with the spread of the
rounds. The entry, with the sgemm of the same run, is merged by label into ``benchmarks/ab.json``, which
``python -m benchmarks.report`` renders into benchmarks/RESULTS.md (:func:`section`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RAW = HERE / "ab.json"


def _cases() -> dict[str, tuple[str, list]]:
    from . import test_bench_lrrnet as inf
    from . import test_bench_train_step as tr

    # the training script as either layout of unrolled/ imports it (before and after its rooms)
    train = tr.SCRIPT.replace("from unrolled.fast.train import fast_train_forward\n", "try:\n"
                              "    from unrolled.fast.train import fast_train_forward\n"
                              "except ImportError:\n"
                              "    from unrolled.fast_train import fast_train_forward\n")
    assert train != tr.SCRIPT
    return {"inference 640x480 (fast)": (inf.SCRIPT, [[480, 640], True, 5, None]),
            "training network fwd+bwd 8 x 128x128 (fast)": (train, [128, 8, "fast", 5, False, None, False])}


def _time(tree: Path, script: str, args: list) -> float:
    res = subprocess.run([sys.executable, "-c", script, json.dumps(args)], capture_output=True, text=True,
                         check=True, cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)))
    return json.loads(res.stdout.strip().splitlines()[-1])["median"]


def measure(base: str, rounds: int = 5, progress: bool = True) -> dict:
    """Times of every case for the tree at ``base`` and this working tree, ``rounds`` alternating rounds."""
    from tqdm.auto import tqdm

    from solvers._linalg import sgemm_gflops

    cases = _cases()
    rev = subprocess.run(["git", "rev-parse", "--short", base], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(before), rev], cwd=ROOT, check=True)
        try:
            trees = {"before": before, "after": ROOT}
            times = {c: {k: [] for k in trees} for c in cases}
            for tree in trees.values():  # warm-up: numba compiles each tree's kernels into its own cache
                for script, args in cases.values():
                    _time(tree, script, args)
            for _ in tqdm(range(rounds), desc="A/B rounds", disable=not progress):
                for case, (script, args) in cases.items():
                    for side, tree in trees.items():
                        times[case][side].append(_time(tree, script, args))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False)
    return {"base": rev, "rounds": rounds, "sgemm_gflops": sgemm_gflops(),
            "measured": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S UTC"), "times": times}


def section(entries: dict) -> list[str]:
    """Markdown lines of the A/B entries (label -> :func:`measure` result)."""
    if not entries:
        return []
    lines = ["## Refactors: before vs after, one run each (`python -m benchmarks.ab`)", "",
             "Medians over alternating rounds of fresh processes (each the median of 5 repeats after a warm-up), "
             "with the range of the rounds; after / before = 1 is no change.", ""]
    for label, e in entries.items():
        lines += [f"**{label}** (before: {e['base']}; {e['rounds']} rounds, measured {e['measured']}, sgemm "
                  f"{e['sgemm_gflops']:.0f} GFLOP/s in that run)", "",
                  "| case | before (s) | after (s) | after / before |", "|---|---:|---:|---:|"]
        for case, t in e["times"].items():
            b, a = statistics.median(t["before"]), statistics.median(t["after"])
            lines.append(f"| {case} | {b:.3f} ({min(t['before']):.3f} - {max(t['before']):.3f}) | {a:.3f} "
                         f"({min(t['after']):.3f} - {max(t['after']):.3f}) | {a / b:.3f} |")
        lines.append("")
    return lines


def load() -> dict:
    return json.loads(RAW.read_text()) if RAW.is_file() else {}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git revision of the 'before' tree")
    ap.add_argument("--label", required=True, help="what changed (the entry's title; an entry of that label is "
                    "replaced)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default: %(default)s)")
    args = ap.parse_args(argv)
    entries = load()
    entries[args.label] = measure(args.base, args.rounds)
    from unrolled._atomic import atomic_write_text

    atomic_write_text(RAW, json.dumps(entries, indent=1) + "\n")
    print("\n".join(section({args.label: entries[args.label]})))


if __name__ == "__main__":
    main()
