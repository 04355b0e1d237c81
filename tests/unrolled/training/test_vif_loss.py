"""The paper's VIF metric as a loss (unrolled.training.vif_loss): equal to llrr's numpy vifvec (scale 1) on real
images, a gradient that matches finite differences, its place in FusionLoss, and named errors."""

import numpy as np
import pytest
import torch

from llrr.metrics.vif import vif, vifvec
from unrolled.training.losses import FusionLoss, minmax_255, vgg16_features
from unrolled.training.vif_loss import MIN_SIZE, vif_loss, vif_per_image

D = torch.float64


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float64) / 255.0)[None, None]


def _blend(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    return np.round(share * a.astype(float) + (1 - share) * b.astype(float)).astype(np.uint8)


def test_equals_the_numpy_metric_on_the_demo_pair(demo_ir, demo_vi):
    # float64 on the same uint8 values: the two differ by rounding only (sums of ~1e4 logs) -> rtol 1e-10
    ir, vi = demo_ir.astype(np.uint8), demo_vi.astype(np.uint8)
    cases = [(ir, vi), (vi, ir), (ir, ir), (vi, _blend(ir, vi, 0.3)), (ir, _blend(ir, vi, 0.7)),
             (ir, 255 - vi)]  # the last one: negative gains, clamped to 0
    for ref, dist in cases:
        want = vifvec(ref, dist, scale=1.0)
        got = vif_per_image(_t(ref), _t(dist)).item()
        np.testing.assert_allclose(got, want, rtol=1e-10)
    fused = _blend(ir, vi, 0.5)
    f255, ir255, vi255 = (torch.from_numpy(x.astype(np.float64))[None, None] for x in (fused, ir, vi))
    got = vif_loss(f255, ir255, vi255, gamma_ir=1.0, gamma_vi=1.0).item()
    np.testing.assert_allclose(-got / 2, vif(fused, ir, vi, scale=1.0), rtol=1e-10)  # the paper profile's VIF


def test_a_batch_equals_its_images_one_by_one_and_a_flat_reference_is_nan(demo_ir, demo_vi):
    rng = np.random.default_rng(0)
    ir, vi = demo_ir.astype(np.uint8)[:96, :128], demo_vi.astype(np.uint8)[:96, :128]
    noisy = np.clip(vi + rng.normal(0, 12, vi.shape), 0, 255).astype(np.uint8)
    refs = torch.cat([_t(ir), _t(vi), _t(np.full_like(ir, 77))])
    dists = torch.cat([_t(noisy), _t(noisy), _t(noisy)])
    got = vif_per_image(refs, dists)
    for i in range(2):
        np.testing.assert_allclose(got[i].item(), vif_per_image(refs[i : i + 1], dists[i : i + 1]).item(), rtol=1e-12)
        np.testing.assert_allclose(got[i].item(), vifvec(refs[i, 0].mul(255).round().byte().numpy(), noisy, scale=1.0),
                                   rtol=1e-10)
    assert np.isnan(got[2].item())  # no information in a flat reference, as the metric says
    # the loss leaves a flat source out of its term's mean (a saturated sample must not stop a run)
    f255, refs255 = dists * 255, refs * 255
    loss = vif_loss(f255, refs255, refs255, gamma_ir=1.0, gamma_vi=0.0)
    np.testing.assert_allclose(loss.item(), -got[:2].mean().item(), rtol=1e-12)
    assert vif_loss(f255[2:], refs255[2:], refs255[2:], gamma_ir=1.0, gamma_vi=1.0).item() == 0.0
    # odd, non-square sizes against the metric
    odd = (ir[:91, :100], _blend(ir, vi, 0.6)[:91, :100])
    np.testing.assert_allclose(vif_per_image(_t(odd[0]), _t(odd[1])).item(), vifvec(*odd, scale=1.0), rtol=1e-10)


def test_gradient_matches_finite_differences_and_the_references_get_none(demo_ir, demo_vi):
    ref = _t(demo_ir[:90, :100])
    fused = _t(_blend(demo_ir, demo_vi, 0.4)[:90, :100]).requires_grad_(True)
    ref.requires_grad_(True)
    value = vif_per_image(ref, fused).sum()
    value.backward()
    assert ref.grad is None  # the reference is a constant
    assert fused.grad.abs().sum() > 0
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        d = torch.randn(fused.shape, generator=gen, dtype=D)
        eps = 1e-6
        with torch.no_grad():
            numeric = (vif_per_image(ref, fused + eps * d) - vif_per_image(ref, fused - eps * d)).item() / (2 * eps)
        np.testing.assert_allclose((fused.grad * d).sum().item(), numeric, rtol=1e-5)


def test_gradient_ascent_raises_vif(demo_ir, demo_vi):
    ref = _t(demo_ir[:96, :96])
    fused = _t(_blend(demo_ir, demo_vi, 0.2)[:96, :96]).requires_grad_(True)
    before = vif_per_image(ref, fused).item()
    for _ in range(3):
        v = vif_per_image(ref, fused).sum()
        (g,) = torch.autograd.grad(v, fused)
        with torch.no_grad():
            fused += 1e-3 * g / g.abs().max()
    assert vif_per_image(ref, fused).item() > before


def test_in_fusion_loss_it_adds_to_the_content_term_without_vgg():
    vgg = vgg16_features(None, seed=1).to(D)
    torch.manual_seed(2)
    out = torch.randn(2, 1, 80, 80, dtype=D, requires_grad=True)
    ir, vi = torch.rand(2, 1, 80, 80, dtype=D) * 255, torch.rand(2, 1, 80, 80, dtype=D) * 255
    calls = []
    hook = vgg.register_forward_hook(lambda m, inp, o: calls.append(1))
    try:
        loss = FusionLoss(vgg, gamma1=0.0, gamma2=0.0, beta2=0.0, beta3=0.0, gamma4=0.0, gamma_vif_ir=0.7,
                          gamma_vif_vi=0.2)
        terms = loss(out, ir, vi)
        terms["total"].backward()
    finally:
        hook.remove()
    assert calls == []
    f = minmax_255(out.detach()) / 255
    want = -(0.7 * vif_per_image(ir / 255, f) + 0.2 * vif_per_image(vi / 255, f)).mean()
    np.testing.assert_allclose(terms["content"].item(), want.item(), rtol=1e-12)
    np.testing.assert_allclose(terms["total"].item(), want.item(), rtol=1e-12)
    assert out.grad.abs().sum() > 0
    assert "gamma_vif_ir=0.7" in repr(loss)
    assert FusionLoss(vgg)(out, ir, vi)["content"].item() == 0.0  # off by default


def test_bad_inputs_are_named():
    small = torch.rand(1, 1, MIN_SIZE - 1, 100)
    with pytest.raises(ValueError, match="at least 72"):
        vif_per_image(small, small)
    with pytest.raises(ValueError, match="same shape"):
        vif_per_image(torch.rand(1, 1, 80, 80), torch.rand(1, 1, 80, 90))
    with pytest.raises(ValueError, match=r"fused must be a tensor of shape \(N, 1, H, W\)"):
        vif_per_image(torch.rand(1, 1, 80, 80), torch.rand(80, 80))
    with pytest.raises(ValueError, match="gamma_vif_ir"):
        FusionLoss(vgg16_features(None), gamma_vif_ir=-1.0)


def test_a_training_run_on_the_vif_term_lowers_its_loss_and_small_crops_are_refused(tmp_path):
    from dataclasses import replace

    from tests.conftest import DEMO_DIR
    from unrolled.nets.lrrnet import LRRNetConfig
    from unrolled.training.config import LossWeights, TrainConfig
    from unrolled.training.log import read_log
    from unrolled.training.loop import train

    loss = LossWeights(gamma1=0.0, gamma2=0.0, beta2=0.0, beta3=0.0, gamma4=0.0, gamma_vif_ir=1.0, gamma_vif_vi=1.0)
    config = TrainConfig(data=(str(DEMO_DIR),), out_dir=str(tmp_path / "run"), crop=72, sampling="resize", batch=1,
                         steps=8, lr=3e-3, checkpoint_every=0, threads=1, vgg_weights="random", loss=loss,
                         model=LRRNetConfig(n=8, blocks=2), seed=4)
    rows = read_log(train(config, progress=False).log)
    content = [r["content"] for r in rows]
    assert all(c < 0 for c in content)  # minus two VIF terms
    assert sum(content[-3:]) < sum(content[:3]) - 1.0  # one pair resized (flips aside) every step: VIF rises (-3.8
    # at step 1, -9.8 at step 8 when measured)
    with pytest.raises(ValueError, match="need crop >= 72"):
        replace(config, crop=64)
