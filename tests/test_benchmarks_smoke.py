"""Every benchmark suite runs in smoke mode (tiny sizes, ``LLRR_BENCH_SMOKE=1``) so that none can rot."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_in_smoke_mode(tmp_path):
    env = dict(os.environ, LLRR_BENCH_SMOKE="1")
    res = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
                          "--benchmark-disable", f"--basetemp={tmp_path / 'bt'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "skipped" not in res.stdout.split("\n")[-2], res.stdout[-2000:]
