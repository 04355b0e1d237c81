"""``llrr train`` end to end with configs/smoke.toml: outputs, --resume, and errors that name the problem."""

from __future__ import annotations

import json

import torch

from llrr.cli import main
from tests.conftest import REPO
from unrolled.nets.lrrnet import LRRNet, LRRNetConfig
from unrolled.training.log import read_log

SMOKE = REPO / "configs" / "smoke.toml"


def test_llrr_train_smoke_config_end_to_end(tmp_path, capsys):
    out = tmp_path / "smoke"
    assert main(["train", "--config", str(SMOKE), "--out-dir", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps (3 in this run" in printed and "weights written to" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.csv", "losses.png", "lrrnet.json",
                                                     "lrrnet.pt"]
    assert [r["step"] for r in read_log(out / "log.csv")] == [1, 2, 3]
    meta = json.loads((out / "lrrnet.json").read_text())
    assert meta["train_config"]["out_dir"] == str(out) and meta["steps"] == 3
    LRRNet(LRRNetConfig(n=8, blocks=2)).load_state_dict(torch.load(out / "lrrnet.pt", weights_only=True),
                                                         strict=True)

    # a second run into the same folder is refused; --resume (default: out_dir's checkpoint) extends it
    assert main(["train", "--config", str(SMOKE), "--out-dir", str(out), "-q"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--config", str(SMOKE), "--out-dir", str(out), "--resume", "--steps", "5", "-q"]) == 0
    assert "trained 5 steps (2 in this run" in capsys.readouterr().out
    assert [r["step"] for r in read_log(out / "log.csv")] == [1, 2, 3, 4, 5]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_llrr_train_errors_name_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'base = "{SMOKE.as_posix()}"\nsteps = 0\n')
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llrr train: error:") and str(bad) in err and "steps must be an integer >= 1, got 0" in err

    bad.write_text(f'base = "{SMOKE.as_posix()}"\ndata = ["nowhere"]\n')
    assert main(["train", "--config", str(bad), "--out-dir", str(tmp_path / "o")]) == 2
    assert f"data directory not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err

    assert main(["train", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["train", "--config", str(SMOKE), "--out-dir", str(tmp_path / "o"), "--resume",
                 str(tmp_path / "no.pt")]) == 2
    assert f"checkpoint not found: {tmp_path / 'no.pt'}" in capsys.readouterr().err
