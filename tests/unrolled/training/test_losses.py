"""The detail-to-semantic loss (Eq. 10-14): each term against a hand computation, the min-max inside the loss, the
frozen VGG-16, its weight loading, and the real Caffe weights of ../shared when present."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unrolled.training import losses as losses_module
from unrolled.training.losses import (
    FusionLoss,
    VGGFeatures,
    content_loss,
    deep_loss,
    gram,
    middle_loss,
    minmax_255,
    pixel_loss,
    shallow_loss,
    sobel_magnitude,
    vgg16_features,
)

from ...conftest import shared_path

# Tolerances: the tests compute in float64 (D). A term computed two ways (the module and a hand computation) differs
# by the rounding of its sums, <= 1.1e-16 x (number of terms, <= 1e4) -> rtol 1e-12 for the closed forms, 1e-10 or
# 1e-9 where a longer chain follows (the VGG convolutions, gradients through the Gram matrix or the min-max). Every
# comparison is relative (or exact), so that terms of any size -- the deep term is ~1e-12 with random VGG weights --
# are really compared.
D = torch.float64
CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)


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


@pytest.fixture(scope="module")
def vgg64():
    return vgg16_features(None, seed=3).to(D)


# ---------------------------------------------------------------------------------------------- each term by hand


def test_gram_is_FFt_over_chw_per_image():
    feats = torch.randn(2, 3, 4, 5, dtype=D)
    ref = np.stack([f.reshape(3, 20) @ f.reshape(3, 20).T / 60 for f in feats.numpy()])
    np.testing.assert_allclose(gram(feats).numpy(), ref, rtol=1e-12)
    # 36 x 4 / 144 = 1 exactly (small integers), so assert_close's float64 default (1e-7) is only a formality
    torch.testing.assert_close(gram(torch.full((1, 4, 6, 6), 2.0, dtype=D)), torch.full((1, 4, 4), 1.0, dtype=D))


def test_pixel_and_shallow_loss_values_and_gradients():
    f, v = torch.rand(2, 1, 5, 6, dtype=D, requires_grad=True) * 255, torch.rand(2, 1, 5, 6, dtype=D) * 255
    for fn in (pixel_loss, shallow_loss):
        loss = fn(f, v)
        diff = (f - v).detach().numpy()
        np.testing.assert_allclose(loss.item(), np.sum(diff**2) / diff.size, rtol=1e-12)
        np.testing.assert_allclose(_grad(loss, f).numpy(), 2 * diff / diff.size, rtol=1e-12)


def test_middle_loss_value_and_gradient():
    shapes = [(2, 3, 8, 8), (2, 5, 4, 4)]
    fs = [torch.rand(s, dtype=D, requires_grad=True) for s in shapes]
    irs, vis = [torch.rand(s, dtype=D) for s in shapes], [torch.rand(s, dtype=D) for s in shapes]
    betas, w_ir, w_vi = (0.01, 0.5), 3.0, 0.5
    loss = middle_loss(fs, irs, vis, betas=betas, w_ir=w_ir, w_vi=w_vi)
    res = [(f - (w_ir * a + w_vi * b)).detach().numpy() for f, a, b in zip(fs, irs, vis, strict=True)]
    ref = sum(beta * np.mean(r**2) for beta, r in zip(betas, res, strict=True))
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-12)
    grads = torch.autograd.grad(loss, fs)
    for g, r, beta in zip(grads, res, betas, strict=True):
        np.testing.assert_allclose(g.numpy(), 2 * beta * r / r.size, rtol=1e-12)
    with pytest.raises(ValueError, match="one feature map per beta"):
        middle_loss(fs, irs, vis[:1])


def test_deep_loss_value_and_gradient():
    n, c, h, w = 2, 3, 4, 5
    f, a = torch.randn(n, c, h, w, dtype=D, requires_grad=True), torch.randn(n, c, h, w, dtype=D)
    loss = deep_loss(f, a)
    fm, am = f.detach().numpy().reshape(n, c, h * w), a.numpy().reshape(n, c, h * w)
    g_f = fm @ fm.transpose(0, 2, 1) / (c * h * w)
    g_a = am @ am.transpose(0, 2, 1) / (c * h * w)
    np.testing.assert_allclose(loss.item(), np.mean((g_f - g_a) ** 2), rtol=1e-12)
    dg = 2 * (g_f - g_a) / (n * c * c)  # dL/dG; G = F F^T / chw  =>  dL/dF = (dG + dG^T) F / chw
    ref = ((dg + dg.transpose(0, 2, 1)) @ fm / (c * h * w)).reshape(n, c, h, w)
    np.testing.assert_allclose(_grad(loss, f).numpy(), ref, rtol=1e-10)


def test_minmax_255_value_and_gradient_through_min_and_max():
    y = torch.randn(2, 1, 4, 4, dtype=D, requires_grad=True)
    t = torch.rand(2, 1, 4, 4, dtype=D)
    loss = (minmax_255(y) * t).sum()
    yn = y.detach().numpy().reshape(2, -1)
    lo, hi = yn.min(1, keepdims=True), yn.max(1, keepdims=True)
    r = hi - lo + 1e-5
    np.testing.assert_allclose(minmax_255(y).detach().numpy().reshape(2, -1), 255 * (yn - lo) / r, rtol=1e-12)
    tn = t.numpy().reshape(2, -1)
    ref = 255 * tn / r  # d/dy_j of sum_i t_i 255 (y_i - lo) / (hi - lo + eps), plus the terms of lo and hi
    s = (tn * (yn - lo)).sum(1, keepdims=True)
    ref[np.arange(2), yn.argmin(1)] += 255 * (-tn.sum(1) / r[:, 0] + s[:, 0] / r[:, 0] ** 2)
    ref[np.arange(2), yn.argmax(1)] += 255 * (-s[:, 0] / r[:, 0] ** 2)
    np.testing.assert_allclose(_grad(loss, y).numpy().reshape(2, -1), ref, rtol=1e-10)


# ---------------------------------------------------------------------------------------------- the whole loss


def test_fusion_loss_terms_equal_a_direct_computation(vgg64):
    torch.manual_seed(0)
    out = torch.randn(2, 1, 16, 16, dtype=D, requires_grad=True)
    ir, vi = torch.rand(2, 1, 16, 16, dtype=D) * 255, torch.rand(2, 1, 16, 16, dtype=D) * 255
    terms = FusionLoss(vgg64)(out, ir, vi)
    state = vgg64.features.state_dict(prefix="features.")
    o = out.detach().reshape(2, -1)
    fused = 255 * (out.detach() - o.min(1).values[:, None, None, None]) / (o.max(1).values - o.min(1).values + 1e-5
                                                                           )[:, None, None, None]
    pf, pi, pv = (_vgg_by_hand(state, x.repeat(1, 3, 1, 1)) for x in (fused, ir, vi))
    mse = lambda a, b: ((a - b) ** 2).mean().item()  # noqa: E731

    def gram_loop(x):  # one image at a time, in numpy
        m = x.reshape(x.shape[0], x.shape[1], -1).numpy()
        return np.stack([mi @ mi.T for mi in m]) / m[0].size

    expected = {
        "pixel": 10 * mse(fused, vi),
        "shallow": 1.5 * mse(pf[0], pv[0]),
        "middle": 0.01 * mse(pf[1], 3 * pi[1] + 0.5 * pv[1]) + 0.5 * mse(pf[2], 3 * pi[2] + 0.5 * pv[2]),
        "deep": 2000 * float(np.mean((gram_loop(pf[3]) - gram_loop(pi[3])) ** 2)),
    }
    expected["total"] = sum(expected.values())
    for k, v in expected.items():
        np.testing.assert_allclose(terms[k].item(), v, rtol=1e-10, err_msg=k)


def test_fusion_loss_gradient_matches_finite_differences():
    """Directional derivatives of every term: central differences vs <autograd gradient, direction>."""
    vgg = vgg16_features(None, seed=1).to(D)
    loss = FusionLoss(vgg, gamma4=2e6)  # deep term scaled up so that it matters in the total
    torch.manual_seed(1)
    ir, vi = torch.rand(1, 1, 8, 8, dtype=D) * 255, torch.rand(1, 1, 8, 8, dtype=D) * 255
    out = torch.randn(1, 1, 8, 8, dtype=D, requires_grad=True)
    terms = loss(out, ir, vi)
    keys = ("pixel", "shallow", "middle", "deep", "total")
    grads = {k: torch.autograd.grad(terms[k], out, retain_graph=True)[0] for k in keys}
    h = 1e-6
    for _ in range(3):
        d = torch.randn_like(out)
        with torch.no_grad():
            plus, minus = loss(out + h * d, ir, vi), loss(out - h * d, ir, vi)
        for k in keys:
            fd = (plus[k] - minus[k]).item() / (2 * h)
            # float64 central difference: truncation h^2 |f^(3)| / 6 ~ 1e-12 relative (measured 1e-10 at most); rounding
            # of the two values, ~u |f| / h, taken 10x as the absolute part -- relative to each term, as the deep
            # term (~1e-11 here) would pass any fixed atol
            atol = 10 * np.finfo(np.float64).eps * abs(terms[k].item()) / h
            np.testing.assert_allclose(fd, (grads[k] * d).sum().item(), rtol=1e-5, atol=atol, err_msg=k)


def test_pixel_term_gradient_through_the_min_max_by_hand(vgg64):
    out = torch.randn(2, 1, 8, 8, dtype=D, requires_grad=True)
    vi = torch.rand(2, 1, 8, 8, dtype=D) * 255
    g = _grad(FusionLoss(vgg64)(out, vi, vi)["pixel"], out).numpy().reshape(2, -1)
    y, v = out.detach().numpy().reshape(2, -1), vi.numpy().reshape(2, -1)
    lo, hi = y.min(1, keepdims=True), y.max(1, keepdims=True)
    r = hi - lo + 1e-5
    dfused = 10 * 2 * (255 * (y - lo) / r - v) / y.size  # d(10 * mean((f - v)^2)) / df
    ref = 255 * dfused / r
    s = (dfused * (y - lo)).sum(1)
    ref[np.arange(2), y.argmin(1)] += 255 * (-dfused.sum(1) / r[:, 0] + s / r[:, 0] ** 2)
    ref[np.arange(2), y.argmax(1)] += 255 * (-s / r[:, 0] ** 2)
    np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-12)


def test_min_max_inside_the_loss_shift_and_scale_do_not_matter_and_gradient_flows(vgg64):
    torch.manual_seed(2)
    out = torch.randn(2, 1, 16, 16, dtype=D, requires_grad=True)
    ir, vi = torch.rand(2, 1, 16, 16, dtype=D) * 255, torch.rand(2, 1, 16, 16, dtype=D) * 255
    loss = FusionLoss(vgg64)
    base = loss(out, ir, vi)
    shifted = loss(out.detach() - 7.5, ir, vi)
    scaled = loss(3.0 * out.detach() + 40.0, ir, vi)
    flipped = loss(-out.detach(), ir, vi)
    for k in base:
        # a shift is exactly invariant: float64 rounding of y - min y (measured 2e-16)
        np.testing.assert_allclose(shifted[k].item(), base[k].item(), rtol=1e-9, err_msg=k)
        # a scale is invariant up to the min-max's eps = 1e-5: it multiplies the fused image by
        # (r + eps) / (r + eps / 3) = 1 + 2 eps / (3 r) = 1 + 1.2e-6 for these ranges r ~ 5.5, and the terms (up to
        # 4th degree in it, differences of features) move by a few times that (measured 8.4e-6 for the deep term)
        np.testing.assert_allclose(scaled[k].item(), base[k].item(), rtol=1e-4, err_msg=k)
    assert abs(flipped["total"].item() - base["total"].item()) > 1e-3 * base["total"].item()  # a real change
    g = _grad(base["total"], out)
    assert torch.isfinite(g).all() and g.abs().max() > 0
    # shift invariance => the gradient sums to zero over each image, up to float64 rounding (measured 1e-17);
    # scale invariance up to eps => |<g, y>| ~ eps / r ~ 2e-6 of sum |g y| (measured 2e-6)
    np.testing.assert_allclose(g.sum(dim=(1, 2, 3)).numpy(), 0, atol=1e-9 * g.abs().sum().item())
    dot = (g * out.detach()).sum(dim=(1, 2, 3)).abs()
    assert (dot < 1e-4 * (g.abs() * out.detach().abs()).sum(dim=(1, 2, 3))).all()


def test_without_the_eps_the_min_max_makes_the_loss_exactly_scale_invariant(vgg64, monkeypatch):
    """The rtol of the scaled comparison above is the eps of the min-max, not rounding: with eps = 0 a scale and a
    shift change every term only by float64 rounding (measured 1e-15)."""
    monkeypatch.setattr(losses_module, "minmax_255", functools.partial(minmax_255, eps=0.0))
    torch.manual_seed(2)
    out = torch.randn(2, 1, 16, 16, dtype=D)
    ir, vi = torch.rand(2, 1, 16, 16, dtype=D) * 255, torch.rand(2, 1, 16, 16, dtype=D) * 255
    loss = FusionLoss(vgg64)
    base, scaled = loss(out, ir, vi), loss(3.0 * out + 40.0, ir, vi)
    for k in base:
        np.testing.assert_allclose(scaled[k].item(), base[k].item(), rtol=1e-9, err_msg=k)


def test_vgg_is_frozen_and_source_features_have_no_graph():
    vgg = vgg16_features(None)
    loss = FusionLoss(vgg)
    loss.train()
    assert not vgg.training and all(not p.requires_grad for p in vgg.parameters())
    calls = []
    vgg.register_forward_hook(lambda m, inp, out: calls.append((inp[0].shape[0], torch.is_grad_enabled(),
                                                                 out[3].requires_grad)))
    out = torch.rand(2, 1, 16, 16, requires_grad=True)
    terms = loss(out, torch.rand(2, 1, 16, 16) * 255, torch.rand(2, 1, 16, 16) * 255)
    terms["total"].backward()
    assert calls == [(2, True, True), (4, False, False)]  # fused with graph; IR and VI in one call, without
    assert all(p.grad is None for p in vgg.parameters())
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_each_weight_scales_its_term_and_zero_switches_it_off(vgg64):
    torch.manual_seed(4)
    args = (torch.randn(1, 1, 16, 16, dtype=D), torch.rand(1, 1, 16, 16, dtype=D) * 255,
            torch.rand(1, 1, 16, 16, dtype=D) * 255)
    base = FusionLoss(vgg64)(*args)
    other = FusionLoss(vgg64, gamma1=0.0, gamma2=3.0, gamma4=1000.0, beta2=0.0)(*args)
    assert other["pixel"].item() == 0.0
    # the weights 3 / 1.5 and 1000 / 2000 scale a term by a power of two: exact (measured equal)
    np.testing.assert_allclose(other["shallow"].item(), 2 * base["shallow"].item(), rtol=1e-12)
    np.testing.assert_allclose(other["deep"].item(), 0.5 * base["deep"].item(), rtol=1e-12)
    assert 0 < other["middle"].item() < base["middle"].item()
    # a sum of three float64 terms in another order: 2 roundings << the default rtol 1e-7
    np.testing.assert_allclose(other["total"].item(), sum(other[k].item() for k in ("shallow", "middle", "deep")))


def test_bad_inputs_are_named():
    vgg = vgg16_features(None)
    with pytest.raises(ValueError, match="gamma4 must be a finite number >= 0"):
        FusionLoss(vgg, gamma4=-1)
    with pytest.raises(TypeError, match="vgg must be a VGGFeatures"):
        FusionLoss(torch.nn.Identity())
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match=r"same shape, got \(1, 1, 16, 16\), \(1, 1, 16, 8\)"):
        FusionLoss(vgg)(x, x[..., :8], x)
    with pytest.raises(ValueError, match=r"vi255 must be a tensor of shape \(N, 1, H, W\), got \(1, 3, 16, 16\)"):
        FusionLoss(vgg)(x, x, x.repeat(1, 3, 1, 1))
    with pytest.raises(ValueError, match="H, W >= 8"):
        vgg(torch.rand(1, 1, 4, 16))
    with pytest.raises(ValueError, match="convention must be one of"):
        vgg16_features(None, convention="keras")


# ---------------------------------------------------------------------------------------------- loading weights


@pytest.mark.shared
def test_caffe_weights_shapes_determinism_and_a_sane_loss(demo_ir, demo_vi):
    path = shared_path("weights", "vgg16_caffe_conv1_1-conv4_3.pth")
    vgg = vgg16_features(path)
    assert isinstance(vgg, VGGFeatures) and vgg.convention == "caffe-grey255"
    state = torch.load(path, weights_only=True)
    torch.testing.assert_close(vgg.features[21].weight, state["features.21.weight"], rtol=0, atol=0)  # as stored
    rows, cols = demo_ir.shape
    r0, c0 = (rows - 64) // 2, (cols - 64) // 2

    def crop255(img):  # a full-range [0, 255] crop, so that output == vi survives the min-max inside the loss
        c = img[r0:r0 + 64, c0:c0 + 64]
        return torch.from_numpy(255 * (c - c.min()) / (c.max() - c.min())).float()[None, None].repeat(2, 1, 1, 1)

    ir, vi = crop255(demo_ir), crop255(demo_vi)
    feats = vgg(vi)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    assert all(torch.equal(a, b) for a, b in zip(feats, vgg(vi), strict=True))
    assert all(f.abs().sum() > 0 for f in feats)
    loss = FusionLoss(vgg)
    at_vi = loss(vi / 255, ir, vi)
    torch.manual_seed(0)
    at_random = loss(torch.rand_like(vi), ir, vi)
    # vi / 255 spans [0, 1], so the min-max gives 255 x / (1 + eps): off by <= 255 eps = 2.6e-3 per pixel, a pixel
    # term <= 10 x (2.6e-3)^2 = 6.5e-5 (float32 rounding of the crop adds ~255 u = 1.5e-5 per pixel)
    assert at_vi["pixel"].item() < 1e-3 < at_random["pixel"].item()
    assert at_vi["shallow"].item() < at_random["shallow"].item()
    assert at_vi["total"].item() < at_random["total"].item()
    assert all(torch.isfinite(v) for v in at_random.values())


def test_with_contrast_sets_each_images_standard_deviation_and_keeps_its_mean():
    from unrolled.training.losses import with_contrast

    x = torch.rand(3, 1, 9, 11, dtype=D) * torch.tensor([10.0, 80.0, 200.0], dtype=D).reshape(3, 1, 1, 1)
    x[2] = 7.0  # flat: stays flat
    y = with_contrast(x, 40.0)
    sd = lambda t: (t - t.mean()).square().mean().sqrt()  # noqa: E731
    assert float(sd(y[0])) == pytest.approx(40.0, rel=1e-12) and float(sd(y[1])) == pytest.approx(40.0, rel=1e-12)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), rtol=1e-12, atol=1e-9)
    assert torch.equal(y[2], x[2])


def test_middle_contrast_changes_only_the_middle_targets(vgg64):
    from unrolled.training.losses import with_contrast

    g = torch.Generator().manual_seed(4)
    ir, vi = torch.rand(2, 1, 24, 24, generator=g, dtype=D) * 255, torch.rand(2, 1, 24, 24, generator=g, dtype=D) * 90
    paper = FusionLoss(vgg64).source_targets(ir, vi)
    dev = FusionLoss(vgg64, middle_contrast=47.5).source_targets(ir, vi)
    assert torch.equal(paper["vi_relu1_2"], dev["vi_relu1_2"]) and torch.equal(paper["ir_gram4_3"], dev["ir_gram4_3"])
    phi_ir, phi_vi = vgg64(with_contrast(ir, 47.5)), vgg64(with_contrast(vi, 47.5))
    for k, name in ((1, "mix_relu2_2"), (2, "mix_relu3_3")):
        torch.testing.assert_close(dev[name], 3.0 * phi_ir[k] + 0.5 * phi_vi[k], rtol=1e-10, atol=1e-10)
        assert not torch.allclose(dev[name], paper[name])
    with pytest.raises(ValueError, match="middle_contrast"):
        FusionLoss(vgg64, middle_contrast=-1.0)


# ------------------------------------------------------------------------------- the content term (not the paper's)

def _sobel_scipy(img: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.abs(ndimage.sobel(img, axis=1, mode="nearest")) + np.abs(ndimage.sobel(img, axis=0, mode="nearest"))


def test_sobel_magnitude_equals_scipy_with_replicated_borders():
    rng = np.random.default_rng(7)
    imgs = rng.random((2, 1, 13, 17)) * 255
    got = sobel_magnitude(torch.from_numpy(imgs)).numpy()
    for k in range(2):
        np.testing.assert_allclose(got[k, 0], _sobel_scipy(imgs[k, 0]), rtol=1e-12, atol=1e-10)


def test_content_loss_value_and_gradient_by_hand():
    rng = np.random.default_rng(8)
    f, a, b = (rng.random((2, 1, 12, 14)) * 255 for _ in range(3))
    fused = torch.from_numpy(f).requires_grad_()
    got = content_loss(fused, torch.from_numpy(a), torch.from_numpy(b), gamma_int=0.7, gamma_grad=0.2)
    edges = [np.stack([_sobel_scipy(x[k, 0]) for k in range(2)]) for x in (f, a, b)]
    want = 0.7 * np.abs(f - np.maximum(a, b)).mean() + 0.2 * np.abs(edges[0] - np.maximum(edges[1], edges[2])).mean()
    np.testing.assert_allclose(got.item(), want, rtol=1e-12)
    # the intensity half's gradient by hand: 0.7 sign(f - max) / n (the edge half is checked by finite differences)
    alone = content_loss(fused, torch.from_numpy(a), torch.from_numpy(b), gamma_int=0.7, gamma_grad=0.0)
    np.testing.assert_allclose(_grad(alone, fused).numpy(), 0.7 * np.sign(f - np.maximum(a, b)) / f.size, rtol=1e-12)
    small = tuple(torch.rand(1, 1, 6, 7, dtype=D) * 255 for _ in range(3))
    x = small[0].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda y: content_loss(y, small[1], small[2], gamma_int=0.0, gamma_grad=1.0),
                                    (x,), eps=1e-6, atol=1e-7)
    assert content_loss(fused, torch.from_numpy(a), torch.from_numpy(b), gamma_int=0.0, gamma_grad=0.0).item() == 0


def test_the_content_term_adds_to_the_total_and_without_vgg_terms_vgg_never_runs(vgg64):
    torch.manual_seed(9)
    out = torch.randn(2, 1, 16, 16, dtype=D, requires_grad=True)
    ir, vi = torch.rand(2, 1, 16, 16, dtype=D) * 255, torch.rand(2, 1, 16, 16, dtype=D) * 255
    paper = FusionLoss(vgg64)(out, ir, vi)
    assert paper["content"].item() == 0.0  # off by default: the paper's loss unchanged
    both = FusionLoss(vgg64, gamma_int=1.0, gamma_grad=0.5)(out, ir, vi)
    want = content_loss(minmax_255(out), ir, vi, gamma_int=1.0, gamma_grad=0.5)
    assert torch.equal(both["content"], want)
    for k in ("pixel", "shallow", "middle", "deep"):
        assert torch.equal(both[k], paper[k]), k
    np.testing.assert_allclose(both["total"].item(), paper["total"].item() + want.item(), rtol=1e-12)
    calls = []
    hook = vgg64.register_forward_hook(lambda m, inp, o: calls.append(inp[0].shape[0]))
    try:
        alone = FusionLoss(vgg64, gamma1=2.0, gamma2=0.0, beta2=0.0, beta3=0.0, gamma4=0.0, gamma_int=1.0,
                           gamma_grad=0.5)
        assert not alone.uses_vgg and FusionLoss(vgg64, gamma2=0.0, beta2=0.0, gamma4=0.0).uses_vgg
        terms = alone(out, ir, vi)
        terms["total"].backward()
    finally:
        hook.remove()
    assert calls == []
    assert [terms[k].item() for k in ("shallow", "middle", "deep")] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(terms["total"].item(), terms["pixel"].item() + want.item(), rtol=1e-12)
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_balanced_edges_rescale_each_source_to_the_pairs_mean_edge_strength():
    rng = np.random.default_rng(10)
    f, a, b = rng.random((2, 1, 12, 14)) * 255, rng.random((2, 1, 12, 14)) * 255, rng.random((2, 1, 12, 14)) * 60
    got = content_loss(*(torch.from_numpy(x) for x in (f, a, b)), gamma_int=0.0, gamma_grad=1.0, balance_edges=True)
    want = []
    for k in range(2):
        ef, ea, eb = (_sobel_scipy(x[k, 0]) for x in (f, a, b))
        common = (ea.mean() + eb.mean()) / 2
        want.append(np.abs(ef - np.maximum(ea * common / ea.mean(), eb * common / eb.mean())).mean())
    np.testing.assert_allclose(got.item(), np.mean(want), rtol=1e-12)
    plain = content_loss(*(torch.from_numpy(x) for x in (f, a, b)), gamma_int=0.0, gamma_grad=1.0)
    assert abs(plain.item() - got.item()) > 1  # the visible edges (a quarter of the contrast) now count
