"""The frozen VGG-16 of the loss (unrolled.training.vgg): strict loading by name, the two input conventions, seeded
random weights."""

import pytest
import torch
import torch.nn.functional as F

from unrolled.training.vgg import CONVENTIONS, vgg16_features

# Tolerances: the tests compute in float64 (D). A term computed two ways (the module and a hand computation) differs
# by the rounding of its sums, <= 1.1e-16 x (number of terms, <= 1e4) -> rtol 1e-12 for the closed forms, 1e-10 or
# 1e-9 where a longer chain follows (the VGG convolutions, gradients through the Gram matrix or the min-max). Every
# comparison is relative (or exact), so that terms of any size -- the deep term is ~1e-12 with random VGG weights --
# are really compared.
D = torch.float64
CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)


def _random_state(seed=0):
    return {f"features.{k}": v for k, v in vgg16_features(None, seed=seed).features.state_dict().items()}


def _grad(loss, x):
    (g,) = torch.autograd.grad(loss, x)
    return g


def _vgg_by_hand(state, x3):
    """relu1_2, relu2_2, relu3_3, relu4_3 of a 3-channel input, written out with F.conv2d from the state_dict."""
    def conv(h, i):
        return F.relu(F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))

    out, h = [], x3
    for block in ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21)):
        if out:
            h = F.max_pool2d(h, 2)
        for i in block:
            h = conv(h, i)
        out.append(h)
    return out


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
