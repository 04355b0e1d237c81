"""The "cddfuse" profile: the 8 metrics of CDDFuse's Python Evaluator (llrr.metrics.cddfuse, cddfuse_quality).

Reference values marked "Evaluator" were produced by CDDFuse's own ``utils/Evaluator.py`` and ``image_read_cv2``
(Zhaozixiang1228/MMIF-CDDFuse @ fd8da1f) run outside this project with opencv-python-headless 4.5.5.64 (IPP on, AVX2
CPU), numpy 1.26.4, scikit-learn 1.5.2, scipy 1.13.1 and scikit-image 0.20.0 called with ``data_range=2.0``, which is
what 0.19.2 (CDDFuse's pinned version) does by default for float images: the two versions' ``structural_similarity``
differ only in that default. SD, SF, SCD and Qabf, which the Evaluator computes in float32 and this profile in
float64, differ from them by at most 2.3e-7 relative; the others by less than 2e-8 (SSIM, in float32 here too, not
at all).
"""

import math

import numpy as np
import pytest
from PIL import Image
from scipy.signal import convolve2d

from llrr.metrics import PROFILES, compute, list_metrics
from llrr.metrics._common import check_channels, check_triplet
from llrr.metrics.cddfuse import cv2_grey, en, imread_cddfuse, mi, read_triplet, scd, sd, sf
from llrr.metrics.cddfuse_quality import VIFF_MIN_SIZE, qabf, ssim, structural_similarity_019, viff, vifp
from llrr.metrics.qabf import qabf as qabf_standard
from llrr.metrics.standard import mi as mi_bits
from solvers._images import luminance

from ..conftest import shared_path

ORDER = ["EN", "SD", "SF", "MI", "SCD", "VIFF", "Qabf", "SSIM"]  # test_IVF.py's columns
FLOAT32 = {"SD", "SF", "SCD", "Qabf"}  # float32 in the Evaluator, float64 here: compared to 1e-6, the others to 1e-8


def synthetic_triplet(h=48, w=64):
    """A fixed triplet with ramps, blocks, flat areas, a colour visible image and three colours whose BT.601 value
    is an exact half (row 0, columns 0-2)."""
    i, j = np.indices((h, w))
    ir = ((i * 7 + j * 3) % 97 + 60 * ((i // 12 + j // 16) % 2)).astype(np.uint8)
    ir[:12, :16] = 40
    vi = np.stack([(i * j) % 251, (i * 5 + j * 11) % 256, (j * j + 3 * i) % 253], axis=-1).astype(np.uint8)
    vi[30:, 40:] = (120, 60, 200)
    vi[0, :3] = [(188, 2, 1), (194, 118, 2), (134, 116, 3)]
    fused = ((3 * ir.astype(np.int64) + 5 * vi[..., 1] + (i * j) % 13) // 8).astype(np.uint8)
    fused[40:, :8] = 90
    return fused, ir, vi


def _check(got, expected):
    for name, value in zip(ORDER, expected, strict=True):
        assert got[name] == pytest.approx(value, rel=1e-6 if name in FLOAT32 else 1e-8, abs=0), name


def _textured(rng, shape=(48, 52)):
    return rng.integers(0, 256, shape).astype(np.uint8)


# --- the profile ----------------------------------------------------------------------------------------------------


def test_profile_has_cddfuses_metrics_in_its_order():
    assert list_metrics("cddfuse") == ORDER
    assert all(m.higher_is_better and not m.colour for m in PROFILES["cddfuse"].values())
    assert {m.reader for m in PROFILES["cddfuse"].values()} == {read_triplet}
    # the other profiles read as before
    assert {m.reader for p in ("paper", "standard") for m in PROFILES[p].values()} == {check_triplet}
    assert {m.reader for m in PROFILES["vifb"].values()} == {check_channels}


def test_reproduces_the_evaluator_on_a_synthetic_colour_triplet(tmp_path):
    expected = [6.181283360403693, 18.9648380279541, 20.15485382080078, 3.221432629666401, 0.33046993613243103,
                0.26006955747392757, 0.14384570717811584, 0.5264982448789866]  # Evaluator, from the PNG files
    triplet = synthetic_triplet()
    _check(compute(*triplet, profile="cddfuse"), expected)
    paths = []
    for name, img in zip(("f", "a", "b"), triplet, strict=True):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(img).save(paths[-1])
    assert compute(*paths, profile="cddfuse") == compute(*triplet, profile="cddfuse")


@pytest.mark.shared
@pytest.mark.parametrize("pair, expected", [
    ("01", [6.877071685660699, 36.30318832397461, 9.594902992248535, 1.5549255692259165, 1.784555435180664,
            0.48390171870047155, 0.38392898440361023, 0.9593983504561123]),
    ("02", [5.226719804380259, 18.67316436767578, 7.871772289276123, 1.1863923114347439, 1.2321178913116455,
            0.4464518179370157, 0.25644421577453613, 0.49675986456757193]),
    ("03", [5.473679645058379, 12.003318786621094, 5.594436168670654, 1.5535198568544497, 1.914928674697876,
            0.39380083933330695, 0.3113071322441101, 0.7372077815427853]),
])
def test_reproduces_the_evaluator_on_tno21_released_lrrnet_outputs(pair, expected):
    tno = shared_path("data", "tno21")
    got = compute(tno / "ref_lrrnet" / f"{pair}.png", tno / "ir" / f"{pair}.png", tno / "vi" / f"{pair}.png",
                  profile="cddfuse")
    _check(got, expected)


@pytest.mark.shared
def test_reproduces_the_evaluator_on_a_roadscene_colour_jpeg(tmp_path):
    root = shared_path("data", "roadscene")
    ir, vi = root / "ir" / "FLIR_00006.jpg", root / "vi" / "FLIR_00006.jpg"
    with Image.open(ir) as a, Image.open(vi) as b:  # a stand-in fused image: the maximum of IR and VI's "L"
        fused = np.maximum(np.asarray(a.convert("L")), np.asarray(b.convert("L")))
    Image.fromarray(fused).save(tmp_path / "f.png")
    expected = [6.618469845205693, 40.163639068603516, 9.846555709838867, 4.878403514530581, 1.6195158958435059,
                0.9133446666846595, 0.4877704381942749, 0.9206870219536551]
    _check(compute(tmp_path / "f.png", ir, vi, profile="cddfuse"), expected)


# --- reading: OpenCV's grey ------------------------------------------------------------------------------------------


def test_grey_rounding_follows_opencvs_float32_path_not_pillow_nor_exact_bt601():
    # three colours whose exact BT.601 value is a half: 57.5, 127.5, 108.5
    rgb = np.array([[[188, 2, 1], [194, 118, 2], [134, 116, 3]]], np.uint8)
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    exact = (299 * r + 587 * g + 114 * b) / 1000
    assert exact.tolist() == [[57.5, 127.5, 108.5]]
    # OpenCV 4.5.5 gives 57.5, 127.49999 and 108.50001 in float32; np.round takes halves to even
    assert cv2_grey(rgb).tolist() == [[58, 127, 109]]
    assert np.round(exact).tolist() == [[58, 128, 108]]  # exact arithmetic would round two of them the other way
    assert luminance(rgb).tolist() == [[57, 127, 109]]  # Pillow's "L" (the other profiles) differs again


def test_grey_rounding_matches_opencv_on_all_colours():
    """Fingerprint of ``np.round(cv2.cvtColor(bgr.astype('float32'), COLOR_BGR2GRAY))`` over all 2^24 colours
    (opencv-python-headless 4.5.5.64, IPP): of the 16782 colours whose exact BT.601 value is a half, 904 are rounded
    other than half-to-even; their indices r 65536 + g 256 + b sum to 5557468757, and all grey values to
    2139095581."""
    g, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    gb = 587 * g.ravel().astype(np.int64) + 114 * b.ravel().astype(np.int64)
    index = np.arange(65536, dtype=np.int64)
    total, off, off_sum, ties = 0, 0, 0, 0
    for r in range(256):
        y = cv2_grey(np.stack([np.full_like(g, r), g, b], axis=-1)).ravel().astype(np.int64)
        num = 299 * r + gb
        exact = np.round(num / 1000)
        assert np.all(np.abs(y - num / 1000) <= 0.5)
        total += int(y.sum())
        ties += int(np.sum(num % 1000 == 500))
        wrong = y != exact
        off += int(wrong.sum())
        off_sum += int((r * 65536 + index[wrong]).sum())
    assert (ties, off, off_sum, total) == (16782, 904, 5557468757, 2139095581)


def test_grey_levels_and_grey_images_are_kept():
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(cv2_grey(np.repeat(levels[None, :, None], 3, axis=2))[0], levels)
    assert np.array_equal(cv2_grey(levels[None]), levels[None])


def test_profile_scores_colour_on_opencv_grey(rng):
    f, a = _textured(rng), _textured(rng)
    vi = rng.integers(0, 256, f.shape + (3,)).astype(np.uint8)
    vi[:8, :3] = [(188, 2, 1), (194, 118, 2), (134, 116, 3)]  # where the two rules disagree
    assert not np.array_equal(cv2_grey(vi), luminance(vi))
    assert compute(f, a, vi, profile="cddfuse") == compute(f, a, cv2_grey(vi), profile="cddfuse")
    assert compute(f, a, vi, profile="cddfuse", metrics=["MI"]) != compute(f, a, luminance(vi), profile="cddfuse",
                                                                          metrics=["MI"])


def test_sixteen_bit_files_keep_their_high_byte_as_cv2_imread(tmp_path):
    v = np.arange(0, 65536, 64, dtype=np.uint16).reshape(32, 32)
    Image.fromarray(v).save(tmp_path / "g16.png")
    assert np.array_equal(imread_cddfuse(tmp_path / "g16.png"), (v >> 8).astype(np.uint8))
    assert np.array_equal(read_triplet(v, v, v)[0], (v >> 8).astype(np.uint8))


def test_reading_errors_name_the_image(rng):
    a = _textured(rng)
    with pytest.raises(ValueError, match=r"same height and width.*\(48, 52\), \(48, 52\) and \(48, 51\)"):
        compute(a, a, a[:, :-1], profile="cddfuse")
    with pytest.raises(FileNotFoundError, match="vi: image file not found"):
        compute(a, a, "no/such.png", profile="cddfuse")


# --- the metrics, by hand ------------------------------------------------------------------------------------------


def test_en_sd_sf_by_hand():
    img = np.array([[0, 0, 255, 7]], np.uint8)  # p = 1/2, 1/4, 1/4
    assert en(img) == pytest.approx(-(0.5 * math.log2(0.5) + 2 * 0.25 * math.log2(0.25)), rel=1e-15)
    assert sd(np.array([[0, 10], [10, 0]], np.uint8)) == 5.0  # population: sqrt(100 / 4), not sqrt(100 / 3)
    ramp = np.tile(np.array([0, 2, 4, 6], np.uint8), (3, 1))  # d/dx = 2 on its 3 x 3 differences, d/dy = 0
    assert sf(ramp) == pytest.approx(2.0, rel=1e-7)  # means over the differences that exist, not over H W
    board = (np.indices((4, 6)).sum(0) % 2 * 10).astype(np.uint8)
    assert sf(board) == pytest.approx(math.sqrt(200), rel=1e-7)
    with pytest.raises(ValueError, match="at least 2 x 2"):
        sf(np.zeros((1, 5), np.uint8))


def test_fused_only_metrics_ignore_the_sources(rng):
    f, a, b = _textured(rng), _textured(rng), _textured(rng)
    one = compute(f, a, b, profile="cddfuse", metrics=["EN", "SD", "SF"])
    assert one == compute(f, b, a, profile="cddfuse", metrics=["EN", "SD", "SF"])
    assert one == {"EN": en(f), "SD": sd(f), "SF": sf(f)}


def test_mi_is_a_sum_in_nats():
    half = np.array([[0, 0, 255, 255]], np.uint8)  # one bit with each source
    assert mi(half, half, half) == pytest.approx(2 * math.log(2), rel=1e-15)
    cross = np.array([[0, 255, 0, 255]], np.uint8)  # independent of ``half``
    assert mi(half, cross, cross) == 0.0
    assert mi(half, half, cross) == pytest.approx(math.log(2), rel=1e-15)


def test_mi_is_ln2_times_the_standard_profiles_bits_and_sklearns_score(rng):
    from sklearn.metrics import mutual_info_score

    f, a, b = _textured(rng, (40, 40)), _textured(rng, (40, 40)), _textured(rng, (40, 40))
    f[:, :20] = a[:, :20] // 2 + b[:, :20] // 2
    nats = mi(f, a, b)
    assert nats == pytest.approx(mi_bits(f, a, b) * math.log(2), rel=1e-12)
    ref = mutual_info_score(f.ravel().astype(np.float32), a.ravel().astype(np.float32)) + mutual_info_score(
        f.ravel().astype(np.float32), b.ravel().astype(np.float32))  # what Evaluator.MI calls
    assert nats == pytest.approx(ref, rel=1e-12)


def test_scd_by_hand_and_its_nan():
    ir = np.array([[0, 10, 20], [30, 40, 50]], np.uint8)
    vi = np.array([[5, 0, 9], [1, 7, 3]], np.uint8)
    assert scd(ir + vi, ir, vi) == pytest.approx(2.0, rel=1e-6)  # F - VI = IR, F - IR = VI
    f = np.array([[4, 12, 30], [25, 44, 51]], np.uint8)
    a, b, ff = (x.astype(float).ravel() for x in (ir, vi, f))
    expected = np.corrcoef(a, ff - b)[0, 1] + np.corrcoef(b, ff - a)[0, 1]
    assert scd(f, ir, vi) == pytest.approx(expected, rel=1e-6)
    assert math.isnan(scd(vi, ir, vi))  # F - VI = 0: 0 / 0, as the Evaluator gives (the standard profile: 0)


def _fspecial(n):
    x = np.arange(n) - (n - 1) / 2
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (n / 5) ** 2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def _vifp_direct(ref, dist, eps=1e-10):
    """vifp_mscale by its definition, with 2-D 'valid' convolutions (an independent check of the separable code)."""
    ref, dist = ref.astype(float), dist.astype(float)
    num = den = 0.0
    for scale in range(1, 5):
        w = _fspecial(2 ** (5 - scale) + 1)
        if scale > 1:
            ref = convolve2d(ref, w, mode="valid")[::2, ::2]
            dist = convolve2d(dist, w, mode="valid")[::2, ::2]
        m1, m2 = convolve2d(ref, w, mode="valid"), convolve2d(dist, w, mode="valid")
        s1 = np.maximum(convolve2d(ref**2, w, mode="valid") - m1**2, 0)
        s2 = np.maximum(convolve2d(dist**2, w, mode="valid") - m2**2, 0)
        s12 = convolve2d(ref * dist, w, mode="valid") - m1 * m2
        g = np.where(s1 < eps, 0.0, s12 / (s1 + eps))
        sv = np.where(s1 < eps, s2, s2 - s12 * s12 / (s1 + eps))
        s1 = np.where(s1 < eps, 0.0, s1)
        g, sv = np.where(s2 < eps, 0.0, g), np.where(s2 < eps, 0.0, sv)
        sv, g = np.where(g < 0, s2, sv), np.maximum(g, 0)
        sv = np.maximum(sv, eps)
        num += np.sum(np.log10(1 + g**2 * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return num / den


def test_viff_equals_the_direct_definition_and_is_a_sum(rng):
    f, a, b = _textured(rng), _textured(rng), _textured(rng)
    f[:, :26] = a[:, :26] // 2 + 60
    assert vifp(a.astype(float), f.astype(float)) == pytest.approx(_vifp_direct(a, f), rel=1e-10)
    assert viff(f, a, b) == pytest.approx(_vifp_direct(a, f) + _vifp_direct(b, f), rel=1e-10)
    assert viff(f, a, b) == pytest.approx((viff(f, a, a) + viff(f, b, b)) / 2, rel=1e-12)


def test_viff_extreme_cases():
    i, j = np.indices((48, 50))
    ramp = ((i * 3 + j * 2 + (i * j) % 7) % 256).astype(np.uint8)
    flat = np.full_like(ramp, 77)
    assert viff(ramp, ramp, ramp) == pytest.approx(2.0, abs=1e-8)  # each source kept: 1 + 1
    assert viff(flat, ramp, ramp) == 0.0  # nothing kept
    assert viff(ramp, flat, ramp) == pytest.approx(2.0, abs=1e-8)  # a constant source: 0 / 0, counted 1
    small = np.zeros((VIFF_MIN_SIZE - 1, 60), np.uint8)
    with pytest.raises(ValueError, match="at least 41 x 41"):
        viff(small, small, small)


def _qabf_direct(f, a, b):
    """Q^AB/F by the formulas in float64, with convolve2d as CDDFuse applies the Sobel kernels."""
    hy = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float)
    hx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)

    def edges(x):
        sx, sy = convolve2d(x, hx, mode="same"), convolve2d(x, hy, mode="same")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.hypot(sx, sy), np.where(sx == 0, np.pi / 2, np.arctan(sy / sx))

    def q(gs, as_, gf, af):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gs > gf, gf / gs, np.where(gs < gf, gs / gf, gf))
        orientation = 1 - np.abs(as_ - af) / (np.pi / 2)
        return 0.9994 / (1 + np.exp(-15 * (ratio - 0.5))) * 0.9879 / (1 + np.exp(-22 * (orientation - 0.8)))

    (ga, aa), (gb, ab), (gf, af) = (edges(x.astype(float)) for x in (a, b, f))
    return np.sum(q(ga, aa, gf, af) * ga + q(gb, ab, gf, af) * gb) / np.sum(ga + gb)


def test_qabf_equals_the_direct_definition(rng):
    f, a, b = _textured(rng), _textured(rng), _textured(rng)
    f[10:30] = a[10:30]  # copied edges: g_A = g_F there, where Hong's slip acts
    assert qabf(f, a, b) == pytest.approx(_qabf_direct(f, a, b), rel=1e-12)


def test_qabf_of_copied_edges_keeps_hongs_slip():
    img = np.zeros((6, 7), np.uint8)
    img[:, 4:] = 200
    # every edge pixel has g_F = g_A far above 1, so G = g_F saturates Q_g at 0.9994; the angles agree (A = 1)
    expected = 0.9994 * 0.9879 / (1 + math.exp(-22 * 0.2))
    assert qabf(img, img, img) == pytest.approx(expected, rel=1e-6)
    assert qabf(img, img, np.zeros_like(img)) == pytest.approx(expected, rel=1e-6)  # a black source has no weight
    # G = 1 instead (the standard profile): Q_g = 0.9994 / (1 + e^-7.5)
    assert qabf_standard(img, img, img) == pytest.approx(expected / (1 + math.exp(-7.5)), rel=1e-6)
    assert math.isnan(qabf(img, np.zeros_like(img), np.zeros_like(img)))


def _ssim_windows(x, y, data_range):
    """Mean SSIM over every 7 x 7 window inside the image (sample covariances), float64: the definition."""
    from numpy.lib.stride_tricks import sliding_window_view

    wx = sliding_window_view(x.astype(float), (7, 7)).reshape(-1, 49)
    wy = sliding_window_view(y.astype(float), (7, 7)).reshape(-1, 49)
    mx, my = wx.mean(1), wy.mean(1)
    vx, vy = wx.var(1, ddof=1), wy.var(1, ddof=1)
    vxy = ((wx - mx[:, None]) * (wy - my[:, None])).sum(1) / 48
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return np.mean((2 * mx * my + c1) * (2 * vxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))


def test_ssim_follows_skimage_019s_float_data_range_of_2():
    f, a, b = read_triplet(*synthetic_triplet())  # ramps and flat areas: local variances from 0 to thousands
    for x, y in ((f, a), (f, b)):
        assert structural_similarity_019(x.astype(float), y.astype(float)) == pytest.approx(
            _ssim_windows(x, y, 2.0), rel=1e-12)
    value = ssim(f, a, b)
    assert value == pytest.approx(_ssim_windows(f, a, 2.0) + _ssim_windows(f, b, 2.0), rel=1e-5)  # float32 vs 64
    on_255 = _ssim_windows(f, a, 255.0) + _ssim_windows(f, b, 255.0)
    assert on_255 - value > 0.05  # the data range matters: 255 lifts the low-variance windows
    assert structural_similarity_019(f, a) == pytest.approx(_ssim_windows(f, a, 255.0), rel=1e-12)  # uint8: 255
    assert ssim(f, f, f) == 2.0  # a sum over the sources
    assert ssim(f, a, b) == pytest.approx((ssim(f, a, a) + ssim(f, b, b)) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="at least 7 x 7"):
        ssim(f[:6], a[:6], b[:6])

