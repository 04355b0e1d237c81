"""The device and precision options: GPUs where torch has one (those tests skip without CUDA, with the reason), and
bfloat16 autocast, which runs (and is tested) on the CPU too."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from unrolled.device import autocast, fast_allowed, resolve_device
from unrolled.inference import fuse_images
from unrolled.training.config import TrainConfig
from unrolled.training.loop import train
from unrolled.weights import cached_model

from .._torchrun import REPO

SMOKE = REPO / "configs" / "smoke.toml"
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")


@pytest.fixture(scope="module")
def pair():
    from llrr.io import demo_pair, load_grey

    ir, vi = (load_grey(p) for p in demo_pair())
    return ir[:96, :128] / 255.0, vi[:96, :128] / 255.0


def test_device_names_are_resolved_or_refused():
    assert resolve_device(None) == torch.device("cpu") == resolve_device("cpu")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        resolve_device("gpu please")
    if not CUDA:
        with pytest.raises(ValueError, match="CUDA is not available on this machine"):
            resolve_device("cuda")
    assert fast_allowed(torch.device("cpu"), "float32") is None
    assert "precision bfloat16" in fast_allowed(torch.device("cpu"), "bfloat16")
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast(torch.device("cpu"), "float16")


def test_bfloat16_inference_is_close_to_float32(pair):
    model = cached_model("default")
    ir, vi = pair
    f32 = fuse_images(model, ir, vi, normalization="minmax")
    bf16 = fuse_images(model, ir, vi, normalization="minmax", precision="bfloat16")
    eager = fuse_images(model, ir, vi, normalization="minmax", fast=False, device="cpu")
    assert np.abs(eager - f32).max() < 1e-4  # the eager modules on the CPU: the fast path's output
    diff = np.abs(bf16 - f32)
    assert 0 < diff.mean() < 0.02 and diff.max() < 0.15  # bfloat16 has 8 bits of mantissa
    with pytest.raises(ValueError, match="precision bfloat16"):
        fuse_images(model, ir, vi, fast=True, precision="bfloat16")
    assert next(model.parameters()).device.type == "cpu"


def test_bfloat16_training_runs_on_the_eager_path(tmp_path):
    config = replace(TrainConfig.from_toml(SMOKE), out_dir=str(tmp_path / "bf16"), precision="bfloat16")
    summary = train(config, progress=False)
    assert not summary.fast and "precision bfloat16" in summary.fast_reason
    assert np.isfinite(summary.final["total"]) and summary.steps == 3
    state = torch.load(summary.weights)
    assert all(v.dtype == torch.float32 and v.device.type == "cpu" for v in state.values())


@pytest.mark.skipif(CUDA, reason="checks the error of a machine without CUDA")
def test_training_on_a_missing_gpu_is_refused_before_anything_is_written(tmp_path):
    config = replace(TrainConfig.from_toml(SMOKE), out_dir=str(tmp_path / "gpu"), device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        train(config, progress=False)
    assert not (tmp_path / "gpu").exists()


@needs_cuda
def test_gpu_inference_equals_the_cpu(pair):
    model = cached_model("default")
    ir, vi = pair
    cpu = fuse_images(model, ir, vi, normalization="minmax")
    gpu = fuse_images(model, ir, vi, normalization="minmax", device="cuda")
    assert np.abs(gpu - cpu).max() < 1e-3
    gpu16 = fuse_images(model, ir, vi, normalization="minmax", device="cuda", precision="bfloat16")
    assert np.abs(gpu16 - cpu).mean() < 0.02


@needs_cuda
def test_gpu_training_runs_and_its_checkpoint_resumes_on_the_cpu(tmp_path):
    out = tmp_path / "gpu"
    gpu = replace(TrainConfig.from_toml(SMOKE), out_dir=str(out), device="cuda", steps=2)
    summary = train(gpu, progress=False)
    assert not summary.fast and np.isfinite(summary.final["total"])
    train(replace(gpu, device="cpu", steps=3), resume=out, progress=False)
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3


def test_each_process_of_a_machine_gets_its_own_gpu_or_a_clear_error():
    from unrolled.device import process_device

    assert process_device("cpu", 1, 2) == torch.device("cpu")
    with pytest.raises(ValueError, match="would put them all on one GPU"):
        process_device("cuda:1", 0, 2)
    if not CUDA:
        with pytest.raises(ValueError, match="CUDA is not available"):
            process_device("cuda", 1, 2)
