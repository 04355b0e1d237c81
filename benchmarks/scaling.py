"""Scaling on this machine: training steps and folder fusion on one process against N processes under torchrun
(gloo on 127.0.0.1), in one run beside its sgemm (``python -m benchmarks.scaling [--processes N]``).

Training: configs/default.toml (128 x 128 samples, batch 8, the fast path, the feature cache) for ``--steps`` steps,
no checkpoints; the figure is the median of the logged step times after the first two (rank 0's, which includes the
gradient all-reduce). Without ../shared the smoke data (the bundled pair, a random VGG) stands in, at crop 64.
Fusion: ``llrr fuse --ir-dir --vi-dir --out-dir`` on the 21 tno21 pairs (or 8 copies of the bundled pair), wall time
of the whole command (process start-up included) divided by the pairs. Each process gets its share of the CPUs
(:func:`unrolled.distributed.threads_per_process`); the one-process runs use them all.

Writes benchmarks/scaling.json and the table between the markers of docs/scaling.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RAW = HERE / "scaling.json"
DOC = ROOT / "docs" / "scaling.md"
BEGIN, END = "<!-- scaling:begin -->", "<!-- scaling:end -->"


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _llrr(args: list[str], processes: int) -> float:
    """Wall seconds of ``llrr ARGS`` on ``processes`` processes (torchrun when more than one)."""
    if processes == 1:
        cmd = [sys.executable, "-m", "llrr.cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "llrr.cli", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t


def _train_config(tmp: Path, steps: int) -> tuple[Path, str]:
    from solvers._files import SHARED

    real = (SHARED / "data" / "roadscene").is_dir() and (SHARED / "weights").is_dir()
    base = ROOT / "configs" / ("default.toml" if real else "smoke.toml")
    extra = "" if real else "crop = 64\nbatch = 8\n"
    path = tmp / "scaling.toml"
    path.write_text(f'base = "{base}"\nsteps = {steps}\ncheckpoint_every = 0\nthreads = 0\n{extra}')
    return path, ("configs/default.toml (128 x 128, batch 8)" if real else
                  "configs/smoke.toml at crop 64, batch 8 (no ../shared: the bundled pair, a random VGG)")


def _step_seconds(run: Path) -> float:
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return statistics.median(float(r["seconds"]) for r in rows[2:])


def _pairs(tmp: Path) -> tuple[Path, Path, int, str]:
    from solvers._files import SHARED

    tno = SHARED / "data" / "tno21"
    if (tno / "ir").is_dir():
        return tno / "ir", tno / "vi", len(list((tno / "ir").iterdir())), "the 21 tno21 pairs"
    from llrr.io import demo_pair

    for side, src in zip(("ir", "vi"), demo_pair(), strict=True):
        (tmp / side).mkdir()
        for k in range(8):
            shutil.copy(src, tmp / side / f"{k}.png")
    return tmp / "ir", tmp / "vi", 8, "8 copies of the bundled pair"


def measure(processes: int, steps: int) -> dict:
    from solvers._cpus import usable_cpus
    from solvers._linalg import sgemm_gflops

    out = {"measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": usable_cpus(),
           "processes": processes, "sgemm_gflops": round(sgemm_gflops(), 1)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config, label = _train_config(tmp, steps)
        out["train"] = {"config": label, "steps": steps}
        for n in (1, processes):
            run = tmp / f"train{n}"
            _llrr(["train", "--config", str(config), "--out-dir", str(run), "-q"], n)
            out["train"][str(n)] = _step_seconds(run)
        ir, vi, pairs, label = _pairs(tmp)
        out["fuse"] = {"pairs": pairs, "data": label}
        for n in (1, processes):
            wall = _llrr(["fuse", "--ir-dir", str(ir), "--vi-dir", str(vi), "--out-dir", str(tmp / f"fused{n}"), "-q"],
                         n)
            out["fuse"][str(n)] = wall / pairs
    try:
        from benchmarks._setup import machine

        out["cpu"] = machine()["cpu"]
    except Exception:  # noqa: BLE001 (the CPU name is a courtesy)
        out["cpu"] = "CPU not recorded"
    out["sgemm_gflops_after"] = round(sgemm_gflops(), 1)
    return out


def table(r: dict) -> str:
    n = str(r["processes"])
    t, f = r["train"], r["fuse"]
    return "\n".join([
        f"Measured {r['measured'][:19]} UTC on {r['cpu']} ({r['cpus']} usable CPUs), sgemm {r['sgemm_gflops']:.0f} "
        f"GFLOP/s before and {r['sgemm_gflops_after']:.0f} after (`python -m benchmarks.scaling`):",
        "",
        f"| work | 1 process | {n} processes | speed-up |",
        "|---|---|---|---|",
        f"| training step, {t['config']}, s (median of steps 3-{t['steps']}) | {t['1']:.2f} | {t[n]:.2f} | "
        f"{t['1'] / t[n]:.2f}x |",
        f"| `llrr fuse` of {f['data']}, s per pair (start-up included) | {f['1']:.2f} | {f[n]:.2f} | "
        f"{f['1'] / f[n]:.2f}x |",
    ])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--processes", type=int, default=2, help="processes of the torchrun runs (default 2)")
    ap.add_argument("--steps", type=int, default=12, help="training steps per run (default 12)")
    args = ap.parse_args(argv)
    r = measure(args.processes, args.steps)
    RAW.write_text(json.dumps(r, indent=1) + "\n")
    text = DOC.read_text()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + BEGIN + "\n" + table(r) + "\n" + END + rest.split(END, 1)[1])
    print(table(r))


if __name__ == "__main__":
    main()
