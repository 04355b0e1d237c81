"""The training config (unrolled.training.config): TOML round trips, the shipped configs, and errors that name the
key, the value or the path."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import DEMO_DIR, REPO
from unrolled.nets.lrrnet import LRRNetConfig
from unrolled.training.config import LossWeights, TrainConfig
from unrolled.training.loop import train

CONFIGS = REPO / "configs"
SHARED = (REPO.parent / "shared").resolve()  # where configs/default.toml points (beside the repository; links followed)


# ---- the config --------------------------------------------------------------------------------------------------

def test_toml_round_trip_and_relative_paths(tmp_path):
    config = TrainConfig(data=(str(tmp_path / "a"), str(tmp_path / "b 'q\"")), out_dir=str(tmp_path / "o"),
                         lr=3e-4, steps=7, fast=False, loss=LossWeights(gamma1=0.0, middle_contrast=47.5),
                         model=LRRNetConfig(blocks=6, extractor="dense"))
    config.to_toml(tmp_path / "c.toml")
    assert TrainConfig.from_toml(tmp_path / "c.toml") == config
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r.toml").write_text('data = ["../d"]\nout_dir = "run"\nvgg_weights = "w.pth"\n')
    rel = TrainConfig.from_toml(tmp_path / "sub" / "r.toml")  # relative to the file's folder, not the CWD
    assert rel.data == (str(tmp_path / "d"),)
    assert (rel.out_dir, rel.vgg_weights) == (str(tmp_path / "sub" / "run"), str(tmp_path / "sub" / "w.pth"))


def test_the_shipped_configs():
    default = TrainConfig.from_toml(CONFIGS / "default.toml")
    assert default.data == (str(SHARED / "data" / "roadscene"), str(SHARED / "data" / "tno_train"))
    assert (default.crop, default.batch, default.loss, default.model) == (128, 8, LossWeights(), LRRNetConfig())
    assert default.vgg_weights == str(SHARED / "weights" / "vgg16_caffe_conv1_1-conv4_3.pth")
    ablations = {"gamma1_0": {"loss": replace(LossWeights(), gamma1=0.0)},
                 "gamma4_0": {"loss": replace(LossWeights(), gamma4=0.0)},
                 "blocks2": {"model": LRRNetConfig(blocks=2)}, "blocks6": {"model": LRRNetConfig(blocks=6)},
                 "blocks8": {"model": LRRNetConfig(blocks=8)},
                 "conv_extractor": {"model": LRRNetConfig(extractor="conv8")},
                 "dense_extractor": {"model": LRRNetConfig(extractor="dense")}}
    for name, change in ablations.items():
        expected = replace(default, out_dir=str(REPO / "outputs" / "train" / name), **change)
        assert TrainConfig.from_toml(CONFIGS / f"{name}.toml") == expected, name
    smoke = TrainConfig.from_toml(CONFIGS / "smoke.toml")
    assert smoke.data == (str(DEMO_DIR),) and smoke.vgg_weights == "random"
    assert sorted(p.stem for p in CONFIGS.glob("*.toml")) == sorted([*ablations, "default", "smoke"])


@pytest.mark.parametrize("text, message", [
    ('data = ["d"]\nlearning_rate = 1e-3', r"unknown key\(s\) \['learning_rate'\]"),
    ('data = ["d"]\n[loss]\ngama1 = 1.0', r"unknown key\(s\) \['loss.gama1'\]"),
    ('data = ["d"]\n[model]\nlayers = 3', r"unknown key\(s\) \['model.layers'\]"),
    ('data = ["d"]\ncrop = 4', "crop must be an integer >= 8, got 4"),
    ('data = ["d"]\nbatch = 2.5', "batch must be an integer >= 1, got 2.5"),
    ('data = ["d"]\nlr = -1e-3', r"lr must be a finite number > 0, got -0.001"),
    ('data = ["d"]\nfast = "yes"', "fast must be true or false, got 'yes'"),
    ('data = ["d"]\nsampling = "zoom"', "sampling must be one of .* got 'zoom'"),
    ('data = ["d"]\nvgg_convention = "caffe"', "vgg_convention must be one of .* got 'caffe'"),
    ('data = ["d"]\n[loss]\ngamma4 = -1', r"loss.gamma4 must be a finite number >= 0, got -1"),
    ('data = ["d"]\n[loss]\nmiddle_contrast = "high"', r"loss.middle_contrast must be a finite number >= 0"),
    ('data = ["d"]\n[model]\nblocks = 0', "model.blocks must be a positive integer, got 0"),
    ('data = ["d"]\n[model]\nextractor = "unet"', "model.extractor must be one of .* got 'unet'"),
    ('data = "d"', "data must be a non-empty list of data folders, got 'd'"),
    ("crop = 64", "the key 'data' .* is required"),
    ("data = [", "not valid TOML"),
    ('base = "bad.toml"\ndata = ["d"]', "circular base chain"),
])
def test_bad_configs_name_the_key_and_value(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message) as info:
        TrainConfig.from_toml(path)
    assert str(path) in str(info.value)


def test_missing_files_and_data_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"config file not found: {tmp_path / 'none.toml'}"):
        TrainConfig.from_toml(tmp_path / "none.toml")
    (tmp_path / "c.toml").write_text('base = "gone.toml"\n')
    with pytest.raises(FileNotFoundError, match=r"gone.toml \(the base of"):
        TrainConfig.from_toml(tmp_path / "c.toml")
    tiny = TrainConfig(data=(str(tmp_path / "missing"),), out_dir=str(tmp_path / "o"), crop=16,
                       vgg_weights="random", model=LRRNetConfig(n=4, blocks=1))
    with pytest.raises(FileNotFoundError, match=f"data directory not found: {tmp_path / 'missing'}"):
        train(tiny, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"no IR/VI pairs found in {tmp_path / 'empty'}"):
        train(replace(tiny, data=(str(tmp_path / "empty"),)), progress=False)
    with pytest.raises(FileNotFoundError, match="VGG-16 weights not found"):
        train(replace(tiny, data=(str(DEMO_DIR),), vgg_weights=str(tmp_path / "vgg.pth")), progress=False)
