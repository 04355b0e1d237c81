"""llrr.training: the fusion metrics as validation scores of a training run (what `llrr train` runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import llrr
from llrr.cli import main
from llrr.metrics import compute
from llrr.training import MetricValidator, train
from tests.conftest import DEMO_DIR, write_demo_pairs
from unrolled.nets.lrrnet import LRRNet, LRRNetConfig
from unrolled.training.config import TrainConfig
from unrolled.training.data import read_grey
from unrolled.training.log import read_log


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> Path:
    """Five real pairs: 80 x 96 windows of the bundled demo pair (ir/ and vi/ layout)."""
    return write_demo_pairs(tmp_path_factory.mktemp("pairs"), 5, (80, 96))


def test_the_validator_scores_what_llrr_fuse_writes(tmp_path):
    torch.manual_seed(1)
    net = LRRNet(n=4, blocks=1)
    weights = tmp_path / "w.pt"
    torch.save(net.state_dict(), weights)
    ir, vi = read_grey(DEMO_DIR / "demo_ir.png")[:90, :120], read_grey(DEMO_DIR / "demo_vi.png")[:90, :120]
    validator = MetricValidator([(ir, vi), (ir[::-1].copy(), vi[::-1].copy())])
    fused = llrr.fuse(ir, vi, method="lrrnet", weights=weights)
    np.testing.assert_array_equal(validator.fuse(net, ir, vi), fused)  # the same uint8 image
    scores = validator(net)
    flipped = compute(llrr.fuse(ir[::-1].copy(), vi[::-1].copy(), method="lrrnet", weights=weights), ir[::-1], vi[::-1])
    want = {m: (v + flipped[m]) / 2 for m, v in compute(fused, ir, vi).items()}
    assert scores == pytest.approx(want, rel=1e-12)  # the same float64 computations, averaged
    assert validator.higher_is_better == {"En": True, "SD": True, "MI": True, "SSIM": True, "VIF": True,
                                          "Nabf": False}
    with pytest.raises(ValueError, match="unknown metric"):
        MetricValidator([(ir, vi)], metrics=["Qabf"])
    # per source: the two terms the paper's VIF averages (so their mean is it), for each profile's scale
    for profile in ("paper", "standard"):
        both = MetricValidator([(ir, vi)], profile=profile, per_source=True)
        got = both(net)
        plain = MetricValidator([(ir, vi)], profile=profile)(net)  # VIF from the metric registry
        assert got["VIF"] == pytest.approx(plain["VIF"], rel=1e-12)
        assert got["VIF"] == pytest.approx((got["VIF_ir"] + got["VIF_vi"]) / 2, rel=1e-12)
        assert {m: got[m] for m in plain} == pytest.approx(plain, rel=1e-12)
        assert got["VIF_ir"] != pytest.approx(got["VIF_vi"], rel=1e-3)
        assert both.higher_is_better["VIF_ir"] and both.higher_is_better["VIF_vi"]


def test_llrr_train_selects_the_best_checkpoint_by_a_metric(tmp_path, pairs_dir, capsys):
    config = TrainConfig(data=(str(pairs_dir),), out_dir=str(tmp_path / "run"), crop=32, batch=2, steps=4, lr=1e-3,
                         sampling="resize", checkpoint_every=2, threads=1, vgg_weights="random",
                         model=LRRNetConfig(n=8, blocks=2), val_fraction=0.4, val_every=2, val_metric="VIF")
    config.to_toml(tmp_path / "run.toml")
    assert main(["train", "--config", str(tmp_path / "run.toml"), "-q"]) == 0
    out = capsys.readouterr().out
    rows = read_log(tmp_path / "run" / "val.csv")
    assert [r["step"] for r in rows] == [0, 2, 4]
    assert {"val_total", "En", "SD", "MI", "SSIM", "VIF", "Nabf"} <= set(rows[0])
    best = max(rows, key=lambda r: r["VIF"])
    assert f"best VIF {best['VIF']:.5g} at step {best['step']}" in out
    info = json.loads((tmp_path / "run" / "best.json").read_text())["validation"]
    assert info["step"] == best["step"] and info["scores"]["VIF"] == best["VIF"]
    # the Python entry point is the same run
    again = train(TrainConfig.from_dict({**config.to_dict(), "out_dir": str(tmp_path / "again")}), progress=False)
    assert [r["VIF"] for r in again.validation] == [r["VIF"] for r in rows]
