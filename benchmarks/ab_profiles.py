"""Scoring speed before and after a change, on one machine in one run: ``python -m benchmarks.ab_profiles --base REV``.

Checks ``REV`` out into a temporary git worktree and times, for that tree ("before") and this working tree ("after"),
in alternating fresh processes, ``llrr.metrics.compute`` of the paper, vifb and cddfuse profiles on ``--pairs`` VIFB
pairs x their 25 stored methods, in one process (the code path both trees have). Prints each round and the best of
the rounds with the sgemm of the run. Needs ../shared/data/vifb.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = r'''
import json, sys, time
from pathlib import Path
from llrr.metrics import compute
from solvers._files import SHARED
V = SHARED / "data" / "vifb"
pairs = sorted(p.stem for p in (V / "ir").glob("*.jpg"))[: int(sys.argv[1])]
methods = sorted(p.name for p in (V / "fused").iterdir() if p.is_dir())
t = time.perf_counter()
for prof in ("paper", "vifb", "cddfuse"):
    for p in pairs:
        for m in methods:
            compute(V / "fused" / m / f"{p}.jpg", V / "ir" / f"{p}.jpg", V / "vi" / f"{p}.jpg", profile=prof)
print(json.dumps({"seconds": time.perf_counter() - t, "images": len(pairs) * len(methods)}))
'''


def _run(tree: Path, pairs: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CODE, str(pairs)], cwd=tree, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if proc.returncode:
        raise RuntimeError(f"scoring in {tree} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", required=True, help="the revision to compare with (e.g. a commit before the change)")
    ap.add_argument("--pairs", type=int, default=5, help="VIFB pairs (x 25 methods x 3 profiles; default 5)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from solvers._linalg import sgemm_gflops

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                       capture_output=True)
        try:
            g0, times = sgemm_gflops(), {"before": [], "after": []}
            for r in range(args.rounds):
                for label, tree in (("before", base), ("after", ROOT)):
                    got = _run(tree, args.pairs)
                    times[label].append(got["seconds"])
                    print(f"round {r + 1} {label}: {got['seconds']:.1f} s for {got['images']} images x 3 profiles",
                          flush=True)
            g1 = sgemm_gflops()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    b, a = min(times["before"]), min(times["after"])
    print(f"best of {args.rounds}: before ({args.base}) {b:.1f} s, after {a:.1f} s: {b / a:.2f}x "
          f"(sgemm {g0:.0f} / {g1:.0f} GFLOP/s at the start / end of the run)")


if __name__ == "__main__":
    main()
