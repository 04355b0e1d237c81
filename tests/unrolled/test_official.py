"""The authors' released checkpoint, loaded strictly, reproduces their released outputs on the 21 TNO pairs."""

import numpy as np
import pytest
import torch

from unrolled import fuse_images, load_official_checkpoint
from unrolled.weights import official_to_ours

from ..conftest import load_grey, shared_path

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def official_path():
    return shared_path("weights", "lrrnet_official_tno_block4.model")


@pytest.fixture(scope="module")
def model(official_path):
    return load_official_checkpoint(official_path)


def test_the_shared_file_is_the_released_one(official_path):
    import hashlib

    from unrolled.weights import OFFICIAL_SHA256

    assert hashlib.sha256(official_path.read_bytes()).hexdigest() == OFFICIAL_SHA256


def test_loads_strictly_with_the_released_architecture(model):
    assert sum(p.numel() for p in model.parameters()) == 49_204
    c = model.config
    assert (c.n, c.kernel_size, c.blocks, c.fusion) == (128, 3, 4, "cat")
    assert model.ir.theta.min() < 0  # the released thresholds include negative values


def test_reproduces_the_released_outputs_on_all_21_pairs(model):
    worst, same, total = 0, 0, 0
    for k in range(1, 22):
        name = f"{k:02d}.png"
        ir = load_grey(shared_path("data", "tno21", "ir", name)).astype(np.uint8)
        vi = load_grey(shared_path("data", "tno21", "vi", name)).astype(np.uint8)
        ref = load_grey(shared_path("data", "tno21", "ref_lrrnet", name)).astype(int)
        fused = fuse_images(model, ir, vi, tile=128).astype(int)
        diff = np.abs(fused - ref)
        assert diff.max() <= 1, f"pair {name}: a pixel differs by {diff.max()} grey levels"
        worst, same, total = max(worst, diff.max()), same + (diff == 0).sum(), total + diff.size
    assert same / total >= 0.999, f"only {100 * same / total:.4f} % of pixels identical"


def test_wrong_checkpoints_are_refused_with_the_keys(official_path, tmp_path):
    state = torch.load(official_path, map_location="cpu", weights_only=True)
    broken = dict(state)
    del broken["get_ls1.lrrblock3.conv_Wdz.conv2d.bias"]
    broken["decoder.extra.weight"] = torch.zeros(3)
    broken["get_ls2.lamj"] = torch.zeros(1, 200)
    torch.save(broken, tmp_path / "broken.model")
    with pytest.raises(ValueError) as err:
        load_official_checkpoint(tmp_path / "broken.model")
    msg = str(err.value)
    assert "ir.blocks.3.c1.conv.bias" in msg and "decoder.extra.weight" in msg and "vi.theta: file (200,)" in msg
    assert set(official_to_ours(state)) == set(load_official_checkpoint(official_path).state_dict())


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.model").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="torch.load"):
        load_official_checkpoint(tmp_path / "x.model")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "y.model")
    with pytest.raises(ValueError, match=r"missing key\(s\): decoder.fuse_low.*; 1 unexpected key\(s\): weight$"):
        load_official_checkpoint(tmp_path / "y.model")
    with pytest.raises(FileNotFoundError):
        load_official_checkpoint(tmp_path / "missing.model")
