"""unrolled.fuse_images: tiles, the output scalings ("official", "minmax", "none") and bad input."""

import numpy as np
import pytest
import torch

from unrolled import LRRNet, fuse_images


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(3)
    return LRRNet(n=16).eval()


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:410]
    ir = (120 + 80 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + rng.normal(0, 5, xx.shape)).clip(0, 255).astype(np.uint8)
    vi = (60 + 0.4 * xx + 20 * rng.random(xx.shape)).clip(0, 255).astype(np.uint8)
    return ir, vi


def test_tiled_equals_untiled(net, pair):
    ir, vi = pair
    full = fuse_images(net, ir, vi, normalization="none", fast=False)
    tiled = fuse_images(net, ir, vi, normalization="none", tile=48, fast=False)
    # float32 convolutions on tiles vs the whole image sum in other orders: 1e-4 of the range is the fast path's
    # float32 bound (tests/unrolled/fast/test_infer.py, FLOAT32_RANGE_TOL), the network here being shallower (n=16)
    np.testing.assert_allclose(tiled, full, atol=1e-4 * (full.max() - full.min()))
    a = fuse_images(net, ir, vi, fast=False).astype(int)  # uint8 truncation: 1 level where a value sits on a boundary
    b = fuse_images(net, ir, vi, tile=48, fast=False).astype(int)
    assert np.abs(a - b).max() <= 1
    # the default (fast) path agrees with the eager tiles
    np.testing.assert_allclose(fuse_images(net, ir, vi, normalization="none"), full,
                               atol=1e-4 * (full.max() - full.min()))
    # too little context is visibly wrong: the margin matters
    with pytest.warns(UserWarning, match="receptive radius"):
        short = fuse_images(net, ir, vi, normalization="none", tile=48, overlap=1)
    assert np.abs(short - full).max() > 1e-3 * (full.max() - full.min())


def test_official_normalisation_is_the_authors_formula(net, pair):
    ir, vi = pair

    def minmax(a):
        a = a.astype(np.float64)
        return (a - a.min()) / (a.max() - a.min() + 1e-5)

    raw = fuse_images(net, minmax(ir), minmax(vi), normalization="none")
    expected = np.floor(255 * (raw - raw.min()) / (raw.max() - raw.min() + 1e-5)).astype(np.uint8)
    np.testing.assert_array_equal(fuse_images(net, ir, vi), expected)


@pytest.mark.parametrize("config", [dict(extractor="dense", n=8, blocks=2), dict(kernel_size=5, n=8, blocks=2),
                                    dict(extractor="conv8", n=4)])
def test_tiled_equals_untiled_for_other_architectures(pair, config):
    torch.manual_seed(1)
    net = LRRNet(**config).eval()
    ir, vi = pair[0][:120, :150], pair[1][:120, :150]
    full = fuse_images(net, ir, vi, normalization="none", fast=False)
    tiled = fuse_images(net, ir, vi, normalization="none", tile=40, fast=False)
    np.testing.assert_allclose(tiled, full, atol=1e-4 * (full.max() - full.min()))  # float32 bound, as above


def test_minmax_is_the_official_scaling_without_truncation(net, pair):
    ir, vi = pair
    scaled = fuse_images(net, ir, vi, normalization="minmax")
    # eps 1e-5 is absolute: the maximum is R / (R + 1e-5) for the raw output range R (~0.06 for this network)
    assert scaled.dtype == np.float64 and scaled.min() == 0.0 and 0.99 < scaled.max() < 1.0
    assert len(np.unique(scaled)) > 10 * 256  # not on an 8-bit grid
    np.testing.assert_array_equal(fuse_images(net, ir, vi), (scaled * 255.0).astype(np.uint8))
    for normalization in ("minmax", "none"):  # the eager path applies the same scalings
        np.testing.assert_allclose(fuse_images(net, ir, vi, normalization=normalization, fast=False),
                                   fuse_images(net, ir, vi, normalization=normalization),
                                   rtol=0, atol=1e-4 * np.ptp(fuse_images(net, ir, vi, normalization="none")))


def test_official_normalisation_and_dtypes(net, pair):
    ir, vi = pair
    out = fuse_images(net, ir, vi)
    assert out.dtype == np.uint8 and out.shape == ir.shape
    assert out.min() == 0 and out.max() >= 254  # min-max to [0, 255], truncated
    # uint16 and float inputs of the same content give the same result up to the absolute eps 1e-5 of the min-max
    # scaling, which truncation to uint8 turns into rare 1-level differences
    for scaled in ((ir.astype(np.uint16) * 257, vi.astype(np.uint16) * 257), (ir / 255.0, vi / 255.0)):
        d = np.abs(fuse_images(net, *scaled).astype(int) - out)
        assert d.max() <= 1 and (d == 0).mean() > 0.99


def test_bad_input(net, pair):
    ir, vi = pair
    with pytest.raises(ValueError, match=r"ir \(300, 410\) and vi \(300, 409\)"):
        fuse_images(net, ir, vi[:, :-1])
    with pytest.raises(ValueError, match="2-D grey image"):
        fuse_images(net, np.stack([ir] * 3, -1), vi)
    bad = ir.astype(float)
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="ir contains non-finite"):
        fuse_images(net, bad, vi)
    with pytest.raises(ValueError, match="too small"):
        fuse_images(net, ir[:1, :5], vi[:1, :5])
    with pytest.raises(ValueError, match="receptive field is 23 x 23"):
        fuse_images(net, ir[:22, :40], vi[:22, :40])
    assert fuse_images(net, ir[:23, :23], vi[:23, :23]).shape == (23, 23)
    with pytest.raises(ValueError, match="normalization"):
        fuse_images(net, ir, vi, normalization="imagenet")
    with pytest.raises(ValueError, match="tile"):
        fuse_images(net, ir, vi, tile=0)
    with pytest.raises(ValueError, match="tile"):
        fuse_images(net, ir, vi, tile=True)
    with pytest.raises(ValueError, match="overlap"):
        fuse_images(net, ir, vi, tile=64, overlap=-1)
    with pytest.warns(UserWarning, match="below the network's receptive radius"):
        fuse_images(net, ir[:40, :40], vi[:40, :40], tile=32, overlap=2)
    with pytest.raises(TypeError, match="dtype"):
        fuse_images(net, ir.astype(complex), vi)
    inf = ir.astype(float)
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="vi contains non-finite"):
        fuse_images(net, ir, inf)
    with pytest.raises(TypeError, match="model must be an LRRNet"):
        fuse_images(torch.nn.Identity(), ir, vi)
    with pytest.raises(ValueError, match="same shape"):
        net(torch.zeros(1, 1, 30, 30), torch.zeros(1, 1, 30, 31))
