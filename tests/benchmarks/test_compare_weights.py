"""benchmarks.compare_weights: docs/results.md's tables are llrr.fuse + llrr.metrics on every pair of each test set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import llrr
from benchmarks.compare_weights import RELEASED, compare, plot_crops, render
from llrr.metrics import compute
from tests.conftest import write_demo_pairs
from unrolled.nets.lrrnet import LRRNet


def test_compare_scores_every_model_on_every_dataset_and_renders(tmp_path):
    grey = write_demo_pairs(tmp_path / "grey", 2, (80, 96))
    colour = write_demo_pairs(tmp_path / "colour", 1, (80, 96))
    vi = np.asarray(Image.open(colour / "vi" / "p0.png"))
    rgb = np.stack([vi, np.roll(vi, 3, axis=1), 255 - vi], axis=-1)  # a colour visible image
    Image.fromarray(rgb).save(colour / "vi" / "p0.png")
    weights = {}
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        weights[seed] = tmp_path / f"w{seed}.pt"
        torch.save(LRRNet().state_dict(), weights[seed])
    res = compare(weights[1], weights[3], previous=weights[2], datasets={"grey": grey, "colour": colour},
                  progress=False)
    assert res["models"] == ["ours", "previous", RELEASED]
    assert res["grey"]["names"] == ["p0", "p1"] and res["colour"]["names"] == ["p0"]
    for dname, name in (("grey", "p1"), ("colour", "p0")):
        ir, vi = res[dname]["sources"][name]
        for label, seed in (("ours", 1), ("previous", 2), (RELEASED, 3)):
            fused = llrr.fuse(ir, vi, method="lrrnet", weights=weights[seed])
            np.testing.assert_array_equal(res[dname]["fused"][label][name], fused)
            assert res[dname]["scores"][label][name]["paper"] == compute(fused, ir, vi, profile="paper")
    assert res["colour"]["fused"]["ours"]["p0"].shape == rgb.shape  # colour in, colour out (fused on luminance)
    png = plot_crops(res, tmp_path / "crops.png")  # none of CROPS here: the first image of each dataset
    assert Image.open(png).size[0] > Image.open(png).size[1] / 3
    text = render(res, ours_label="`w1`", figure=str(png), previous_label="`w2`")
    assert text.count("### Means, paper profile") == 2 and "## grey (2 pairs)" in text and "| p1 |" in text
    assert "Previous default: `w2`" in text and "Table 5" not in text.split("## grey")[1].split("## colour")[0]


def test_a_missing_test_set_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="test set 'tno21' not found at .*nowhere"):
        compare("default", tmp_path / "x.pt", datasets={"tno21": tmp_path / "nowhere"}, progress=False)
    with pytest.raises(ValueError, match="no IR/VI pairs found in"):
        compare("default", tmp_path / "x.pt", datasets={"tno21": tmp_path}, progress=False)


def test_the_old_module_forwards_with_a_deprecation_warning():
    import benchmarks.compare_weights as new
    import llrr.compare_weights as old

    with pytest.warns(DeprecationWarning, match="benchmarks.compare_weights.compare"):
        assert old.compare is new.compare
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        old.nope  # noqa: B018


def test_the_header_warns_when_our_weights_were_trained_on_vif(tmp_path):
    import json

    from benchmarks.compare_weights import _trained_on_vif

    assert "VIF metric as the loss" in _trained_on_vif("default")  # the shipped default was (docs/training.md)
    assert _trained_on_vif("frontier") == "" == _trained_on_vif("loss1000")
    path = tmp_path / "w.pt"
    torch.save(LRRNet().state_dict(), path)
    assert _trained_on_vif(path) == ""  # no sidecar: nothing known, nothing claimed
    path.with_suffix(".json").write_text(json.dumps({"train_config": {"loss": {"gamma_vif_vi": 0.5}}}))
    assert "not an independent measure" in _trained_on_vif(path)
