"""Qabf, FMI, SF, AG, CC, SCD, MSE and PSNR: hand-computable cases, properties, Li's published FMI values.

Tolerances: the metrics compute in float64 on uint8 images. Closed-form values compared with pytest.approx's default
(rel 1e-6) differ only by float64 rounding, ~1.1e-16 x the number of terms (<= a few hundred here); explicit bounds
say where they come from. The range checks on the real TNO pair are plausibility bounds, not tolerances.
"""

import functools
import json
import math
import operator

import numpy as np
import pytest

from llrr.metrics.fmi import fmi, sobel_edges
from llrr.metrics.qabf import qabf
from llrr.metrics.simple import ag, cc, corr2, mse, psnr, scd, sf

from ..conftest import load_grey, shared_path

QG1 = 0.9994 / (1 + math.exp(-15 * (1 - 0.5)))  # Q_g at G = 1
QA1 = 0.9879 / (1 + math.exp(-22 * (1 - 0.8)))  # Q_a at A = 1
PERFECT_QABF = QG1 * QA1  # 0.97479...


def _u8(path):
    return load_grey(path).astype(np.uint8)


def _board(h, w, k):
    return (np.indices((h, w)).sum(0) % 2 * k).astype(np.uint8)


def _structured(rng, h=9, w=11):
    """Random triple with equal, constant and binary regions, so that every branch of FMI's window rules runs."""
    a = rng.integers(0, 256, (h, w)).astype(np.uint8)
    b = rng.integers(0, 256, (h, w)).astype(np.uint8)
    f = ((a.astype(int) + b) // 2).astype(np.uint8)
    f[:4, :5] = a[:4, :5]  # windows where F == IR
    f[4:, 6:] = b[4:, 6:]  # and where F == VI
    a[:3, 7:] = 40
    f[:3, 7:] = 40  # constant and equal
    b[6:, :4] = 0
    b[7, 1] = 255  # one-hot windows
    return f, a, b


# ---------------------------------------------------------------- SF, AG


def test_sf_and_ag_by_hand():
    k = 10
    board = _board(4, 6, k)  # every neighbour differs by k
    assert sf(board) == pytest.approx(k * math.sqrt(2))
    # AG of the board: central differences vanish inside; only the one-sided borders see +-k. Corners have
    # |dx| = |dy| = k (s = k), the 12 other border pixels one of them (s = k / sqrt 2); over (4 - 1)(6 - 1) = 15
    assert ag(board) == pytest.approx((4 * k + 12 * k / math.sqrt(2)) / 15)
    ramp = np.tile(np.arange(0, 7 * 30, 30, dtype=np.uint8), (5, 1))  # 5 x 7, F(i, j) = 30 j
    assert sf(ramp) == pytest.approx(30.0)
    assert ag(ramp) == pytest.approx(5 * 7 * (30 / math.sqrt(2)) / (4 * 6))
    assert sf(ramp.T) == sf(ramp) and ag(ramp.T) == pytest.approx(ag(ramp))
    flat = np.full((5, 5), 90, np.uint8)
    assert sf(flat) == 0.0 and ag(flat) == 0.0
    # the sources are accepted (uniform signature) and ignored
    assert sf(board, np.zeros_like(board), ramp[:4, :6]) == sf(board) and ag(board, board, board) == ag(board)


def test_sf_ag_errors():
    with pytest.raises(ValueError, match=r"at least 2 x 2.*\(1, 5\)"):
        sf(np.zeros((1, 5), np.uint8))
    with pytest.raises(ValueError, match="same shape"):
        ag(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))


# ---------------------------------------------------------------- MSE, PSNR


def test_mse_psnr_by_hand(rng):
    img = rng.integers(0, 256, (12, 9)).astype(np.uint8)
    assert mse(img, img, img) == 0.0
    assert psnr(img, img, img) == math.inf
    zero = np.zeros((3, 4), np.uint8)
    ten = np.full((3, 4), 10, np.uint8)
    assert mse(zero, zero, ten) == 50.0  # (0 + 100) / 2
    assert psnr(zero, zero, ten) == pytest.approx(10 * math.log10(255**2 / 50))
    assert mse(zero, ten, zero) == mse(zero, zero, ten)  # symmetric in the sources


def test_mse_decomposes_around_the_average_of_the_sources(rng):
    # 0.5 (|F - A|^2 + |F - B|^2) = |F - M|^2 + |A - B|^2 / 4 with M = (A + B) / 2: the average minimises it
    a, b, f = (rng.integers(0, 256, (16, 20)).astype(np.uint8) for _ in range(3))
    m = (a.astype(float) + b) / 2
    expected = np.mean((f - m) ** 2) + np.mean((a.astype(float) - b) ** 2) / 4
    assert mse(f, a, b) == pytest.approx(expected, rel=1e-12)  # a float64 identity over 320 pixels (~4e-14)
    avg = np.round(m).astype(np.uint8)
    # the uint8 average is off the exact one by <= half a grey level: |F - M|^2 <= 0.25
    assert mse(avg, a, b) <= np.mean((a.astype(float) - b) ** 2) / 4 + 0.25 < mse(f, a, b)


# ---------------------------------------------------------------- CC, SCD


def test_corr2_and_cc(rng):
    x, y = (rng.integers(0, 256, (10, 13)).astype(np.uint8) for _ in range(2))
    # float64 correlations of 130 values, two ways: ~1e-16 x 130 (measured 6e-17)
    assert corr2(x, y) == pytest.approx(np.corrcoef(x.ravel(), y.ravel())[0, 1], abs=1e-12)
    assert cc(x, x, x) == pytest.approx(1.0)
    assert cc(x, x, 255 - x) == pytest.approx(0.0, abs=1e-12)  # +1 and -1, each up to float64 rounding
    flat = np.full_like(x, 7)
    assert corr2(flat, x) == 0.0 and cc(flat, x, y) == 0.0  # documented rule: constant image -> 0, not NaN
    assert cc(x, y, x) == pytest.approx((corr2(y, x) + 1) / 2)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
        corr2(np.zeros((2, 3)), np.zeros((3, 2)))


def test_scd_by_hand(rng):
    a = rng.integers(0, 120, (14, 11)).astype(np.uint8)
    b = rng.integers(0, 120, (14, 11)).astype(np.uint8)
    assert scd(a + b, a, b) == pytest.approx(2.0)  # F - B = A and F - A = B: the maximum
    f = rng.integers(0, 256, (14, 11)).astype(np.uint8)
    assert scd(f, a, b) == pytest.approx(scd(f, b, a), abs=1e-15)  # symmetric: the same two terms, swapped
    assert -2.0 <= scd(f, a, b) <= 2.0
    # a constant fused image: F - B = c - B, so each term is -r(A, B)
    flat = np.full_like(a, 128)
    assert scd(flat, a, b) == pytest.approx(-2 * corr2(a, b))
    # F == VI: F - VI = 0 carries nothing (0 by the rule), the other term is r(VI - IR, VI)
    assert scd(b, a, b) == pytest.approx(corr2(b.astype(int) - a, b))


# ---------------------------------------------------------------- Qabf


def test_qabf_perfect_transfer_and_its_ceiling(rng):
    img = np.zeros((12, 12), np.uint8)
    img[:, 6:] = 200
    img[3:8, 2:5] = 90
    # every gradient of F equals the sources' (G = 1, A = 1): the ceiling of the sigmoids, not 1. The score is a
    # weighted mean of that constant over 144 pixels, sum(Q w) / sum(w): two sums of 144 terms, <= 2 x 144 x
    # 1.1e-16 = 3e-14 in the worst case (measured 1e-16)
    assert qabf(img, img, img) == pytest.approx(PERFECT_QABF, abs=1e-13)
    assert qabf(img, img, img, scale=1.0) == pytest.approx(PERFECT_QABF, abs=1e-13)
    for _ in range(5):
        f, a, b = (rng.integers(0, 256, (20, 24)).astype(np.uint8) for _ in range(3))
        assert 0.0 <= qabf(f, a, b) <= PERFECT_QABF
        # scale-free without the quirk: the same ratios, up to float64 rounding of the 1/255 scaling (3e-17)
        assert qabf(f, a, b, scale=1.0) == pytest.approx(qabf(f, a, b), abs=1e-12)
        assert 0.0 <= qabf(f, a, b, scale=1.0, hong_quirk=True) <= 0.9994 * QA1
    flat = np.full_like(img, 60)
    assert qabf(flat, img, img) < 0.35 * qabf(img, img, img)  # the edges are lost (only zero-padding borders)
    zero = np.zeros_like(img)
    assert math.isnan(qabf(img, zero, zero))  # no source edge information at all


def test_qabf_hong_quirk():
    weak = np.full((16, 16), 100, np.uint8)
    weak[4:12, 8:] = 110  # 10-grey-level steps inside; the zero-padded border is strong
    # A copied edge has g_A == g_F: the quirk scores it with G = g_F. On [0, 1] images a 10-level step has
    # g <= 4 * 10 / 255 < 0.5, so it counts as lost and the score drops below the correct one.
    correct = qabf(weak, weak, weak, scale=1.0)
    quirk = qabf(weak, weak, weak, scale=1.0, hong_quirk=True)
    assert correct == pytest.approx(PERFECT_QABF)
    assert quirk < correct - 1e-3  # a real drop (measured 0.062)
    # on [0, 255] every non-zero g is at least 1: G = g_F saturates Q_g at about Gamma_g and the quirk barely matters
    # (a property of the quirk, not rounding: measured 5.4e-4)
    assert abs(qabf(weak, weak, weak, hong_quirk=True) - correct) < 1e-3
    with pytest.raises(ValueError, match="scale"):
        qabf(weak, weak, weak, scale=0)


# ---------------------------------------------------------------- FMI


def _seq(v):
    """MATLAB's sum of a short vector: left to right (numpy's pairwise sum rounds differently)."""
    return functools.reduce(operator.add, (float(t) for t in v), 0.0)


def _nfmi_reference(x, y):
    """Direct transcription of one window score of analysis_fmi.m (81-cell joint pdf), x: source, y: fused.

    The sums that decide branches are sequential, as MATLAB's: for two constant (uniform) windows the rounding
    residue of mean(pdf) makes the correlation +-1 and the score 1, not 0.
    """
    n = x.size
    side = int(round(math.sqrt(n)))
    p = x / _seq(_seq(x[i : i + side]) for i in range(0, n, side))  # sum(sum(window)): columns, then their sums
    q = y / _seq(_seq(y[i : i + side]) for i in range(0, n, side))
    dp, dq = p - _seq(p) / n, q - _seq(q) / n
    t = _seq(dp * dq)
    c = 0.0 if t == 0 else t / math.sqrt(_seq(dp * dp) * _seq(dq * dq))
    pos = np.arange(1, n + 1)
    sd_p = math.sqrt(max(_seq(pos**2 * p) - _seq(pos * p) ** 2, 0))
    sd_q = math.sqrt(max(_seq(pos**2 * q) - _seq(pos * q) ** 2, 0))
    cp, cq = np.cumsum(p)[None, :], np.cumsum(q)[:, None]
    bound = 0.5 * (cq + cp - np.abs(cq - cp)) if c >= 0 else 0.5 * (cq + cp - 1 + np.abs(cq + cp - 1))
    mix = 0.0 if (c == 0 or sd_p == 0 or sd_q == 0) else c / (np.sum(bound - cq * cp) / (sd_q * sd_p))
    g = np.pad(bound, ((1, 0), (1, 0)))
    mass = g[1:, 1:] - g[:-1, 1:] - g[1:, :-1] + g[:-1, :-1]
    joint = mix * mass + (1 - mix) * np.outer(q, p)
    nz = joint[joint != 0]
    h_joint = -np.sum(nz * np.log2(np.abs(nz)))
    h_p = -np.sum(p[p > 0] * np.log2(p[p > 0]))
    h_q = -np.sum(q[q > 0] * np.log2(q[q > 0]))
    mi = h_p + h_q - h_joint
    return 0.0 if mi == 0 else 2 * mi / (h_p + h_q)


def _fmi_reference(f, a, b, feature):
    def feat(img):
        return img / 255.0 if feature == "none" else sobel_edges(img).astype(float)

    def norm(v):
        return np.ones_like(v) if v.max() == v.min() else (v - v.min()) / (v.max() - v.min())

    fa, fb, ff = feat(a), feat(b), feat(f)
    scores = []
    for r in range(f.shape[0] - 2):
        for c in range(f.shape[1] - 2):
            wa, wb, wf = (x[r : r + 3, c : c + 3].ravel(order="F") for x in (fa, fb, ff))
            if np.array_equal(wa, wf):
                s1, wm = 1.0, wf
            else:
                s1, wm = _nfmi_reference(norm(wa), norm(wf)), norm(wf)
            s2 = 1.0 if np.array_equal(wb, wm) else _nfmi_reference(norm(wb), norm(wm))
            scores.append((s1 + s2) / 2)
    return float(np.mean(scores))


@pytest.mark.parametrize("feature", ["none", "edge"])
def test_fmi_equals_a_direct_transcription(rng, feature):
    for _ in range(3):
        f, a, b = _structured(rng)
        # float64, the same sums (sequential where they decide a branch): measured 8e-16
        assert fmi(f, a, b, feature=feature) == pytest.approx(_fmi_reference(f, a, b, feature), abs=1e-12)


@pytest.mark.parametrize("feature", ["none", "edge"])
def test_fmi_bounds_and_identity(rng, feature):
    img = rng.integers(0, 256, (15, 17)).astype(np.uint8)
    assert fmi(img, img, img, feature=feature) == 1.0
    flat = np.full_like(img, 33)
    assert fmi(flat, flat, flat, feature=feature) == 1.0
    for _ in range(4):
        f, a, b = (rng.integers(0, 256, (15, 17)).astype(np.uint8) for _ in range(3))
        for fused in (f, 255 - a, a):
            assert 0.0 <= fmi(fused, a, b, feature=feature) <= 1.0
    # a fused image equal to one source is perfect for it, so it beats an unrelated image
    assert fmi(a, a, b, feature=feature) > fmi(f, a, b, feature=feature)


def test_sobel_edges_thin_a_step_to_one_column():
    img = np.zeros((6, 16), np.uint8)
    img[:, 8:] = 255
    edges = sobel_edges(img)
    # columns 7 and 8 have the same strength; thinning keeps the one whose right neighbour is weaker
    assert edges[:, 8].all() and edges.sum() == 6
    assert not sobel_edges(np.full((6, 16), 200, np.uint8)).any()


def test_fmi_errors():
    img = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="feature must be one of"):
        fmi(img, img, img, feature="dct")
    with pytest.raises(ValueError, match="odd integer >= 3, got 4"):
        fmi(img, img, img, window=4)
    with pytest.raises(ValueError, match=r"window \(9\) must not exceed"):
        fmi(img, img, img, window=9)
    assert fmi(img, img, img, window=5) == 1.0


@pytest.mark.shared
def test_fmi_edge_equals_lis_published_fmi_pixel():
    # Li's "FMI_pixel" is analysis_fmi without a feature argument, whose default is 'edge' (spec 2.7)
    published = json.loads(shared_path("data", "metrics_reference", "vgg_ml_published_per_image.json").read_text())
    for k in range(1, 22):
        name = f"{k:02d}"
        val = fmi(_u8(shared_path("data", "metrics_reference", "vgg_ml", f"{name}.png")),
                  _u8(shared_path("data", "tno21", "ir", f"{name}.png")),
                  _u8(shared_path("data", "tno21", "vi", f"{name}.png")), feature="edge")
        # published with 15 significant digits (MATLAB doubles): float64 rounding apart (measured 1e-14)
        assert val == pytest.approx(published["FMI_pixel"][name], abs=1e-12), name


# ---------------------------------------------------------------- real images


@pytest.mark.shared
def test_all_on_a_real_tno_pair():
    ir = _u8(shared_path("data", "tno21", "ir", "01.png"))
    vi = _u8(shared_path("data", "tno21", "vi", "01.png"))
    fused = _u8(shared_path("data", "tno21", "ref_lrrnet", "01.png"))
    avg = np.round((ir.astype(float) + vi) / 2).astype(np.uint8)
    metrics = {
        "SF": (sf, 1, 50), "AG": (ag, 0.5, 20), "CC": (cc, 0.1, 1), "SCD": (scd, 0.5, 2), "MSE": (mse, 10, 10000),
        "PSNR": (psnr, 8, 40), "Qabf": (qabf, 0.1, PERFECT_QABF), "FMI_pixel": (fmi, 0.1, 1),
        "FMI_edge": (lambda *x: fmi(*x, feature="edge"), 0.5, 1),
        "Qabf_li": (lambda *x: qabf(*x, scale=1.0, hong_quirk=True), 0.1, PERFECT_QABF),
    }
    ours, base = {}, {}
    for name, (func, lo, hi) in metrics.items():
        ours[name], base[name] = func(fused, ir, vi), func(avg, ir, vi)
        for v in (ours[name], base[name]):
            assert math.isfinite(v) and lo < v < hi, (name, v)
    # averaging lowers local contrast: the fusion network's output is sharper (21 of 21 pairs for SF, 20 for AG)
    assert ours["SF"] > 1.2 * base["SF"] and ours["AG"] > 1.2 * base["AG"]
    # the average minimises the mean MSE to the sources, and is linearly closest to both
    assert base["MSE"] < ours["MSE"] and base["PSNR"] > ours["PSNR"] and base["CC"] > ours["CC"]
    # more edge information transferred than by averaging (13 of 21 pairs; this one clearly)
    assert ours["Qabf"] > base["Qabf"] + 0.02
