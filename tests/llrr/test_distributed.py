"""``llrr fuse`` (folders) and ``llrr benchmark`` under torchrun (2 processes, gloo on 127.0.0.1): each process
does its share, every output is written once and equals the one-process output, rank 0 reports for all."""

import re

import numpy as np
from PIL import Image

from llrr.cli import main
from solvers._cpus import part_bounds
from tests.conftest import DEMO_DIR

from .._torchrun import torchrun
from .test_benchmark import CROPS_A, _dataset


def _folders(root, n=5):
    ir = np.asarray(Image.open(DEMO_DIR / "demo_ir.png").convert("L"))
    vi = np.asarray(Image.open(DEMO_DIR / "demo_vi.png").convert("L"))
    for sub in ("ir", "vi"):
        (root / sub).mkdir(parents=True)
    for k in range(n):  # five different pairs of one size, and a visible image without partner
        Image.fromarray(np.roll(ir, 9 * k, axis=1)[:96, :120]).save(root / "ir" / f"p{k}.png")
        Image.fromarray(np.roll(vi, 9 * k, axis=1)[:96, :120]).save(root / "vi" / f"p{k}.png")
    Image.fromarray(vi[:96, :120]).save(root / "vi" / "lonely.png")
    return root


def test_sharded_folder_fusion_writes_the_one_process_outputs_once(tmp_path, capsys):
    root = _folders(tmp_path / "data")
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"), "--out-dir", str(one), "-q"]) == 0
    capsys.readouterr()
    proc = torchrun(["fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"), "--out-dir", str(two), "-q"])
    assert proc.returncode == 0, proc.stderr
    # rank 0 reports for both: every pair written once (5, not more), the unpaired image reported once
    assert proc.stdout.count("fused 5 pair(s) with") == 1 and "by 2 processes; skipped 1" in proc.stdout
    assert proc.stderr.count("skipped lonely:") == 1
    names = sorted(p.name for p in two.iterdir())
    assert names == sorted(p.name for p in one.iterdir()) == [f"p{k}.png" for k in range(5)]  # no temporary left
    for name in names:
        assert (two / name).read_bytes() == (one / name).read_bytes()
    # a re-run with --skip-existing fuses only what is missing
    for k in (1, 4):
        (two / f"p{k}.png").unlink()
    proc = torchrun(["fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"), "--out-dir", str(two), "-q",
                     "--skip-existing"])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"fused 2 pair\(s\) .* by 2 processes, 3 already there", proc.stdout), proc.stdout
    for name in names:
        assert (two / name).read_bytes() == (one / name).read_bytes()


def test_shards_cover_the_pairs_once():
    for count in range(0, 9):
        for n in (1, 2, 3, 5):
            parts = [range(*part_bounds(count, k, n)) for k in range(n)]
            assert [i for p in parts for i in p] == list(range(count))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_benchmark_under_two_processes_equals_one_process(tmp_path):
    data = _dataset(tmp_path / "a", CROPS_A, stored=["maxfuse"])
    args = ["benchmark", "--datasets", str(data), "--methods", "average", "max", "--stored", "all",
            "--profiles", "paper", "-q", "-j", "1"]
    assert main([*args, "--out-dir", str(tmp_path / "one")]) == 0
    proc = torchrun([*args, "--out-dir", str(tmp_path / "two")])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("# Benchmark leaderboard") == 1 and "4 image(s) fused, 0 reused" in proc.stdout
    one, two = tmp_path / "one" / "a", tmp_path / "two" / "a"
    assert (two / "paper.csv").read_text() == (one / "paper.csv").read_text()
    for m in ("average", "max"):
        for f in (one / "fused" / m).iterdir():
            assert (two / "fused" / m / f.name).read_bytes() == f.read_bytes()


def test_a_bad_device_or_option_fails_once_before_the_output_folder_is_made(tmp_path, capsys):
    import torch

    root = _folders(tmp_path / "data", n=2)
    out = tmp_path / "out"
    bad = ["--method", "average", "--device", "cpu"] if torch.cuda.is_available() else ["--device", "cuda"]
    assert main(["fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"), "--out-dir", str(out), "-q",
                 *bad]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and ("CUDA is not available" in err or "does not take option(s)" in err)
    assert not out.exists()
