"""The frozen VGG-16 of the loss (unrolled.training.vgg): strict loading by name, the two input conventions, seeded
random weights."""

import pytest
import torch

from unrolled.training.vgg import CONVENTIONS, vgg16_features

from .test_losses import D, _vgg_by_hand


def _random_state(seed=0):
    return {f"features.{k}": v for k, v in vgg16_features(None, seed=seed).features.state_dict().items()}


def test_loads_by_name_and_reports_missing_and_misshaped_keys(tmp_path):
    state = _random_state(5)
    full = dict(state, **{"features.24.weight": torch.zeros(512, 512, 3, 3), "classifier.0.weight": torch.zeros(2)})
    torch.save(full, tmp_path / "full.pth")  # a whole torchvision VGG-16: the rest is ignored
    vgg = vgg16_features(tmp_path / "full.pth")
    for k, v in vgg.features.state_dict().items():
        torch.testing.assert_close(v, state[f"features.{k}"], rtol=0, atol=0)
    bad = dict(state)
    del bad["features.19.bias"]
    bad["features.5.weight"] = torch.zeros(128, 3, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"(?s)missing keys: \['features.19.bias'\].*features.5.weight: file "
                                         r"\(128, 3, 3, 3\) vs VGG-16 \(128, 64, 3, 3\)"):
        vgg16_features(tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        vgg16_features(tmp_path / "nowhere.pth")


def test_torchvision_convention_normalises_with_imagenet_statistics(tmp_path):
    state = _random_state(6)
    torch.save(state, tmp_path / "tv.pth")
    vgg = vgg16_features(tmp_path / "tv.pth", convention="torchvision").to(D)
    x = torch.rand(2, 1, 16, 16, dtype=D) * 255
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=D).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=D).reshape(1, 3, 1, 1)
    ref = _vgg_by_hand({k: v.to(D) for k, v in state.items()}, (x.repeat(1, 3, 1, 1) / 255 - mean) / std)
    # mean/std are float32 constants in the module: u = 6e-8 relative on the normalised input (|x| <= 2.6), carried
    # through 10 convolutions (measured 6e-8 of max), hence 1e-6
    for a, b in zip(vgg(x), ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6 * b.abs().max().item())
    assert set(CONVENTIONS) == {"caffe-grey255", "torchvision"}


def test_random_weights_are_seeded_and_leave_the_global_rng_alone():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a, b = vgg16_features(None, seed=7), vgg16_features(None, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.features[0].weight, vgg16_features(None, seed=8).features[0].weight)
