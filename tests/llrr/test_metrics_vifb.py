"""The "vifb" profile: VIFB's 13 metrics as its MATLAB code computes them (llrr.metrics.vifb, vifb_quality).

Hand-computable cases per metric (closed forms written out here, or an independent formula), VIFB's channel rule
(colour scored channel by channel and averaged; a grey source used for every channel; a grey fused image against
colour sources through rgb2gray), and the 21-pair means of three methods against VIFB's published means
(../shared/data/vifb, skipped where absent).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from llrr.metrics import PROFILES, compute, list_metrics
from llrr.metrics import vifb as v
from llrr.metrics import vifb_quality as vq
from tests.conftest import shared_path

VIFB_ORDER = ["Cross_entropy", "Entropy", "Mutinf", "Psnr", "Avg_gradient", "Edge_intensity", "Qabf", "Variance",
              "Spatial_frequency", "Rmse", "Ssim", "Qcb", "Qcv"]
TG, KG, DG, TA, KA, DA = 0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8


@pytest.fixture
def triplet(rng):
    """A colour fused image and colour sources, 40 x 48, with some structure (blurred noise)."""
    def img():
        x = ndimage.gaussian_filter(rng.uniform(0, 255, (40, 48, 3)), (2, 2, 0))
        return np.clip((x - x.min()) / np.ptp(x) * 255, 0, 255).round().astype(np.uint8)
    return img(), img(), img()


# --- the registry ---------------------------------------------------------------------------------------------------


def test_profile_has_vifbs_metrics_in_its_order_and_directions():
    assert list_metrics("vifb") == VIFB_ORDER
    lower = {k for k, m in PROFILES["vifb"].items() if not m.higher_is_better}
    assert lower == {"Cross_entropy", "Rmse", "Qcv"}
    assert all(m.colour for m in PROFILES["vifb"].values())
    assert not any(m.colour for p in ("paper", "standard") for m in PROFILES[p].values())


def test_compute_keeps_colour_for_vifb_and_luminance_for_the_others(triplet):
    f, a, b = triplet
    ours = compute(f, a, b, profile="vifb", metrics=["Entropy"])["Entropy"]
    assert ours == pytest.approx(np.mean([v.entropy(f[..., k]) for k in range(3)]), rel=1e-12)
    # the paper profile still scores the luminance (Pillow's), whatever the vifb profile does
    from solvers._images import luminance
    assert compute(f, a, b, metrics=["En"])["En"] == compute(luminance(f), luminance(a), luminance(b),
                                                             metrics=["En"])["En"]


def test_compute_reads_files_as_imread(tmp_path, triplet):
    from PIL import Image

    paths = []
    for name, x in zip(("f", "a", "b"), triplet, strict=True):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(x).save(paths[-1])
    assert compute(*paths, profile="vifb") == compute(*triplet, profile="vifb")
    Image.fromarray(triplet[1][..., 0]).save(tmp_path / "grey.png")
    assert v.imread_vifb(tmp_path / "grey.png").shape == triplet[1].shape[:2]  # a grey file stays grey


def test_errors_name_the_problem(triplet):
    f, a, b = triplet
    with pytest.raises(ValueError, match=r"same height and width.*\(40, 48, 3\).*\(40, 47, 3\)"):
        compute(f, a[:, :-1], b, profile="vifb")
    with pytest.raises(ValueError, match="grey .* or colour"):
        v.entropy(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="at least 11 x 11"):
        vq.ssim(f[:10, :10], a[:10, :10], b[:10, :10])
    with pytest.raises(FileNotFoundError, match="fused: image file not found"):
        compute("no/such.png", a, b, profile="vifb")


# --- MATLAB building blocks -----------------------------------------------------------------------------------------


def test_matlab_round_and_rgb2gray():
    assert v.round_half_away(np.array([42.5, 126.5, -2.5, 0.49999999999999994])).tolist() == [43, 127, -3, 0]
    # rgb2gray's coefficients (inverse NTSC matrix) and uint8 rounding; double input is not rounded
    assert v.rgb2gray(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8), uint8=True).tolist() == [
        [76, 150, 29]]
    assert v.rgb2gray(np.array([[[255, 0, 0]]], np.uint8), uint8=False)[0, 0] == pytest.approx(0.298936021293775 * 255)


def test_freqspace_matches_its_documented_grid():
    # freqspace(n): [-n:2:n-2]/n for even n, [-n+1:2:n-1]/n for odd n; r from u (columns) and v (rows)
    r = vq._freqspace_radius((4, 5), 1.0, 1.0)
    u = np.array([-4, -2, 0, 2, 4]) / 5
    w = np.array([-4, -2, 0, 2]) / 4
    np.testing.assert_allclose(r, np.hypot(u[None, :], w[:, None]), rtol=0, atol=1e-15)


def test_normalize1_and_blocks():
    x = np.array([[3, 5, 9]], np.uint8)
    assert vq._normalize1(x).tolist() == [[0, 85, 255]]
    assert vq._normalize1(np.zeros((2, 2), np.uint8)).tolist() == [[0, 0], [0, 0]]  # all black: unchanged
    assert np.isnan(vq._normalize1(np.full((2, 2), 7, np.uint8))).all()  # constant: 0 / 0, as in MATLAB
    sums = vq._block_sums(np.ones((17, 33)))  # blkproc pads the partial blocks with zeros
    assert sums.tolist() == [[256, 256, 16], [16, 16, 1]]


# --- hand-computable cases, metric by metric ------------------------------------------------------------------------


def test_cross_entropy_is_the_mean_relative_entropy_of_the_histograms():
    f = np.array([[0, 1, 1, 1, 2, 2]], np.uint8)   # p_F = (1/6, 1/2, 1/3)
    a = np.array([[0, 0, 1, 1, 1, 3]], np.uint8)   # p_A = (1/3, 1/2, 0, 1/6): bin 3 is empty in F and skipped
    assert v.cross_entropy(f, a, f) == pytest.approx(
        0.5 * (1 / 3 * math.log2(2) + 1 / 2 * math.log2(1)), rel=1e-12)
    assert v.cross_entropy(f, f, f) == 0.0


def test_entropy_and_its_channel_mean():
    assert v.entropy(np.array([[0, 1, 2, 3]], np.uint8)) == 2.0
    colour = np.stack([np.zeros((2, 2)), [[0, 1], [0, 1]], [[0, 1], [2, 3]]], axis=-1).astype(np.uint8)
    assert v.entropy(colour) == pytest.approx((0 + 1 + 2) / 3, rel=1e-15)  # channels: 0, 1 and 2 bits


def test_mutinf_in_nats_after_min_max_stretch():
    f = np.array([[10, 10, 20, 20]], np.uint8)      # stretched to 0, 0, 255, 255
    same = np.array([[0, 0, 7, 7]], np.uint8)       # the same partition: I = H = log 2
    indep = np.array([[0, 9, 0, 9]], np.uint8)      # independent of F: I = 0
    assert v.mutinf(f, same, indep) == pytest.approx(math.log(2), rel=1e-12)
    assert v.mutinf(f, indep, indep) == pytest.approx(0.0, abs=1e-15)
    # a constant image falls in one bin: no information
    assert v.mutinf(f, np.full_like(f, 5), np.full_like(f, 5)) == 0.0


def test_rmse_and_psnr_follow_vifbs_normalisation():
    f = np.zeros((2, 2), np.uint8)
    vi = f + 3
    assert v.rmse(f, f, vi) == 0.75  # (sqrt(4 * 3^2) / 4 + 0) / 2
    assert v.psnr(f, f, vi) == pytest.approx(20 * math.log10(255 / math.sqrt(0.75)), rel=1e-12)
    assert v.rmse(f, f, f) == 0.0 and v.psnr(f, f, f) == math.inf
    # sqrt(sum) / N: tiling the images t x t divides Rmse by t and adds 10 log10(t) dB to Psnr
    tile = [np.tile(x, (2, 2)) for x in (f, f, vi)]
    assert v.rmse(*tile) == pytest.approx(0.75 / 2, rel=1e-12)
    assert v.psnr(*tile) - v.psnr(f, f, vi) == pytest.approx(10 * math.log10(2), rel=1e-12)


def test_avg_gradient_with_matlab_gradient():
    x = np.array([[0, 10, 40], [20, 30, 40]], np.uint8)
    gx = np.array([[10, 20, 30], [10, 10, 10]], float)  # one-sided at the ends, central inside
    gy = np.array([[20, 20, 0], [20, 20, 0]], float)
    assert v.avg_gradient(x) == pytest.approx(np.sum(np.sqrt((gx**2 + gy**2) / 2)) / (1 * 2), rel=1e-12)


def test_edge_intensity_is_the_replicate_sobel_magnitude(rng):
    step = np.zeros((3, 4), np.uint8)
    step[:, 2:] = 10
    assert v.edge_intensity(step) == 20.0  # 6 of 12 pixels at (1 + 2 + 1) * 10
    x = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8).astype(float)
    ref = np.mean([np.hypot(ndimage.sobel(c, 0, mode="nearest"), ndimage.sobel(c, 1, mode="nearest"))
                   for c in np.moveaxis(x, 2, 0)])
    assert v.edge_intensity(x.astype(np.uint8)) == pytest.approx(ref, rel=1e-12)


def test_variance_is_the_standard_deviation():
    assert v.variance(np.array([[0, 10]], np.uint8)) == 5.0
    colour = np.stack([[[0, 10]], [[0, 20]], [[5, 5]]], axis=-1).astype(np.uint8)
    assert v.variance(colour) == pytest.approx((5 + 10 + 0) / 3, rel=1e-15)


def test_spatial_frequency_puts_the_channels_side_by_side():
    grey = np.array([[0, 10, 10], [0, 10, 10]], np.uint8)
    assert v.spatial_frequency(grey) == pytest.approx(math.sqrt(2 * 100 / 6), rel=1e-15)
    # three flat channels 0, 10, 20: no difference inside a channel, but the two seams count (H of each)
    flat = np.stack([np.full((2, 3), c) for c in (0, 10, 20)], axis=-1).astype(np.uint8)
    assert v.spatial_frequency(flat) == pytest.approx(math.sqrt((2 * 100 + 2 * 100) / 18), rel=1e-15)


def test_ssim_of_constant_images_and_its_sum_over_sources():
    def const(c):
        return np.full((12, 13), c, np.uint8)
    c1 = (0.01 * 255) ** 2
    luminance = [(2 * s * 80 + c1) / (s * s + 80 * 80 + c1) for s in (100, 50)]  # sigma terms: C2 / C2
    assert vq.ssim(const(80), const(50), const(100)) == pytest.approx(sum(luminance), rel=1e-12)
    x = (np.arange(12 * 13).reshape(12, 13) * 7 % 256).astype(np.uint8)
    assert vq.ssim(x, x, x) == pytest.approx(2.0, rel=1e-12)


def test_qabf_closed_forms():
    step = np.zeros((5, 6), np.uint8)
    step[:, 3:] = 200
    perfect = TG * TA / (1 + math.exp(KA * (1 - DA)))  # Hong's G = g_F (huge) saturates the strength sigmoid
    assert vq.qabf(step, step, step) == pytest.approx(perfect, rel=1e-12)
    # black fused: G = 0 everywhere and alpha_F = pi/2 (s_x = 0), so Q = Q_g(0) * sum(Q_a(A) g) / sum(g) with
    # A = 1 - |alpha_S - pi/2| / (pi/2) from the source's zero-padded Sobel responses (conv2 'same')
    x = step.astype(float)
    sx = ndimage.convolve(x, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="constant")
    sy = ndimage.convolve(x, [[1, 2, 1], [0, 0, 0], [-1, -2, -1]], mode="constant")
    g = np.hypot(sx, sy)
    alpha = np.where(sx == 0, np.pi / 2, np.arctan(sy / np.where(sx == 0, 1, sx)))
    q_a = TA / (1 + np.exp(KA * (1 - np.abs(alpha - np.pi / 2) / (np.pi / 2) - DA)))
    lost = TG / (1 + math.exp(KG * (0 - DG))) * np.sum(q_a * g) / np.sum(g)
    assert vq.qabf(np.zeros_like(step), step, step) == pytest.approx(lost, rel=1e-12)
    assert math.isnan(vq.qabf(step, np.zeros_like(step), np.zeros_like(step)))  # no source gradient


def test_qcb_and_qcv_properties(triplet):
    f, a, b = (x[..., 0] for x in triplet)
    assert vq.qcb(a, a, a) == pytest.approx(1.0, rel=1e-12)
    assert vq.qcv(a, a, a) == 0.0
    q = vq.qcb(f, a, b)
    assert 0 < q < 1 and q == pytest.approx(vq.qcb(f, b, a), rel=1e-12)  # symmetric in the sources
    assert vq.qcv(f, a, b) > 0 and vq.qcv(f, a, b) == pytest.approx(vq.qcv(f, b, a), rel=1e-12)
    assert vq.qcv(a, a, b) < vq.qcv(f, a, b)  # closer to a source: a smaller distance (lower is better)
    assert math.isnan(vq.qcv(f, np.full_like(a, 9), np.full_like(b, 9)))  # constant sources: normalize1's 0 / 0


def test_qcv_by_its_definition_on_an_odd_sized_image(rng):
    """F = A: only B's term, sum(lambda_B D_B) / sum(lambda_A + lambda_B), written out with the full complex FFT and
    fftshift as metricChen.m does, on a 37 x 45 image (odd sizes, partial 16 x 16 blocks)."""
    a, b = (ndimage.gaussian_filter(rng.uniform(0, 255, (37, 45)), 1.5).round().astype(np.uint8) for _ in range(2))

    def norm(x):
        x = x.astype(float)
        return np.floor((x - x.min()) / (x.max() - x.min()) * 255 + 0.5)

    def blocks(x):
        p = np.zeros((48, 48))
        p[:37, :45] = x
        return p.reshape(3, 16, 3, 16).sum(axis=(1, 3))

    def saliency(x):
        gx = ndimage.correlate(x, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="constant")
        gy = ndimage.correlate(x, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="constant")
        return blocks(np.hypot(gx, gy) ** 5)

    an, bn = norm(a), norm(b)
    u, w = np.meshgrid((np.arange(-44, 45, 2) / 45) * 45 / 8, (np.arange(-36, 37, 2) / 37) * 37 / 8)
    r = np.hypot(u, w)
    theta = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    d = np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(bn - an)) * theta))
    assert np.abs(d.imag).max() < 1e-9
    lam_a, lam_b = saliency(an), saliency(bn)
    expected = np.sum(lam_b * blocks(d.real**2) / 256) / np.sum(lam_a + lam_b)
    assert vq.qcv(a, a, b) == pytest.approx(expected, rel=1e-10)


# --- the channel rule -----------------------------------------------------------------------------------------------


PER_CHANNEL = ["Cross_entropy", "Entropy", "Mutinf", "Psnr", "Avg_gradient", "Edge_intensity", "Qabf", "Variance",
               "Rmse", "Ssim", "Qcb", "Qcv"]


def test_colour_is_the_mean_of_the_channels(triplet):
    f, a, b = triplet
    colour = compute(f, a, b, profile="vifb")
    per = [compute(f[..., k], a[..., k], b[..., k], profile="vifb") for k in range(3)]
    for k in PER_CHANNEL:
        assert colour[k] == pytest.approx(np.mean([p[k] for p in per]), rel=1e-12), k
    side = np.concatenate([f[..., k] for k in range(3)], axis=1)
    assert colour["Spatial_frequency"] == pytest.approx(v.spatial_frequency(side), rel=1e-15)


def test_a_grey_source_serves_every_channel(triplet):
    f, a, b = triplet
    grey_ir = a[..., 1]
    assert compute(f, grey_ir, b, profile="vifb") == compute(f, np.repeat(grey_ir[..., None], 3, axis=2), b,
                                                             profile="vifb")


def test_grey_fused_against_colour_sources_uses_rgb2gray(triplet):
    f, a, b = triplet
    fg = f[..., 0]
    ga, gb = v.rgb2gray(a, uint8=True), v.rgb2gray(b, uint8=True)
    ours = compute(fg, a, b, profile="vifb")
    rounded = compute(fg, ga, gb, profile="vifb")  # where VIFB's source is still uint8 when rgb2gray runs
    for k in ("Cross_entropy", "Mutinf", "Ssim", "Qcb", "Qcv"):
        assert ours[k] == rounded[k], k
    fa, fb, fl = (x.astype(float) for x in (v.rgb2gray(a, uint8=False), v.rgb2gray(b, uint8=False), fg))
    err = (np.sqrt(np.sum((fa - fl) ** 2)) + np.sqrt(np.sum((fb - fl) ** 2))) / 2 / fl.size  # double: unrounded
    assert ours["Rmse"] == pytest.approx(err, rel=1e-12)


# --- VIFB's published means -----------------------------------------------------------------------------------------


@pytest.mark.shared
def test_means_of_three_methods_equal_vifbs():
    """VIFB's means are means of per-pair values it stored at 5 significant digits (dlmwrite, then importdata):
    replaying that rounding on our per-pair values must give its means exactly. Rounding our plain mean to 5 digits
    is not the right check (for LatLRR's Variance and ADF's Qcv the 5th digit moves: 57.133589 against VIFB's
    57.133476), so the plain mean is held to the difference that VIFB's rounding can explain."""
    root = shared_path("data", "vifb")
    from benchmarks.vifb_validation import compare, load_reference, pair_scores

    reference = load_reference(root)
    rows = compare(pair_scores(["ADF", "LatLRR", "U2Fusion"], root), reference)
    for k, per_method in rows.items():
        for m, r in per_method.items():
            assert r["exact"], f"{m} {k}: VIFB's per-pair rounding replayed does not give {r['vifb']!r}"
            assert abs(r["ours"] - r["vifb"]) <= r["bound"], f"{m} {k}: ours {r['ours']:.8g}, VIFB {r['vifb']:.8g}"
