"""Run the benchmark suites and write benchmarks/RESULTS.md (``make bench`` or ``python -m benchmarks.report``).

``--json FILE`` renders an existing pytest-benchmark JSON instead of running the suites; ``--only FILE ...`` runs
only the named suites (e.g. ``test_bench_metrics.py``) and merges their results into benchmarks/results.json, keeping
the other suites' last results (each section states when it was measured); ``-k EXPR`` narrows that to the
benchmarks pytest's ``-k`` selects.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from solvers._files import atomic_write_text

from .render import render, stamp

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
RAW = HERE / "results.json"


def measure_gemm(n: int = 2048, repeat: int = 5) -> float:
    """Single-precision square matrix multiply throughput in GFLOP/s (median of ``repeat``)."""
    from solvers._linalg import sgemm_gflops

    return sgemm_gflops(n, repeat)


def run_suites(json_path: Path, only: list[str] | None = None, select: str | None = None) -> None:
    targets = [str(HERE / name) for name in only] if only else [str(HERE)]
    cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", f"--benchmark-json={json_path}",
           "--benchmark-columns=median,min,max,rounds", *(["-k", select] if select else [])]
    subprocess.run(cmd, check=True, cwd=HERE.parent)


def merge(old: dict, new: dict) -> dict:
    """``old`` with the benchmarks of ``new`` added or replaced (by name); each keeps its own measurement time and
    sgemm (:func:`stamp`; benchmarks of older files without one get the file's)."""
    stamp(old, old.get("sgemm_square_gflops"))
    names = {b["name"] for b in new["benchmarks"]}
    out = dict(old)
    out["benchmarks"] = [b for b in old.get("benchmarks", []) if b["name"] not in names] + new["benchmarks"]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path, help="render this pytest-benchmark JSON instead of running the suites")
    ap.add_argument("--only", nargs="+", metavar="FILE", help="run only these suite files and merge the results")
    ap.add_argument("-k", dest="select", metavar="EXPR", help="with --only: run only the benchmarks pytest -k selects")
    args = ap.parse_args(argv)
    if args.json is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "raw.json"
            run_suites(path, args.only, args.select)
            data = json.loads(path.read_text())
        stamp(data, measure_gemm())  # the sgemm of the same run, kept with each benchmark
        if args.only and RAW.is_file():
            old = json.loads(RAW.read_text())
            data = merge(old, data) | {"datetime": old["datetime"], "sgemm_square_gflops": old["sgemm_square_gflops"]}
        else:
            data["sgemm_square_gflops"] = data["benchmarks"][0]["extra_info"]["sgemm_gflops"]
        atomic_write_text(RAW, json.dumps(data, indent=1))
    else:
        data = json.loads(args.json.read_text())
    text = render(data, data.get("sgemm_square_gflops") or measure_gemm())
    atomic_write_text(RESULTS, text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
