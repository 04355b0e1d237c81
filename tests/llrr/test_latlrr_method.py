"""The "latlrr" fusion method: MDLatLRR's fusion rule on real images, the ICPR 2018 variant, the shipped projection."""

from __future__ import annotations

import json

import numpy as np
import pytest

import llrr
from llrr.methods.latlrr import PROJECTION, fuse_latlrr, load_projection, nuclear_weights
from solvers.latlrr import md_decompose, overlap_add
from tests.conftest import shared_path


def _pair(demo_ir, demo_vi, shape=(40, 48)):
    h, w = shape
    return demo_ir[:h, :w] / 255.0, demo_vi[:h, :w] / 255.0


def test_nuclear_weights_are_nuclear_norm_shares():
    a = np.zeros((4, 3))
    a[:, 0] = [3.0, 0.0, 0.0, 4.0]  # 2 x 2 (column-major) [[3, 0], [0, 4]]: nuclear norm 7
    b = np.zeros((4, 3))
    b[:, 0] = [1.0, 1.0, 1.0, 1.0]  # rank one, nuclear norm 2
    b[:, 1] = [2.0, 0.0, 0.0, 0.0]
    wa, wb = nuclear_weights(a, b)
    np.testing.assert_allclose(wa, [7 / 9, 0.0, 0.5])  # the last column: both zero, half each
    np.testing.assert_allclose(wa + wb, 1.0)


def test_md_fusion_is_the_average_base_plus_nuclear_weighted_details(demo_ir, demo_vi):
    ir, vi = _pair(demo_ir, demo_vi)
    P = np.random.default_rng(0).standard_normal((16, 16)) * 0.05  # any s^2 x s^2 projection (s = 4)
    bi, di = md_decompose(ir, P, 3)
    bv, dv = md_decompose(vi, P, 3)
    parts = []
    for a, b in zip(di, dv, strict=True):
        na = np.array([np.linalg.norm(c.reshape(4, 4), "nuc") for c in a.T])
        nb = np.array([np.linalg.norm(c.reshape(4, 4), "nuc") for c in b.T])
        parts.append(overlap_add(na / (na + nb) * a + nb / (na + nb) * b, ir.shape, 4))
    base = 0.5 * (bi + bv)
    # the paper: the levels' fused details summed
    got = fuse_latlrr(ir, vi, projection=P, levels=3, cumulative=False)
    np.testing.assert_allclose(got, np.clip(base + sum(parts), 0, 1), atol=1e-10)
    # the released code (VIFB's runs): its accumulator is not reset, level k counted 3 - k + 1 times
    got = fuse_latlrr(ir, vi, projection=P, levels=3)
    np.testing.assert_allclose(got, np.clip(base + 3 * parts[0] + 2 * parts[1] + parts[2], 0, 1), atol=1e-10)
    # fusing an image with itself gives it back with the paper's rule (the decomposition adds up, weights 1/2 each)
    np.testing.assert_allclose(fuse_latlrr(ir, ir, projection=P, levels=3, cumulative=False), ir, atol=1e-10)


def test_icpr2018_averages_the_low_rank_parts_and_sums_the_salient_parts(demo_ir, demo_vi):
    from solvers.latlrr import latlrr

    _, vi = _pair(demo_ir, demo_vi, (24, 20))
    ir = np.random.default_rng(0).uniform(0, 1, (24, 20))  # a textured infrared image with a hot target and a cold
    ir[5:10, 5:12], ir[12:20, 2:6] = 1.0, 0.0  # patch: its parts leave [0, 1], so the clipping of each matters
    got = fuse_latlrr(ir, vi, variant="icpr2018")
    ri, rv = latlrr(ir, 0.8), latlrr(vi, 0.8)
    assert ri.converged and rv.converged
    def part(x):
        return np.clip(x, 0, 1)

    # the authors' fusion_latlrr.m clips each of the four parts, then imwrite clips the sum
    want = 0.5 * (part(ir @ ri.Z) + part(vi @ rv.Z)) + part(ri.L @ ir) + part(rv.L @ vi)
    np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-12)
    unclipped = 0.5 * (ir @ ri.Z + vi @ rv.Z) + ri.L @ ir + rv.L @ vi
    assert (ri.L @ ir).min() < 0 and np.abs(got - np.clip(unclipped, 0, 1)).max() > 1e-3  # the clipping matters here
    # each source = its low-rank part + its salient part + a sparse error, to the solver's tolerance
    for img, r in ((ir, ri), (vi, rv)):
        np.testing.assert_allclose(img @ r.Z + r.L @ img + r.E, img, atol=1e-6)


def test_bad_options_are_named(demo_ir, demo_vi, tmp_path):
    ir, vi = _pair(demo_ir, demo_vi)
    with pytest.raises(ValueError, match="variant must be 'md' or 'icpr2018'"):
        fuse_latlrr(ir, vi, variant="x")
    with pytest.raises(ValueError, match="projection must be an s\\^2 x s\\^2 array"):
        fuse_latlrr(ir, vi, projection=np.eye(10))
    with pytest.raises(FileNotFoundError, match="LatLRR projection not found"):
        fuse_latlrr(ir, vi, projection=tmp_path / "none.npy")
    with pytest.raises(ValueError, match="one shape"):
        fuse_latlrr(ir, vi[:-1])


def test_the_shipped_projection_matches_its_sidecar_and_fuses_through_llrr(demo_ir, demo_vi):
    side = json.loads(PROJECTION.with_suffix(".json").read_text())
    P = load_projection()
    assert P.shape == (64, 64) == tuple(side["shape"]) and not P.flags.writeable
    assert side["settings"] == {**side["settings"], "patch": 8, "n_patches": 1200, "lam": 0.4}
    assert all("tno21" not in d and "vifb" not in d for d in side["data"]["dirs"])
    # a projection removes the constant (a flat image has no details), so a flat pair fuses to itself
    flat = np.full((24, 24), 0.4)
    base, _ = md_decompose(flat, P, 1)
    assert np.abs(base - flat).max() < 0.05
    fused = llrr.fuse(demo_ir / 255.0, demo_vi / 255.0, method="latlrr")
    assert fused.shape == demo_ir.shape and 0.0 <= fused.min() and fused.max() <= 1.0


def test_a_changed_projection_file_is_refused(tmp_path):
    import shutil

    dest = tmp_path / "p.npy"
    shutil.copy(PROJECTION, dest)
    shutil.copy(PROJECTION.with_suffix(".json"), dest.with_suffix(".json"))
    assert load_projection(dest).shape == (64, 64)
    P = np.load(dest)
    P[0, 0] += 1.0
    np.save(dest, P)
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_projection(dest)


def test_latlrr_on_a_vifb_pair_end_to_end(tmp_path):
    """A real VIFB pair through the command line: colour visible image fused on its luminance."""
    from llrr.cli import main

    vifb = shared_path("data", "vifb")
    out = tmp_path / "fused.png"
    assert main(["fuse", str(vifb / "ir" / "manCall.jpg"), str(vifb / "vi" / "manCall.jpg"), "-o", str(out),
                 "--method", "latlrr", "-q"]) == 0
    from llrr.io import read_image

    fused = read_image(out)
    vi = read_image(vifb / "vi" / "manCall.jpg")
    assert fused.shape == vi.shape and fused.dtype == np.uint8
