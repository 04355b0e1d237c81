"""llrr.fuse, the methods registry and the fuse / methods / weights / demo commands, on real image files."""

import numpy as np
import pytest
import torch
from PIL import Image

import llrr
from llrr.cli import main
from llrr.fuse import read_image, rgb_to_ycbcr, ycbcr_to_rgb
from llrr.io import demo_pair
from llrr.methods import METHODS
from unrolled import LRRNet

from ..conftest import SHARED, Spy, shared_path

FAST = {"llrr-classical": {"iterations": 20, "dictionary": "dct"}}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The authors' checkpoint when ../shared is there, else a seeded random LRRNet saved as a state_dict."""
    official = SHARED / "weights" / "lrrnet_official_tno_block4.model"
    if official.is_file():
        return official
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "random_lrrnet.pt"
    torch.save(LRRNet().state_dict(), path)
    return path


def _opts(method, weights):
    return {"weights": weights} if method == "lrrnet" else FAST.get(method, {})


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_on_the_bundled_pair(method, weights):
    ir, vi = demo_pair()
    out = llrr.fuse(ir, vi, method=method, **_opts(method, weights))
    src = read_image(ir)
    assert out.shape == src.shape and out.dtype == np.uint8
    assert out.max() > out.min()  # not a flat image
    ref_ir, ref_vi = src.astype(float), read_image(vi).astype(float)
    if method == "average":
        mean = (ref_ir + ref_vi) / 2  # exact halves may round either way through the [0, 1] scale
        assert np.abs(out - mean).max() <= 0.5 + 1e-9
    if method == "max":
        np.testing.assert_array_equal(out, np.maximum(ref_ir, ref_vi).astype(np.uint8))
    if method == "llrr-classical":  # its base is an average of the sources: it stays close to their mean
        assert np.abs(out - (ref_ir + ref_vi) / 2).mean() < 20  # a property bound (the details add ~10 levels)


@pytest.mark.shared
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_on_a_tno21_pair(method, weights):
    ir, vi = shared_path("data", "tno21", "ir", "05.png"), shared_path("data", "tno21", "vi", "05.png")
    out = llrr.fuse(ir, vi, method=method, **_opts(method, weights))
    assert out.shape == read_image(ir).shape and out.dtype == np.uint8
    if method == "lrrnet":  # the released checkpoint through llrr.fuse gives the authors' released output
        ref = read_image(shared_path("data", "tno21", "ref_lrrnet", "05.png")).astype(int)
        assert np.abs(out.astype(int) - ref).max() <= 1  # theirs truncates to uint8, ours rounds: 1 level at most


def test_colour_and_uint16_inputs(weights):
    ir_path, vi_path = demo_pair()
    ir8, vi8 = read_image(ir_path), read_image(vi_path)
    colour = np.stack([vi8, np.clip(vi8.astype(int) + 40, 0, 255).astype(np.uint8), vi8 // 2], -1)
    ir16 = ir8.astype(np.uint16) * 257
    out = llrr.fuse(ir16, colour, method="average")
    assert out.shape == colour.shape and out.dtype == np.uint8
    # the luminance is fused, the visible chroma kept
    y = rgb_to_ycbcr(colour / 255.0)[..., 0]
    got = rgb_to_ycbcr(out / 255.0)
    # the result is re-quantised to uint8 RGB, and each 1/2-level rounding of R, G, B moves Y by <= 0.5 level and
    # Cb, Cr by <= 0.5 x (sum of |row| of the BT.601 matrix) ~ 0.5 x 1.0, plus the clipping of out-of-gamut colours
    np.testing.assert_allclose(got[..., 0], (y + ir8 / 255.0) / 2, atol=3 / 255)
    np.testing.assert_allclose(got[..., 1:], rgb_to_ycbcr(colour / 255.0)[..., 1:], atol=4 / 255)
    # uint16 visible -> uint16 output on the full 16-bit scale
    out16 = llrr.fuse(ir8, vi8.astype(np.uint16) * 257, method="max")
    assert out16.dtype == np.uint16
    np.testing.assert_array_equal(out16, np.maximum(ir8, vi8).astype(np.uint16) * 257)
    # float in [0, 1] -> float
    outf = llrr.fuse(ir8 / 255.0, vi8 / 255.0, method="average")
    assert outf.dtype == np.float64 and 0 <= outf.min() <= outf.max() <= 1
    rgb = np.random.default_rng(0).random((5, 6, 3))
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-12)  # float64 3x3 inverse: ~1e-16


def test_bad_inputs_give_named_errors(tmp_path):
    ir, vi = (read_image(p) for p in demo_pair())
    with pytest.raises(ValueError, match=r"same size.*\(270, 360\) and \(270, 359\)"):
        llrr.fuse(ir, vi[:, :-1], method="average")
    bad = ir / 255.0
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="ir contains non-finite"):
        llrr.fuse(bad, vi / 255.0, method="average")
    with pytest.raises(ValueError, match=r"vi: float images must lie in \[0, 1\]"):
        llrr.fuse(ir / 255.0, vi.astype(float), method="average")
    with pytest.raises(ValueError, match="at least 23 x 23"):
        llrr.fuse(ir[:20, :30], vi[:20, :30], method="lrrnet")
    with pytest.raises(ValueError, match="unknown fusion method 'magic'"):
        llrr.fuse(ir, vi, method="magic")
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['tile'\]"):
        llrr.fuse(ir, vi, method="average", tile=3)
    with pytest.raises(TypeError, match="dtype int64"):
        llrr.fuse(ir.astype(np.int64), vi, method="average")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        llrr.fuse(tmp_path / "nope.png", vi, method="average")
    with pytest.raises(ValueError, match=r"unknown weights name 'nonsense'; shipped weights: "
                                         r"\['default', 'frontier', 'loss1000'\]"):
        llrr.fuse(ir, vi, method="lrrnet", weights="nonsense")


def _tree(tmp_path):
    ir_path, vi_path = demo_pair()
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    for name in ("a", "b"):
        Image.open(ir_path).save(tmp_path / "ir" / f"{name}.png")
        Image.open(vi_path).save(tmp_path / "vi" / f"{name}.jpg" if name == "b" else tmp_path / "vi" / f"{name}.png")
    Image.open(ir_path).save(tmp_path / "ir" / "lonely.png")  # no visible partner
    return tmp_path


def test_cli_folder_mode_reports_missing_partner(tmp_path, capsys):
    root = _tree(tmp_path)
    assert main(["fuse", "--ir-dir", str(root / "ir"), "--vi-dir", str(root / "vi"), "--out-dir", str(root / "out"),
                 "--method", "max", "--compare", str(root / "cmp.png"), "-q"]) == 0
    cap = capsys.readouterr()
    assert "fused 2 pair(s)" in cap.out and "skipped 1" in cap.out
    assert "skipped lonely" in cap.err and "no partner" in cap.err
    assert sorted(p.name for p in (root / "out").iterdir()) == ["a.png", "b.png"]
    assert Image.open(root / "cmp.png").size[0] > 100


def test_cli_single_pair_and_errors(tmp_path, capsys, weights):
    ir, vi = demo_pair()
    out = tmp_path / "fused.png"
    assert main(["fuse", str(ir), str(vi), "-o", str(out), "--method", "lrrnet", "--weights", str(weights),
                 "--compare", str(tmp_path / "c.png"), "-q"]) == 0
    assert read_image(out).shape == read_image(ir).shape
    before = out.read_bytes()
    # a failing run leaves the existing output untouched and no temporary file behind
    assert main(["fuse", str(ir), str(tmp_path / "missing.png"), "-o", str(out), "--method", "average"]) == 2
    assert "missing.png" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "fused.png"]
    assert main(["fuse", str(ir), "-o", str(out)]) == 2
    assert "needs IR, VI and -o OUT" in capsys.readouterr().err
    assert main(["fuse", str(ir), str(vi), "-o", str(out), "--ir-dir", "x"]) == 2


def test_cli_methods_weights_and_demo(tmp_path, capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in llrr.list_methods()) and "(default)" in text
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "default (lrrnet): the project's own LRRNet" in out and "llrr_solver_t4 (learned-solver)" in out
    assert main(["demo", "--method", "average", "--out-dir", str(tmp_path), "-q"]) == 0
    text = capsys.readouterr().out
    assert "paper metrics: En" in text and "demo_fused.png" in text
    assert (tmp_path / "demo_fused.png").is_file() and (tmp_path / "demo_compare.png").is_file()


def test_make_run_default_method(tmp_path, capsys):
    """`make run` = `llrr demo`: the default method on the bundled pair, no ../shared needed."""
    assert main(["demo", "--out-dir", str(tmp_path), "-q"]) == 0
    text = capsys.readouterr().out
    assert f"with {llrr.DEFAULT_METHOD}" in text and "standard metrics" in text
    assert {p.name for p in tmp_path.iterdir()} >= {"demo_fused.png", "demo_compare.png"}


def test_the_default_method_is_lrrnet_with_the_shipped_weights():
    """Issue 8: once the project ships its own weights, `llrr.fuse` uses LRRNet with them by default."""
    from unrolled import lrrnet
    from unrolled.inference import fuse_images

    assert llrr.DEFAULT_METHOD == "lrrnet"
    ir, vi = demo_pair()
    fused = llrr.fuse(ir, vi)
    np.testing.assert_array_equal(fused, llrr.fuse(ir, vi, method="lrrnet", weights="default"))
    # the same as running the shipped network directly (fast path, the authors' normalisation), within 1 grey level
    direct = fuse_images(lrrnet(weights="default"), read_image(ir), read_image(vi))
    # direct: the authors' truncation to uint8; llrr.fuse rounds the same float image: 1 level at most
    assert fused.dtype == np.uint8 and np.abs(fused.astype(int) - direct.astype(int)).max() <= 1
    # and it is not the classical method's output
    classical = llrr.fuse(ir, vi, method="llrr-classical", **FAST["llrr-classical"])
    assert np.abs(fused.astype(int) - classical.astype(int)).mean() > 1


def _thermal16(seed=0):
    """The bundled pair on the 16-bit scale with sub-8-bit detail: > 256 distinct levels in each source."""
    ir8, vi8 = (read_image(p).astype(np.float64) for p in demo_pair())
    noise = np.random.default_rng(seed).random((2, *ir8.shape)) * 256
    ir = np.clip(ir8 * 256 + noise[0], 0, 65535).astype(np.uint16)
    vi = np.clip(vi8 * 256 + noise[1], 0, 65535).astype(np.uint16)
    return ir, vi


@pytest.mark.parametrize("method", list(METHODS))
def test_uint16_in_uint16_out_at_the_computed_precision(method, weights):
    ir, vi = _thermal16()
    opts = _opts(method, weights)
    out = llrr.fuse(ir, vi, method=method, **opts)
    assert out.dtype == np.uint16 and out.shape == ir.shape
    assert len(np.unique(out)) > 1024  # an 8-bit step anywhere in between would leave at most 256 levels
    # the output is the method's float result rounded once to 16 bits (float in -> float out, no quantisation)
    outf = llrr.fuse(ir / 65535.0, vi / 65535.0, method=method, **opts)
    assert outf.dtype == np.float64
    np.testing.assert_array_equal(out, np.round(outf * 65535.0).astype(np.uint16))
    assert np.abs(outf * 255 - np.round(outf * 255)).max() > 0.1  # not on an 8-bit grid either


def test_lrrnet_uint16_equals_the_network_and_official_keeps_8_bits(weights):
    from llrr.methods.lrrnet import load_model
    from unrolled import fuse_images

    ir, vi = _thermal16(1)
    model = load_model(weights)
    ref = fuse_images(model, ir / 65535.0, vi / 65535.0, normalization="minmax")  # what fuse hands the method
    assert ref.dtype == np.float64 and 0.0 <= ref.min() and ref.max() <= 1.0
    np.testing.assert_array_equal(llrr.fuse(ir, vi, weights=weights), np.round(ref * 65535).astype(np.uint16))
    official = fuse_images(model, ir / 65535.0, vi / 65535.0)  # the authors' convention, for parity: 8 bits
    assert official.dtype == np.uint8
    np.testing.assert_array_equal(official, (ref * 255.0).astype(np.uint8))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_cli_writes_16_bit_files_for_16_bit_inputs(tmp_path, capsys, suffix):
    ir, vi = _thermal16(2)
    Image.fromarray(ir).save(tmp_path / "ir.png")
    Image.fromarray(vi).save(tmp_path / "vi.tif")
    out = tmp_path / f"fused{suffix}"
    assert main(["fuse", str(tmp_path / "ir.png"), str(tmp_path / "vi.tif"), "-o", str(out), "--method", "average",
                 "-q"]) == 0
    with Image.open(out) as im:
        assert im.mode.startswith("I;16")
    np.testing.assert_array_equal(read_image(out), llrr.fuse(ir, vi, method="average"))
    # JPEG holds 8 bits: refused with a named error before anything is written
    assert main(["fuse", str(tmp_path / "ir.png"), str(tmp_path / "vi.tif"), "-o", str(tmp_path / "f.jpg"),
                 "--method", "average"]) == 2
    assert "f.jpg: JPEG holds 8 bits" in capsys.readouterr().err
    assert not (tmp_path / "f.jpg").exists()


def test_cli_float_tiff_in_float_tiff_out(tmp_path):
    ir, vi = (read_image(p) / 255.0 for p in demo_pair())
    Image.fromarray(ir.astype(np.float32)).save(tmp_path / "ir.tif")
    Image.fromarray(vi.astype(np.float32)).save(tmp_path / "vi.tif")
    assert main(["fuse", str(tmp_path / "ir.tif"), str(tmp_path / "vi.tif"), "-o", str(tmp_path / "f.tif"),
                 "--method", "average", "-q"]) == 0
    got = read_image(tmp_path / "f.tif")
    assert got.dtype == np.float32
    # float32 input -> float64 mean -> float32 file: float32 rounding (eps 6e-8) of values in [0, 1]
    np.testing.assert_allclose(got, (ir.astype(np.float32) + vi.astype(np.float32)) / 2, rtol=0, atol=1e-7)


def test_fuse_walks_down_once_validating_each_image_once_and_reusing_the_weights(monkeypatch):
    import unrolled.fast.infer as fast_infer
    import unrolled.inference as inference
    import unrolled.weights as weights
    from unrolled import fuse_images

    checks, converts = Spy(inference._check_pair), Spy(fast_infer._as_images)
    hashes, loads = Spy(weights.sha256_of), Spy(weights.load_official_checkpoint)
    for module, name, spy in ((inference, "_check_pair", checks), (fast_infer, "_as_images", converts),
                              (weights, "sha256_of", hashes), (weights, "load_official_checkpoint", loads)):
        monkeypatch.setattr(module, name, spy)
    ir_path, vi_path = demo_pair()
    outs = [llrr.fuse(ir_path, vi_path) for _ in range(3)]  # from the files, as `llrr fuse` does
    ir, vi = read_image(ir_path), read_image(vi_path)
    # llrr.fuse validated the images; unrolled checks only what depends on the model (no second pass over them)
    assert checks.calls == 0 and converts.calls == 0
    assert hashes.calls <= 1 and loads.calls <= 1  # once per process (0 if an earlier test did it)
    model = weights.cached_model("default")
    ref = fuse_images(model, ir / 255.0, vi / 255.0, normalization="minmax")  # the public path, checked
    assert checks.calls == 1
    for out in outs:
        np.testing.assert_array_equal(out, np.round(ref * 255.0).astype(np.uint8))


def test_options_and_shapes_are_checked_on_the_validated_path():
    from unrolled.inference import fuse_validated
    from unrolled.weights import cached_model

    ir_path, vi_path = demo_pair()
    with pytest.raises(ValueError, match="tile must be a positive integer or None, got -5"):
        llrr.fuse(ir_path, vi_path, tile=-5)
    model, grey = cached_model("default"), np.zeros((30, 30))
    with pytest.raises(ValueError, match=r"got vi: float64 \(30, 30, 3\)"):
        fuse_validated(model, grey, np.zeros((30, 30, 3)))
    with pytest.raises(ValueError, match=r"got ir: uint8"):
        fuse_validated(model, grey.astype(np.uint8), grey)
    with pytest.raises(ValueError, match="same shape"):
        fuse_validated(model, grey, np.zeros((30, 31)))


def test_colour_channels_fuses_each_visible_channel_as_vifb_does():
    rng = np.random.default_rng(3)
    ir = rng.integers(0, 256, (12, 14), dtype=np.uint8)
    vi = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    got = llrr.fuse(ir, vi, method="max", colour="channels")
    np.testing.assert_array_equal(got, np.maximum(ir[..., None], vi))  # grey infrared against every channel
    ir3 = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    got = llrr.fuse(ir3, vi, method="max", colour="channels")
    np.testing.assert_array_equal(got, np.maximum(ir3, vi))  # a colour infrared image channel by channel
    # the default fuses the luminance and differs; grey visible images are fused the same way by both
    assert not np.array_equal(llrr.fuse(ir3, vi, method="max"), got)
    np.testing.assert_array_equal(llrr.fuse(ir, vi[..., 0], method="max", colour="channels"),
                                  llrr.fuse(ir, vi[..., 0], method="max"))
    with pytest.raises(ValueError, match="colour must be 'luminance' or 'channels', got 'rgb'"):
        llrr.fuse(ir, vi, method="max", colour="rgb")


def test_the_cli_fuses_channels_when_asked(tmp_path):
    from PIL import Image

    from llrr.cli import main

    rng = np.random.default_rng(4)
    ir = rng.integers(0, 256, (16, 18), dtype=np.uint8)
    vi = rng.integers(0, 256, (16, 18, 3), dtype=np.uint8)
    Image.fromarray(ir).save(tmp_path / "ir.png")
    Image.fromarray(vi).save(tmp_path / "vi.png")
    main(["fuse", str(tmp_path / "ir.png"), str(tmp_path / "vi.png"), "-o", str(tmp_path / "f.png"), "--method",
          "max", "--colour", "channels", "-q"])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), np.maximum(ir[..., None], vi))
