"""llrr.study: selection rules on validation rows, and scoring a checkpoint on a folder of pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import llrr
from llrr.metrics import compute
from llrr.study import balance, goal_met, means, score_folder, select_step
from tests.conftest import DEMO_DIR, shared_path
from unrolled.nets.lrrnet import LRRNet
from unrolled.training.data import read_grey

REF = {"En": 6.8, "SD": 80.0, "MI": 13.6, "SSIM": 0.7, "VIF": 0.7, "Nabf": 0.15}


def _row(step, **changes):
    return {"step": step, **REF, **changes}


def test_goal_criteria_and_the_goal_rule():
    assert all(goal_met(REF, REF).values())
    assert goal_met(_row(1, Nabf=0.169), REF)["Nabf"] and not goal_met(_row(1, Nabf=0.171), REF)["Nabf"]
    rows = [_row(100, En=6.0, VIF=0.9),  # 4 of 5 criteria
            _row(200, VIF=0.71, Nabf=0.2),  # 4 of 5
            _row(300, VIF=0.70),  # all 5
            _row(400, VIF=0.70)]  # all 5, later: the tie goes to the earlier step
    assert select_step(rows, "goal", REF)["step"] == 300
    assert select_step(rows[:2], "goal", REF)["step"] == 100  # equal counts: the higher VIF
    assert select_step(rows, "metric:VIF")["step"] == 100
    assert select_step([{"step": 1, "val_total": 5.0}, {"step": 2, "val_total": 4.0}], "metric:val_total")["step"] == 2
    with pytest.raises(ValueError, match="needs the released checkpoint"):
        select_step(rows, "goal")
    with pytest.raises(ValueError, match="not a column"):
        select_step(rows, "metric:Qabf")
    with pytest.raises(ValueError, match="rule must be"):
        select_step(rows, "best")
    with pytest.raises(ValueError, match="no validation rows with finite scores"):
        select_step([], "metric:VIF")
    assert select_step([_row(1, VIF=float("nan")), _row(2, VIF=0.1)], "metric:VIF")["step"] == 2  # NaN never wins
    # each source's VIF term counts where both the row and the reference record it
    ref = dict(REF, VIF_ir=1.0, VIF_vi=1.3)
    copy = _row(1, VIF=1.3, VIF_ir=0.7, VIF_vi=1.9)  # copies the visible image: meets the five, not VIF_ir
    fuses = _row(2, VIF=1.2, VIF_ir=1.1, VIF_vi=1.3)
    assert goal_met(copy, ref) == {"En": True, "SD": True, "MI": True, "VIF": True, "Nabf": True, "VIF_ir": False,
                                   "VIF_vi": True}
    assert select_step([copy, fuses], "goal", ref)["step"] == 2
    assert len(goal_met(copy, REF)) == 5
    with pytest.raises(ValueError, match="direction of 'foo' is unknown"):
        select_step([{"step": 1, "foo": 1.0}], "metric:foo")


def test_the_balance_rule_prefers_the_output_that_keeps_both_sources():
    ref = dict(REF, VIF_ir=1.0, VIF_vi=1.25)
    copy_vi = _row(1, VIF=1.3, VIF_ir=0.7, VIF_vi=1.9)  # all five criteria, weaker source at 0.7 of the reference
    copy_ir = _row(2, VIF=1.0, VIF_ir=1.5, VIF_vi=0.5)  # weaker source at 0.4
    fuses = _row(3, VIF=0.9, VIF_ir=0.9, VIF_vi=1.0, SD=70.0)  # weaker at 0.8, though it meets fewer criteria
    assert balance(copy_vi, ref) == pytest.approx(0.7) and balance(fuses, ref) == pytest.approx(0.8)
    assert select_step([copy_vi, copy_ir, fuses], "balance", ref)["step"] == 3
    assert select_step([copy_vi, copy_ir, fuses], "goal", ref)["step"] == 1
    # equal balance: more goal criteria, then the earlier step
    twin = dict(fuses, step=4, SD=90.0)
    assert select_step([fuses, twin], "balance", ref)["step"] == 4
    assert select_step([twin, dict(twin, step=5)], "balance", ref)["step"] == 4
    with pytest.raises(ValueError, match="needs the released checkpoint"):
        select_step([fuses], "balance")
    # rows without the goal's metrics (a run of unrolled's own loop): balance alone, then the earlier step
    bare = [{"step": 1, "VIF_ir": 0.5, "VIF_vi": 2.0}, {"step": 2, "VIF_ir": 0.9, "VIF_vi": 0.95},
            {"step": 3, "VIF_ir": 0.95, "VIF_vi": 0.9}]
    assert select_step(bare, "balance", {"VIF_ir": 1.0, "VIF_vi": 1.0})["step"] == 2
    with pytest.raises(ValueError, match=r"per-source VIF terms .* missing: \['VIF_ir', 'VIF_vi'\]"):
        select_step([_row(1)], "balance", ref)


def test_scoring_a_folder_is_llrr_fuse_then_the_paper_metrics(tmp_path):
    ir, vi = read_grey(DEMO_DIR / "demo_ir.png"), read_grey(DEMO_DIR / "demo_vi.png")
    for sub in ("ir", "vi"):
        (tmp_path / sub).mkdir()
    crops = {"a": np.s_[:90, :120], "b": np.s_[30:120, 40:160]}
    for name, s in crops.items():
        Image.fromarray(ir[s]).save(tmp_path / "ir" / f"{name}.png")
        Image.fromarray(vi[s]).save(tmp_path / "vi" / f"{name}.png")
    torch.manual_seed(2)
    torch.save(LRRNet().state_dict(), tmp_path / "w.pt")
    got = score_folder(tmp_path / "w.pt", tmp_path, progress=False)
    for name, s in crops.items():
        fused = llrr.fuse(ir[s], vi[s], method="lrrnet", weights=tmp_path / "w.pt")
        assert got[name] == compute(fused, ir[s], vi[s], profile="paper")
    assert means(got)["En"] == pytest.approx((got["a"]["En"] + got["b"]["En"]) / 2, rel=1e-15)


def test_the_mix_sweep_scores_the_algorithm1_start_for_each_visible_share(tmp_path):
    from llrr.study import mix_sweep
    from llrr.training import MetricValidator
    from tests.conftest import write_demo_pairs
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import TrainConfig
    from unrolled.training.data import PairDataset
    from unrolled.training.init import lrrnet_from_training_data
    from unrolled.training.validation import split_pairs

    folder = write_demo_pairs(tmp_path / "pairs", 6, (80, 96))  # VIF needs 72 x 72
    config = TrainConfig(data=(str(folder),), out_dir=str(tmp_path / "run"), crop=32, init="algorithm1",
                         val_fraction=0.34, vgg_weights="random", model=LRRNetConfig(n=8, blocks=1))
    reference = dict(REF, SD=1e9)  # SD can never be met: at most 4 criteria
    rows = mix_sweep(config, [0.9, 0.5], reference=reference, progress=False)
    assert [r["share"] for r in rows] == [0.5, 0.9]
    data = PairDataset([folder])
    train_idx, val_idx = split_pairs(data.names(), 0.34)
    images = [[x.astype(np.float32) / 255 for x in side] for side in zip(*data.subset(train_idx).images, strict=True)]
    validator = MetricValidator(data.subset(val_idx).images)
    for row in rows:
        s = row["share"]
        net = lrrnet_from_training_data(*images, n_low=8, n_sparse=8, blocks=1, image_shape=(32, 32), seed=0,
                                        low=(1 - s, s), sparse=(1 - s, s)).eval()
        scores = validator(net)
        assert {m: row[m] for m in scores} == pytest.approx(scores, rel=1e-12)
        assert row["criteria"] == sum(goal_met(scores, reference).values()) <= 4
    best = max(rows, key=lambda r: (r["criteria"], r["VIF"]))
    assert [r["chosen"] for r in rows] == [int(r is best) for r in rows]
    with pytest.raises(ValueError, match=r"shares must be numbers in \(0, 1\]"):
        mix_sweep(config, [0.0], reference=reference)
    with pytest.raises(ValueError, match="init = 'algorithm1' and val_fraction > 0"):
        mix_sweep(TrainConfig(data=(str(folder),)), [0.5], reference=reference)
    # any weights of the base and salient parts: the same network as lrrnet_from_training_data with those weights
    from llrr.study import main, mix_grid

    mix = ((0.2, 0.3), (0.6, 0.4))
    (row,) = mix_grid(config, [mix], reference=reference, progress=False)
    assert (row["low_ir"], row["low_vi"], row["sparse_ir"], row["sparse_vi"]) == (0.2, 0.3, 0.6, 0.4)
    net = lrrnet_from_training_data(*images, n_low=8, n_sparse=8, blocks=1, image_shape=(32, 32), seed=0,
                                    low=mix[0], sparse=mix[1]).eval()
    assert {m: row[m] for m in validator(net)} == pytest.approx(validator(net), rel=1e-12)
    with pytest.raises(ValueError, match=r"low\[1\] must be in \[0.0, inf\), got -0.1"):
        mix_grid(config, [((0.5, -0.1), (0.5, 0.5))], reference=reference)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "c.toml"), "--mixes", "0.5,0.5,0.5"])


def test_ship_writes_a_validated_step_as_weights_with_its_sidecar(tmp_path):
    import json

    from llrr.study import ship
    from tests.conftest import write_demo_pairs
    from unrolled import lrrnet
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import TrainConfig
    from unrolled.training.loop import train
    from unrolled.weights import sha256_of

    folder = write_demo_pairs(tmp_path / "pairs", 6, (40, 48))
    config = TrainConfig(data=(str(folder),), out_dir=str(tmp_path / "run"), crop=24, batch=2, steps=4, lr=1e-3,
                         threads=1, vgg_weights="random", val_fraction=0.34, val_every=2,
                         model=LRRNetConfig(n=8, blocks=2))
    train(config, progress=False)
    dest = ship(config, 2, tmp_path / "w" / "shipped.pt", rule="metric:val_total", reference=REF)
    saved = torch.load(tmp_path / "run" / "validated" / "step_000002.pt", weights_only=True)
    model = lrrnet(weights=dest)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    side = json.loads(dest.with_suffix(".json").read_text())
    assert side["sha256"] == sha256_of(dest) and side["file"] == "shipped.pt" and side["steps"] == 2
    assert side["architecture"]["n"] == 8 and side["parameters"] == sum(v.numel() for v in saved.values())
    assert side["selection"]["rule"] == "metric:val_total" and len(side["data"]["val_pairs"]) == 2
    assert side["released_checkpoint_validation"] == REF and "val_total" in side["validation"]
    assert TrainConfig.from_dict(side["train_config"]) == config and "name" not in side
    # a named sidecar registers the weights: the registry reads it, sha256 and all
    from unrolled.weights import read_registry

    named = ship(config, 4, tmp_path / "reg" / "mine.pt", reference=REF, name="mine", description="a test run")
    (entry,) = read_registry(tmp_path / "reg").values()
    assert (entry.name, entry.kind, entry.file, entry.sha256, entry.description) == (
        "mine", "lrrnet", "mine.pt", sha256_of(named), "a test run")
    # a name used by another sidecar, or shipping over a named file without its name, is refused before writing
    with pytest.raises(ValueError, match=r"mine\.json already registers the name 'mine'"):
        ship(config, 4, tmp_path / "reg" / "other.pt", reference=REF, name="mine")
    with pytest.raises(ValueError, match="registers 'mine': shipping over it without name="):
        ship(config, 2, named, reference=REF)
    with pytest.raises(ValueError, match="description is only recorded with a registry name"):
        ship(config, 2, tmp_path / "y.pt", reference=REF, description="x")
    assert not (tmp_path / "reg" / "other.pt").exists() and not (tmp_path / "y.pt").exists()
    assert read_registry(tmp_path / "reg")["mine"].sha256 == sha256_of(named)
    with pytest.raises(ValueError, match=r"step 3 was not validated .* validated steps: \[0, 2, 4\]"):
        ship(config, 3, tmp_path / "x.pt", reference=REF)
    assert not (tmp_path / "x.pt").exists()
    # what can fail runs before anything is written: the data folder gone, the shipped file is left as it was
    import shutil

    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="data directory not found"):
        ship(config, 4, dest, reference=REF)
    assert sha256_of(dest) == side["sha256"] and json.loads(dest.with_suffix(".json").read_text())["steps"] == 2


def test_inspect_gives_the_vif_of_each_source_and_draws_validation_pairs(tmp_path):
    from llrr.metrics.vif import vifvec
    from llrr.study import per_source_vif
    from llrr.training import MetricValidator
    from tests.conftest import write_demo_pairs
    from unrolled.training.config import TrainConfig
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs

    folder = write_demo_pairs(tmp_path / "pairs", 6, (80, 96))
    config = TrainConfig(data=(str(folder),), crop=32, val_fraction=0.34)
    paths = {}
    for seed in (1, 2):
        torch.manual_seed(seed)
        paths[f"net{seed}"] = tmp_path / f"w{seed}.pt"
        torch.save(LRRNet().state_dict(), paths[f"net{seed}"])
    rows = per_source_vif(config, paths, figure=tmp_path / "f.png", shown=2, progress=False)
    assert [r["model"] for r in rows] == ["net1", "net2"] and (tmp_path / "f.png").stat().st_size > 0
    data = PairDataset([folder])
    validator = MetricValidator(data.subset(split_pairs(data.names(), 0.34)[1]).images)
    from unrolled import lrrnet

    model = lrrnet(weights=paths["net2"])
    fused = [validator.fuse(model, ir, vi) for ir, vi in validator.pairs]
    assert rows[1]["VIF_ir"] == pytest.approx(np.mean([vifvec(p[0], f, scale=1.0) for p, f in
                                                       zip(validator.pairs, fused, strict=True)]), rel=1e-12)
    assert rows[1]["VIF_vi"] == pytest.approx(np.mean([vifvec(p[1], f, scale=1.0) for p, f in
                                                       zip(validator.pairs, fused, strict=True)]), rel=1e-12)
    from llrr.study_start import source_gains

    gains = [source_gains(p[0], p[1], f) for p, f in zip(validator.pairs, fused, strict=True)]
    assert rows[1]["gain_ir"] == pytest.approx(np.mean([g[0] for g in gains]), rel=1e-12)
    assert rows[1]["gain_vi"] == pytest.approx(np.mean([g[1] for g in gains]), rel=1e-12)


def test_source_gains_recover_a_known_mix(rng):
    from llrr.study_start import source_gains

    ir, vi = rng.random((2, 40, 50)) * 255
    a, b = source_gains(ir, vi, -0.3 * ir + 1.2 * vi + 7 + rng.normal(0, 1e-3, ir.shape))
    assert a == pytest.approx(-0.3, abs=1e-4) and b == pytest.approx(1.2, abs=1e-4)


def test_the_seed_sweep_scores_the_initial_network_llrr_train_builds(tmp_path):
    from llrr.study import seed_sweep
    from llrr.training import MetricValidator
    from tests.conftest import write_demo_pairs
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import TrainConfig
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs

    folder = write_demo_pairs(tmp_path / "pairs", 6, (80, 96))
    config = TrainConfig(data=(str(folder),), crop=32, val_fraction=0.34, model=LRRNetConfig(n=8, blocks=1))
    rows = seed_sweep(config, [3, 4], reference=dict(REF, SD=1e9), progress=False)
    assert [r["seed"] for r in rows] == [3, 4] and rows[0]["VIF"] != rows[1]["VIF"]
    data = PairDataset([folder])
    validator = MetricValidator(data.subset(split_pairs(data.names(), 0.34)[1]).images)
    torch.manual_seed(4)
    net = LRRNet(config.model).to(torch.float32).eval()  # what llrr train starts from with seed 4
    assert {m: rows[1][m] for m in validator(net)} == pytest.approx(validator(net), rel=1e-12)
    with pytest.raises(ValueError, match="val_fraction > 0"):
        seed_sweep(TrainConfig(data=(str(folder),)), [0], reference=REF)


def test_per_source_log_scores_every_validated_step_once_and_joins_val_csv(tmp_path, monkeypatch):
    """Runs whose val.csv predates the per-source VIF terms get them afterwards, exactly as validation scores them."""
    import llrr.training
    from llrr.study import main, per_source_log, select_step
    from llrr.study_start import PER_SOURCE_LOG, merged_log
    from llrr.training import MetricValidator
    from tests.conftest import Spy, write_demo_pairs
    from unrolled import lrrnet
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import TrainConfig
    from unrolled.training.data import PairDataset
    from unrolled.training.loop import train
    from unrolled.training.validation import split_pairs

    folder = write_demo_pairs(tmp_path / "pairs", 6, (80, 96))  # VIF needs 72 x 72
    config = TrainConfig(data=(str(folder),), out_dir=str(tmp_path / "run"), crop=24, batch=2, steps=2, lr=1e-3,
                         threads=1, vgg_weights="random", val_fraction=0.34, val_every=2,
                         model=LRRNetConfig(n=8, blocks=1))
    train(config, progress=False)  # unrolled's loop: val.csv holds the validation loss only
    run = tmp_path / "run"
    assert "VIF_ir" not in merged_log(run)[0]
    rows = per_source_log(config, progress=False)
    data = PairDataset([folder])
    validator = MetricValidator(data.subset(split_pairs(data.names(), 0.34)[1]).images, per_source=True)
    assert [r["step"] for r in rows] == [0, 2]
    for r in rows:
        scores = validator(lrrnet(weights=run / "validated" / f"step_{r['step']:06d}.pt").eval())
        assert (r["VIF_ir"], r["VIF_vi"]) == pytest.approx((scores["VIF_ir"], scores["VIF_vi"]), rel=1e-9)
    joined = merged_log(run)
    assert [(r["step"], r["VIF_ir"], "val_total" in r) for r in joined] == [(r["step"], r["VIF_ir"], True)
                                                                            for r in rows]
    ref = dict(REF, VIF_ir=1.0, VIF_vi=1.0)  # the paper metrics are not in this loop's val.csv: the reference's
    chosen = select_step([dict(REF, **r) for r in joined], "balance", ref)["step"]
    assert chosen == max(rows, key=lambda r: (min(r["VIF_ir"], r["VIF_vi"]), -r["step"]))["step"]
    # a second call scores nothing again; the CLI runs it too
    spy = Spy(llrr.training.MetricValidator.__call__)
    monkeypatch.setattr(llrr.training.MetricValidator, "__call__", lambda self, m: spy(self, m))
    before = (run / PER_SOURCE_LOG).read_text()
    cfg_path = tmp_path / "c.toml"
    config.to_toml(cfg_path)
    main([str(cfg_path), "--per-source"])
    assert spy.calls == 0 and (run / PER_SOURCE_LOG).read_text() == before


def test_render_names_the_choice_across_runs_or_says_why_there_is_none():
    from llrr.study import render

    ref = dict(REF, VIF_ir=1.0, VIF_vi=1.0)
    tests = {"tno21": REF, "vifb": REF}
    runs = {"a": {"steps": 10, "row": _row(10, VIF_ir=0.5, VIF_vi=1.0), "tests": tests, "reference": ref},
            "b": {"steps": 20, "row": _row(0, VIF_ir=0.9, VIF_vi=1.1), "tests": tests, "reference": ref}}
    res = {"rule": "balance", "runs": runs, "winner": "b", "released": {"validation": ref, "tests": tests}}
    text = render(res)
    assert "The rule's choice across these runs: **b**, step 0." in text
    assert "| a | 10 | 10 | 0.5 | 1 | 0.500 |" in text and "| b | 20 | 0 | 0.9 | 1.1 | 0.900 |" in text
    assert "No choice across these runs" in render(dict(res, winner=None))


def test_per_source_log_refuses_a_config_on_a_test_set(tmp_path):
    from llrr.study import TEST_SETS, per_source_log
    from unrolled.training.config import TrainConfig

    tno21 = shared_path("data", "tno21")
    assert tno21 == TEST_SETS["tno21"]
    config = TrainConfig(data=(str(tno21),), out_dir=str(tmp_path / "run"), val_fraction=0.1)
    with pytest.raises(ValueError, match="holds a test set"):
        per_source_log(config, progress=False)


def test_the_frontier_weights_are_the_initial_network_of_their_config_and_the_default_trains_from_them():
    """Reproducibility of weights="frontier" (the former default): step 0 of configs/study/alg1_frontier.toml, the
    network that config's run builds before any step (Algorithm 1 with dictionaries learned on the training split);
    and of weights="default": step 160 of alg1_frontier_vif_ir1_75.toml, a run that starts from that network."""
    import json

    from unrolled.training.config import TrainConfig
    from unrolled.training.data import PairDataset
    from unrolled.training.loop import initial_model
    from unrolled.training.validation import split_pairs
    from unrolled.weights import WEIGHTS

    repo = Path(__file__).resolve().parents[2]
    default = json.loads((WEIGHTS["default"].path).with_suffix(".json").read_text())
    assert default["steps"] == 160 and default["run"] == "runs/study/alg1_frontier_vif_ir1_75"
    run = repo / default["run"] / "validated"
    for name, step in (("default", 160), ("frontier", 0)):
        saved = torch.load(run / f"step_{step:06d}.pt", weights_only=True)
        shipped = torch.load(WEIGHTS[name].path, weights_only=True)
        assert all(torch.equal(saved[k].to(torch.float32), v) for k, v in shipped.items()), name
    shared_path("data", "roadscene")
    side = json.loads((WEIGHTS["frontier"].path).with_suffix(".json").read_text())
    config = TrainConfig.from_toml(repo / "configs" / "study" / "alg1_frontier.toml")
    assert side["steps"] == 0 and side["run"] == "runs/study/alg1_frontier"
    assert side["data"]["val_pairs"] == default["data"]["val_pairs"]
    data = PairDataset(config.data, min_size=config.crop, progress=False)
    train_idx, val_idx = split_pairs(data.names(), config.val_fraction)
    assert [data.names()[i] for i in val_idx] == side["data"]["val_pairs"]
    torch.manual_seed(config.seed)
    built = initial_model(config, data.subset(train_idx)).state_dict()
    shipped = torch.load(WEIGHTS["frontier"].path, weights_only=True)
    assert built.keys() == shipped.keys()
    for k, v in shipped.items():
        torch.testing.assert_close(built[k].to(torch.float32), v, rtol=1e-4, atol=1e-6, msg=k)


def test_the_validation_curves_figure_marks_the_choice(tmp_path, drawn_axes):
    from llrr.study_start import plot_validation

    rows = {"a": [{"step": s, "VIF_ir": 1.0 + s / 100, "VIF_vi": 1.2 - s / 100} for s in (0, 10, 20)],
            "b": [{"step": 0, "VIF": 1.0}]}  # an old run without the per-source columns: no points, no error
    png = plot_validation(rows, {"VIF_ir": 1.05, "VIF_vi": 1.3}, tmp_path / "curves.png", selected=("a", 10))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    for ax, term, ref in zip(drawn_axes[0], ("VIF_ir", "VIF_vi"), (1.05, 1.3), strict=True):
        assert term in ax.get_title()
        lines = {line.get_label(): line for line in ax.lines}
        assert list(lines["a"].get_ydata()) == [r[term] for r in rows["a"]]
        assert list(lines["released checkpoint"].get_ydata()) == [ref, ref]  # the dashed reference line
        stars = [line for line in ax.lines if line.get_marker() == "*"]
        assert len(stars) == 1 and list(stars[0].get_xdata()) == [10]
        assert stars[0].get_ydata()[0] == pytest.approx(1.1)
        assert len(lines["b"].get_xdata()) == 0


def test_validation_curves_refuse_missing_runs_mixed_splits_and_test_sets(tmp_path):
    from llrr.study import TEST_SETS
    from llrr.study_start import validation_curves

    def config(name, fraction, data=str(DEMO_DIR), run=True):
        out = tmp_path / f"run_{name}"
        if run:
            out.mkdir()
            (out / "val.csv").write_text("step,VIF,VIF_ir,VIF_vi\n0,1.0,1.0,1.0\n")
        path = tmp_path / f"{name}.toml"
        path.write_text(f'data = ["{data}"]\nout_dir = "{out}"\nval_fraction = {fraction}\n')
        return path

    with pytest.raises(FileNotFoundError, match=r"val.csv not found: run `llrr train` on never first"):
        validation_curves([config("a", 0.1), config("never", 0.1, run=False)], "balance", tmp_path / "x.png")
    with pytest.raises(ValueError, match="different splits"):
        validation_curves([config("c", 0.1), config("d", 0.2)], "balance", tmp_path / "x.png")
    with pytest.raises(ValueError, match="trains on a test set"):
        validation_curves([config("e", 0.1, data=str(TEST_SETS["tno21"]))], "balance", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
