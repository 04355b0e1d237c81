"""Training under torchrun (DistributedDataParallel, gloo on 127.0.0.1): two processes train as one process does, and
a resumed run, of either world size, ends where an uninterrupted one does."""

import math

import pytest
import torch

from unrolled.distributed import Dist, from_env, shard, threads_per_process
from unrolled.nets.lrrnet import LRRNet
from unrolled.training.config import TrainConfig
from unrolled.training.data import PairDataset
from unrolled.training.loop import initial_model, train
from unrolled.training.losses import FusionLoss, vgg16_features

from ..._torchrun import REPO, torchrun

SMOKE = REPO / "configs" / "smoke.toml"
# the decoder's biases add a constant to the output, which the loss removes (it min-max normalises the output):
# their gradient is rounding noise, which Adam's first steps turn into +-lr moves that depend on the summation order
NULL_SPACE = ("decoder.ir_low.conv.bias", "decoder.vi_low.conv.bias", "decoder.ir_sparse.conv.bias",
              "decoder.vi_sparse.conv.bias", "decoder.fuse_low.conv.bias", "decoder.fuse_sparse.conv.bias")


def _run(args, what):
    proc = torchrun(args)
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _log(path):
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    return [dict(zip(head, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def _fused(state, ir, vi):
    net = LRRNet(TrainConfig.from_toml(SMOKE).model)
    net.load_state_dict(state)
    with torch.no_grad():
        y = net(ir, vi)
    lo, hi = y.amin(), y.amax()
    return (y - lo) / (hi - lo)


def _assert_same_training(a, b, *, exact: bool = False):
    """Two run folders trained to the same weights, optimiser state and log (``exact``: to the bit)."""
    la, lb = _log(a / "log.csv"), _log(b / "log.csv")
    assert [r["step"] for r in la] == [r["step"] for r in lb]  # one row per step: only rank 0 logged
    for ra, rb in zip(la, lb, strict=True):
        for k in ("pixel", "shallow", "middle", "deep", "total"):
            assert math.isclose(ra[k], rb[k], rel_tol=0 if exact else 1e-5, abs_tol=0 if exact else 1e-12), (k, ra, rb)
    wa, wb = torch.load(a / "lrrnet.pt"), torch.load(b / "lrrnet.pt")
    assert wa.keys() == wb.keys()
    for k in wa:
        if exact:
            assert torch.equal(wa[k], wb[k]), k
        elif k not in NULL_SPACE:
            assert (wa[k] - wb[k]).abs().max() <= 1e-5, k
    # the null-space biases change nothing the loss or a user sees: the normalised outputs agree
    g = torch.Generator().manual_seed(0)
    ir, vi = torch.rand(2, 1, 40, 48, generator=g), torch.rand(2, 1, 40, 48, generator=g)
    assert (_fused(wa, ir, vi) - _fused(wb, ir, vi)).abs().max() <= 1e-5
    ca = torch.load(a / "checkpoint.pt", weights_only=False)
    cb = torch.load(b / "checkpoint.pt", weights_only=False)
    names = list(ca["model"])
    for i, state in ca["optimizer"]["state"].items():
        if names[i] in NULL_SPACE and not exact:
            continue
        for k in ("exp_avg", "exp_avg_sq"):
            x, y = state[k], cb["optimizer"]["state"][i][k]
            assert (x - y).abs().max() <= (0 if exact else 1e-4) * x.abs().max(), (names[i], k)
    assert ca["rng"]["sampler"] == cb["rng"]["sampler"] and ca["step"] == cb["step"]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    train(_with(TrainConfig.from_toml(SMOKE), out_dir=str(out)), progress=False)
    return out


def _with(config, **changes):
    from dataclasses import replace

    return replace(config, **changes)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "run"
    proc = _run(["train", "--config", str(SMOKE), "--out-dir", str(out), "-q"], "2-process training")
    assert proc.stdout.count("trained 3 steps") == 1 and "2 processes" in proc.stdout  # rank 0 reports, once
    return out


def test_two_processes_train_as_one_process_does(one_process, two_processes):
    _assert_same_training(one_process, two_processes)
    side = (two_processes / "lrrnet.json").read_text()
    assert '"processes": 2' in side


def test_a_resumed_two_process_run_equals_an_uninterrupted_one(tmp_path, two_processes):
    out = tmp_path / "run"
    _run(["train", "--config", str(SMOKE), "--out-dir", str(out), "--steps", "2", "-q"], "first part")
    _run(["train", "--config", str(SMOKE), "--out-dir", str(out), "--resume", "-q"], "resumed part")
    _assert_same_training(two_processes, out, exact=True)


def test_a_two_process_checkpoint_resumes_in_one_process(tmp_path, one_process):
    out = tmp_path / "run"
    _run(["train", "--config", str(SMOKE), "--out-dir", str(out), "--steps", "2", "-q"], "2-process part")
    train(_with(TrainConfig.from_toml(SMOKE), out_dir=str(out)), resume=out, progress=False)
    _assert_same_training(one_process, out)


def test_the_decoder_biases_are_in_the_null_space_of_the_loss():
    """Why the comparisons above leave them out: their gradient is rounding noise against the others'."""
    config = TrainConfig.from_toml(SMOKE)
    torch.manual_seed(config.seed)
    model = initial_model(_with(config, out_dir="unused"), PairDataset(config.data, min_size=config.crop))
    loss = FusionLoss(vgg16_features(None, seed=0))
    g = torch.Generator().manual_seed(1)
    ir, vi = torch.rand(2, 1, 32, 32, generator=g), torch.rand(2, 1, 32, 32, generator=g)
    loss(model(ir, vi), 255 * ir, 255 * vi)["total"].backward()
    grads = dict(model.named_parameters())
    largest = max(p.grad.abs().max().item() for p in grads.values())
    assert all(grads[k].grad.abs().max().item() < 1e-5 * largest for k in NULL_SPACE)
    others = [k for k in grads if k not in NULL_SPACE and k.startswith("decoder.") and k.endswith("weight")]
    assert all(grads[k].grad.abs().max().item() > 1e-3 * largest for k in others)


def test_shard_and_environment(monkeypatch):
    assert [list(shard(7, r, 3)) for r in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [len(shard(2, r, 4)) for r in range(4)] == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="rank 3 must lie in"):
        shard(5, 3, 3)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert from_env() == Dist()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ValueError, match="RANK=5 must lie in"):
        from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK must be an integer"):
        from_env()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    d = from_env()
    assert (d.rank, d.world, d.local_rank, d.local_world, d.main, d.active) == (3, 4, 1, 2, False, True)
    assert threads_per_process(3, d) == 3 and threads_per_process(0, Dist()) == 0
    assert threads_per_process(0, d) >= 1


def test_a_batch_smaller_than_the_world_is_refused(tmp_path):
    proc = torchrun(["train", "--config", str(SMOKE), "--out-dir", str(tmp_path / "r"), "-q"], nproc=3)
    assert proc.returncode != 0 and "batch = 2 is the global batch, shared among the 3 processes" in proc.stderr
    assert not (tmp_path / "r").exists()
