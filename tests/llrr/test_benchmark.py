"""``llrr benchmark``: methods x datasets x profiles into one folder, stored outputs scored, reruns reuse, and bad
input refused before anything is written."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

import llrr
from llrr.benchmark import benchmark, resolve_dataset
from llrr.cli import main
from llrr.metrics import compute
from tests.conftest import DEMO_DIR


def llrr_weights_sha(name):
    from unrolled.weights import WEIGHTS

    return WEIGHTS[name].sha256


def _dataset(root, crops, *, colour=False, stored=None):
    ir = np.asarray(Image.open(DEMO_DIR / "demo_ir.png").convert("L"))
    vi = np.asarray(Image.open(DEMO_DIR / "demo_vi.png").convert("L"))
    for sub in ("ir", "vi"):
        (root / sub).mkdir(parents=True)
    for name, s in crops.items():
        Image.fromarray(ir[s]).save(root / "ir" / f"{name}.png")
        v = vi[s]
        if colour:  # a colour visible image: three different channels
            v = np.stack([v, np.roll(v, 1, axis=0), 255 - v], axis=-1)
        Image.fromarray(v).save(root / "vi" / f"{name}.png")
        for method in stored or ():
            (root / "fused" / method).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.maximum(ir[s], vi[s])).save(root / "fused" / method / f"{name}.png")
    return root


CROPS_A = {"a1": np.s_[:80, :96], "a2": np.s_[40:120, 60:156]}
CROPS_B = {"b1": np.s_[100:180, 100:196]}


def test_benchmark_end_to_end_on_two_datasets(tmp_path):
    a = _dataset(tmp_path / "setA", CROPS_A, stored=["theirs"])
    b = _dataset(tmp_path / "setB", CROPS_B, colour=True)
    out = tmp_path / "out"
    res = benchmark([a, b], out, methods=["average", "max"], stored=(),
                    profiles=["paper", "vifb"], progress=False)
    assert res.written == 6 and res.reused == 0
    # our fused images are llrr.fuse's, and the scores are the metrics of those files
    fused = llrr.io.read_image(out / "setA" / "fused" / "max" / "a1.png")
    ir, vi = (llrr.io.read_image(a / s / "a1.png") for s in ("ir", "vi"))
    np.testing.assert_array_equal(fused, llrr.fuse(ir, vi, method="max"))
    ev = res.results["setA"]["paper"]
    assert ev.scores["max"]["a1"] == pytest.approx(compute(fused, ir, vi, profile="paper"))
    assert set(res.results["setB"]) == {"paper", "vifb"} and ev.methods == ("average", "max")
    with open(out / "setA" / "paper.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["method"], r["image"]) for r in rows] == [(m, i) for m in ("average", "max") for i in ("a1", "a2")]
    assert (out / "setA" / "vifb.png").is_file() and (out / "setB" / "paper.png").is_file()
    board = (out / "leaderboard.md").read_text()
    assert "## setA" in board and "### vifb profile (1 pairs)" in board and "GFLOP/s" in board
    assert "Seconds per pair" in board and res.sgemm > 0 and "Seconds to score the 4 fused images" in board
    assert set(res.score_seconds["setB"]) == {"paper", "vifb"}
    # the best mean of a metric is in bold, by the registry's direction
    best = max(ev.methods, key=lambda m: ev.means()[m]["SD"])
    assert f"**{ev.means()[best]['SD']:.4f}**" in board
    # a rerun reuses every fused image; stored outputs come in as extra methods
    res2 = benchmark([a], out, methods=["average", "max"], stored=["theirs"], profiles=["paper"], progress=False)
    assert res2.written == 0 and res2.reused == 4 and res2.seconds["setA"] == {}
    assert res2.results["setA"]["paper"].methods == ("average", "max", "theirs")


def test_benchmark_checks_everything_before_writing(tmp_path):
    a = _dataset(tmp_path / "setA", CROPS_A, stored=["theirs"])
    out = tmp_path / "out"
    (a / "vi" / "a2.png").unlink()  # a missing partner
    with pytest.raises(ValueError, match=r"a2\.png: no partner in the vi directory"):
        benchmark([a], out, methods=["average"], progress=False)
    assert not out.exists()
    a = _dataset(tmp_path / "setC", CROPS_A, stored=["theirs"])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(a / "fused" / "theirs" / "a1.png")  # mis-sized
    with pytest.raises(ValueError, match=r"theirs/a1\.png \(fused 'theirs'\) is 10x10 but .*a1\.png \(ir\) is 96x80"):
        benchmark([a], out, methods=["average"], stored=["all"], progress=False)
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="stored output folder"):
        benchmark([a], out, methods=["average"], stored=["nobody"], progress=False)
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['magic'\]"):
        benchmark([a], out, methods=["magic"], progress=False)
    with pytest.raises(ValueError, match=r"unknown profile\(s\) \['fancy'\]"):
        benchmark([a], out, methods=["average"], profiles=["fancy"], progress=False)
    with pytest.raises(FileNotFoundError, match="dataset 'no_such_set' not found"):
        resolve_dataset("no_such_set")
    assert not out.exists()


def test_outputs_made_with_other_options_are_not_mixed(tmp_path):
    a = _dataset(tmp_path / "setA", CROPS_A)
    out = tmp_path / "out"
    benchmark([a], out, methods=["max"], progress=False)
    with pytest.raises(ValueError, match="holds outputs made with other settings"):
        benchmark([a], out, methods=["max"], colour="channels", progress=False)


def test_the_command_line_writes_the_leaderboard(tmp_path, capsys):
    a = _dataset(tmp_path / "setA", CROPS_A, stored=["theirs"])
    code = main(["benchmark", "--datasets", str(a), "--methods", "average", "--stored", "all", "--profiles", "paper",
                 "--out-dir", str(tmp_path / "o"), "-q"])
    assert code == 0
    board = (tmp_path / "o" / "leaderboard.md").read_text()
    assert "llrr benchmark --datasets" in board and "| theirs |" in board and "| average |" in board
    assert "2 image(s) fused, 0 reused" in capsys.readouterr().out
    assert main(["benchmark", "--datasets", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "p")]) == 2


def test_options_names_and_sizes_are_checked_before_writing(tmp_path):
    a = _dataset(tmp_path / "x" / "set", CROPS_A)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"method 'average' does not take option\(s\) \['bogus'\]"):
        benchmark([a], out, methods=["average"], options={"average": {"bogus": 1}}, progress=False)
    b = _dataset(tmp_path / "y" / "set", CROPS_B)
    with pytest.raises(ValueError, match="two datasets are named 'set'"):
        benchmark([a, b], out, methods=["average"], progress=False)
    small = _dataset(tmp_path / "small", {"s1": np.s_[:40, :50]})
    with pytest.raises(ValueError, match=r"s1\.png: the paper profile cannot score this pair"):
        benchmark([small], out, methods=["average"], profiles=["paper"], progress=False)
    assert not out.exists()
    # "all" among names means every registered method; the settings record holds the defaults too
    import json

    from llrr.benchmark import _manifest

    res = benchmark([a], out, methods=["max", "average"], progress=False)
    assert res.written == 4
    manifest = json.loads((out / "set" / "fused" / "max" / "llrr-benchmark.json").read_text())
    assert manifest == {"method": "max", "options": {}, "colour": "luminance"}
    latlrr = _manifest("latlrr", {}, "luminance")
    assert latlrr["options"]["cumulative"] == "True" and latlrr["options"]["levels"] == "4"
    assert _manifest("lrrnet", {}, "luminance")["options"]["weights_sha256"] == llrr_weights_sha("default")
    with pytest.raises(ValueError, match="holds outputs made with other settings"):
        benchmark([a], out, methods=["max"], options={"max": {}}, colour="channels", progress=False)
