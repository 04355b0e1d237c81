"""Validation during training (unrolled.training.validation): the held-out split, the scores, best-model selection,
early stopping and resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import DEMO_DIR, write_demo_pairs
from unrolled.nets.lrrnet import LRRNet
from unrolled.training.data import PairDataset, read_grey
from unrolled.training.log import read_log
from unrolled.training.loop import _eager_forward, load_checkpoint, train
from unrolled.training.losses import FusionLoss, vgg16_features
from unrolled.training.validation import LossValidator, Selection, split_pairs

from .test_loop import tiny


def demo_ir() -> np.ndarray:
    return read_grey(DEMO_DIR / "demo_ir.png")  # uint8 on [0, 255], as training reads it


def demo_vi() -> np.ndarray:
    return read_grey(DEMO_DIR / "demo_vi.png")


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory) -> Path:
    """Six real pairs: 64 x 80 windows of the bundled demo pair at different places (ir/ and vi/ layout)."""
    return write_demo_pairs(tmp_path_factory.mktemp("pairs"), 6, (64, 80))


def test_the_split_is_disjoint_sized_and_depends_on_names_only():
    names = [f"img{k:03d}" for k in range(50)]
    train_idx, val_idx = split_pairs(names, 0.1)
    assert len(val_idx) == 5 and sorted(train_idx + val_idx) == list(range(50))
    held = {names[i] for i in val_idx}
    shuffled = list(np.random.default_rng(3).permutation(names))
    assert {shuffled[i] for i in split_pairs(shuffled, 0.1)[1]} == held  # the same pairs in any order
    assert {names[i] for i in split_pairs(names + ["other"], 0.1)[1]} <= held | {"other"}
    assert split_pairs(names, 0.0) == (list(range(50)), [])
    assert len(split_pairs(names[:3], 0.01)[1]) == 1  # a split asked for holds at least one pair
    assert len(split_pairs(names[:3], 0.9)[1]) == 2  # and leaves at least one to train on
    assert len(set(split_pairs(["a", "a", "b", "c"], 0.5)[1])) == 2  # repeated names are told apart
    with pytest.raises(ValueError, match="fraction must be a number in"):
        split_pairs(names, 1.0)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        split_pairs(["one"], 0.5)


def test_selection_keeps_the_best_in_the_metric_direction_and_restores_its_state():
    s = Selection("Nabf", patience=3)
    lower = {"Nabf": False}
    assert s.update(1, {"Nabf": 0.2}, lower) and not s.update(2, {"Nabf": 0.3}, lower)
    assert not s.update(3, {"Nabf": float("nan")}, lower)  # a NaN score never wins
    assert s.update(4, {"Nabf": 0.1}, lower) and (s.best, s.best_step, s.stale) == (0.1, 4, 0)
    t = Selection("Nabf", patience=3)
    t.load_state_dict(s.state_dict())
    assert t.state_dict() == s.state_dict()
    for step in (5, 6, 7):
        t.update(step, {"Nabf": 0.5}, lower)
    assert t.should_stop and not Selection("Nabf").should_stop
    with pytest.raises(ValueError, match="'VIF' is not a validation score"):
        Selection("VIF").update(1, {"Nabf": 0.1}, lower)
    with pytest.raises(ValueError, match="selects on 'VIF'"):
        Selection("VIF").load_state_dict(s.state_dict())


def test_the_loss_validator_is_the_eq10_loss_of_the_resized_pairs():
    torch.manual_seed(0)
    net = LRRNet(n=4, blocks=1)
    images = [(demo_ir()[:60, :70], demo_vi()[:60, :70]), (demo_ir()[40:100, 10:90], demo_vi()[40:100, 10:90])]
    loss = FusionLoss(vgg16_features(None, seed=0))
    scores = LossValidator(PairDataset.from_arrays(images), loss, _eager_forward, crop=32, batch=1)(net)
    from unrolled.training.data import minmax01, resize_bilinear

    want = []
    for ir, vi in images:
        a, b = (resize_bilinear(x, 32)[None, None] for x in (ir, vi))
        with torch.no_grad():
            fused = net(torch.from_numpy(minmax01(a)), torch.from_numpy(minmax01(b)))
            want.append(float(loss(fused, torch.from_numpy(a), torch.from_numpy(b))["total"]))
    # batch 1 against a per-pair recomputation of the same float32 ops: equal up to float32 summation order
    assert scores["val_total"] == pytest.approx(np.mean(want), rel=1e-5)
    assert set(scores) == {"val_pixel", "val_shallow", "val_middle", "val_deep", "val_content", "val_total"}


def test_a_run_validates_keeps_the_best_and_trains_on_the_other_pairs(tmp_path, pairs_dir):
    config = tiny(tmp_path / "run", data=(str(pairs_dir),), sampling="resize", crop=32, steps=6, val_fraction=0.34,
                  val_every=2)
    summary = train(config, progress=False)
    rows = read_log(tmp_path / "run" / "val.csv")
    assert [r["step"] for r in rows] == [0, 2, 4, 6]  # the initial network, then every val_every steps
    best = min(rows, key=lambda r: r["val_total"])
    assert summary.best_step == best["step"] and summary.best_value == best["val_total"]
    info = json.loads((tmp_path / "run" / "best.json").read_text())
    assert info["validation"]["step"] == best["step"] and len(info["validation"]["pairs"]) == 2
    val_names = set(info["validation"]["pairs"])
    assert val_names.isdisjoint(load_checkpoint(summary.checkpoint)["pairs"])  # never trained on
    assert len(load_checkpoint(summary.checkpoint)["pairs"]) == 4
    # best.pt holds the weights that scored best: re-scored now, it gives the logged value
    net = LRRNet(config.model)
    net.load_state_dict(torch.load(tmp_path / "run" / "best.pt", weights_only=True))
    full = PairDataset([pairs_dir])
    val = full.subset([i for i, name in enumerate(full.names()) if name in val_names])
    again = LossValidator(val, FusionLoss(vgg16_features(None, seed=config.seed)), _eager_forward, crop=32,
                          batch=config.batch)(net)
    # the training run scored on the fast path, this on the eager modules: equal to float32 rounding
    assert again["val_total"] == pytest.approx(best["val_total"], rel=1e-4)
    kept = torch.load(tmp_path / "run" / "validated" / f"step_{best['step']:06d}.pt", weights_only=True)
    assert sorted(p.name for p in (tmp_path / "run" / "validated").iterdir()) == [
        f"step_{k:06d}.pt" for k in (0, 2, 4, 6)]
    assert all(torch.equal(kept[k], v) for k, v in net.state_dict().items())  # every validated step's weights
    final = json.loads((tmp_path / "run" / "lrrnet.json").read_text())["validation"]
    assert final["best_step"] == best["step"] and final["last"]["step"] == 6


def test_a_run_extended_with_resume_validates_as_an_uninterrupted_one(tmp_path, pairs_dir):
    config = tiny(tmp_path / "whole", data=(str(pairs_dir),), sampling="resize", crop=32, steps=6,
                  val_fraction=0.34, val_every=2, checkpoint_every=2)
    train(config, progress=False)
    part = replace(config, out_dir=str(tmp_path / "part"), steps=5)  # ends between two validations
    train(part, progress=False)
    train(replace(part, steps=6), resume=tmp_path / "part", progress=False)
    for name in ("val.csv", "best.json"):
        a, b = ((tmp_path / d / name).read_text() for d in ("whole", "part"))
        if name == "best.json":
            a, b = (json.loads(x)["validation"] for x in (a, b))
        assert a == b, name
    a, b = (torch.load(tmp_path / d / "best.pt", weights_only=True) for d in ("whole", "part"))
    assert all(torch.equal(a[k], b[k]) for k in a)


class _ParameterCount:
    """A validator whose score never changes while training: the model's number of parameters."""

    higher_is_better = {"parameters": True}

    def __call__(self, model) -> dict[str, float]:
        return {"parameters": float(sum(p.numel() for p in model.parameters()))}


def test_early_stopping_ends_a_run_and_a_resumed_run_stays_stopped(tmp_path, pairs_dir):
    config = tiny(tmp_path / "run", data=(str(pairs_dir),), sampling="resize", crop=32, steps=20, val_fraction=0.34,
                  val_every=2, val_metric="parameters", val_patience=2)
    summary = train(config, progress=False, validators=(lambda ds: _ParameterCount(),))
    # the first validation (step 0) sets the best, steps 2 and 4 do not improve it: stop after step 4
    assert summary.stopped_early and summary.steps == 4 and summary.best_step == 0
    assert [r["step"] for r in read_log(summary.log)] == list(range(1, 5))
    again = train(config, resume=tmp_path / "run", progress=False, validators=(lambda ds: _ParameterCount(),))
    assert again.stopped_early and again.steps == 4 and len(read_log(again.log)) == 4


def test_validation_settings_are_checked(tmp_path, pairs_dir):
    with pytest.raises(ValueError, match="val_fraction must be a number in"):
        tiny(tmp_path, val_fraction=1.5)
    with pytest.raises(ValueError, match="val_profile must be one of"):
        tiny(tmp_path, val_profile="vifb")
    with pytest.raises(ValueError, match="no validation split"):
        train(tiny(tmp_path / "a"), progress=False, validators=(lambda ds: _ParameterCount(),))
    with pytest.raises(ValueError, match="val_every must be an integer >= 1"):
        tiny(tmp_path, val_every=0)
    config = tiny(tmp_path / "b", data=(str(pairs_dir),), crop=32, val_fraction=0.34, val_every=2, val_metric="VIF")
    with pytest.raises(ValueError, match="'VIF' is not a validation score"):
        train(config, progress=False)


def test_a_run_from_algorithm1_starts_as_the_initialised_network_and_lowers_the_loss(tmp_path, pairs_dir):
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.data import CropSampler, resize_bilinear
    from unrolled.training.init import lrrnet_from_training_data

    model = LRRNetConfig(n=16, blocks=2)
    config = tiny(tmp_path / "run", data=(str(pairs_dir),), sampling="resize", crop=32, steps=30, lr=1e-3,
                  checkpoint_every=0, init="algorithm1", model=model)
    summary = train(config, progress=False)
    rows = read_log(summary.log)
    # step 1's loss is the Algorithm 1 network's on the first batch (the same build, the same sampler stream)
    data = PairDataset([pairs_dir])
    images = [[resize_bilinear(x.astype(np.float32) / 255, 32) for x in side]
              for side in zip(*data.images, strict=True)]
    net = lrrnet_from_training_data(*images, n_low=16, n_sparse=16, blocks=2, image_shape=(32, 32), seed=0)
    batch = CropSampler(data, crop=32, batch=2, seed=0, sampling="resize").next_batch()
    loss = FusionLoss(vgg16_features(None, seed=config.seed))
    with torch.no_grad():
        first = float(loss(net(batch.ir01, batch.vi01), batch.ir255, batch.vi255)["total"])
    # the run's step 1 ran on the fast training path, this on the eager modules: float32 rounding apart
    assert rows[0]["total"] == pytest.approx(first, rel=1e-4)
    assert np.mean([r["total"] for r in rows[-5:]]) < 0.8 * np.mean([r["total"] for r in rows[:5]])
    with pytest.raises(ValueError, match="builds the 'llrr' extractor"):
        tiny(tmp_path, init="algorithm1", model=LRRNetConfig(n=8, extractor="conv8"))


def test_the_decoder_weights_of_the_algorithm1_start_come_from_the_config(tmp_path, pairs_dir):
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import TrainConfig
    from unrolled.training.init import lrrnet_from_training_data
    from unrolled.training.loop import initial_model

    model = LRRNetConfig(n=8, blocks=1)
    config = tiny(tmp_path, data=(str(pairs_dir),), crop=32, init="algorithm1", init_low=[0.2, 0.8],
                  init_sparse=(0.1, 0.9), model=model)
    assert config.init_low == (0.2, 0.8)  # TOML lists become pairs
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert TrainConfig.from_toml(path) == config
    data = PairDataset([pairs_dir])
    net = initial_model(config, data)
    images = [[x.astype(np.float32) / 255 for x in side] for side in zip(*data.images, strict=True)]
    ref = lrrnet_from_training_data(*images, n_low=8, n_sparse=8, blocks=1, image_shape=(32, 32), seed=0,
                                    low=(0.2, 0.8), sparse=(0.1, 0.9))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), ref.state_dict().values(), strict=True))
    assert net.decoder.fuse_low.conv.weight[0, :, 1, 1].tolist() == pytest.approx([0.2, 0.8])
    assert net.decoder.fuse_sparse.conv.weight[0, :, 1, 1].tolist() == pytest.approx([0.1, 0.9])
    with pytest.raises(ValueError, match="init_low sets the decoder of init = 'algorithm1'; init is 'random'"):
        tiny(tmp_path, init_low=(0.2, 0.8))
    with pytest.raises(ValueError, match=r"init_sparse must not be \(0, 0\)"):
        tiny(tmp_path, init="algorithm1", init_sparse=(0, 0), model=model)
    with pytest.raises(ValueError, match="with fusion='add'"):
        tiny(tmp_path, init="algorithm1", init_low=(0.2, 0.8), model=LRRNetConfig(n=8, fusion="add"))


def test_a_run_checkpointed_before_the_content_term_existed_resumes_with_it_as_zero(tmp_path, pairs_dir):
    config = tiny(tmp_path / "run", data=(str(pairs_dir),), sampling="resize", crop=32, steps=2, val_fraction=0.34,
                  val_every=2, checkpoint_every=2)
    train(config, progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    for row in ckpt["history"]:  # as an older version wrote them: no "content" term in the loss or the log
        del row["content"]
    for row in ckpt["val_history"]:
        del row["val_content"]
    torch.save(ckpt, tmp_path / "run" / "checkpoint.pt")
    train(replace(config, steps=4), resume=tmp_path / "run", progress=False)
    log, val = read_log(tmp_path / "run" / "log.csv"), read_log(tmp_path / "run" / "val.csv")
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["content"] == 0.0 for r in log)
    assert [r["step"] for r in val] == [0, 2, 4] and all(r["val_content"] == 0.0 for r in val)
    assert all(set(r) == set(val[-1]) for r in val)  # every row has every column


def test_without_vgg_terms_no_vgg_runs_even_with_a_feature_cache(tmp_path, pairs_dir, monkeypatch):
    from unrolled.training import losses

    loss = replace(tiny(tmp_path).loss, gamma1=0.0, gamma2=0.0, beta2=0.0, beta3=0.0, gamma4=0.0, gamma_grad=1.0)
    config = tiny(tmp_path / "run", data=(str(pairs_dir),), sampling="resize", crop=32, steps=3, loss=loss,
                  feature_cache_mb=16, vgg_weights=str(tmp_path / "no-such-vgg.pth"))  # never read
    calls = []
    forward = losses.VGGFeatures.forward
    monkeypatch.setattr(losses.VGGFeatures, "forward", lambda self, x: calls.append(len(x)) or forward(self, x))
    summary = train(config, progress=False)
    assert calls == [] and summary.steps == 3
    assert all(r["content"] > 0 and r["total"] == r["content"] for r in read_log(summary.log))
