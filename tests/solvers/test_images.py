"""The one image reader and its convention: native precision on read, [0, 1] = v / 255 or v / 65535, the 8-bit scale
= 255 x that, colour to BT.601 luma rounded as Pillow; every layer reads through it."""

import numpy as np
import pytest
from PIL import Image

from solvers._images import image_size, luminance, read_grey, read_image, unit_scale


def test_luminance_of_uint8_colour_is_pillows_l_conversion_exactly(rng):
    rgb = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    np.testing.assert_array_equal(luminance(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
    rgba = np.concatenate([rgb, np.full((200, 300, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(luminance(rgba), luminance(rgb))  # alpha dropped
    x = rgb / 255.0
    np.testing.assert_allclose(luminance(x), x @ [0.299, 0.587, 0.114], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) image, got shape \(4, 5\)"):
        luminance(np.zeros((4, 5), np.uint8))


def test_read_grey_puts_every_file_on_the_8_bit_scale(tmp_path, rng):
    grey8 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    Image.fromarray(grey8).save(tmp_path / "g8.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    Image.fromarray(grey16.astype(np.float32) / 65535).save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_grey(tmp_path / "g8.png"), grey8)
    np.testing.assert_array_equal(read_grey(tmp_path / "rgb.png"), luminance(rgb))
    g16 = read_grey(tmp_path / "g16.png")
    assert g16.dtype == np.float32
    np.testing.assert_allclose(g16, grey16 / 257.0, rtol=1e-6)  # 255 x (v / 65535)
    np.testing.assert_allclose(unit_scale(read_image(tmp_path / "g16.png")) * 255, g16, rtol=1e-6)
    np.testing.assert_array_equal(unit_scale(read_image(tmp_path / "g8.png")), grey8 / 255.0)
    with pytest.raises(ValueError, match=r"f\.tif: a float image has no fixed \[0, 255\] scale"):
        read_grey(tmp_path / "f.tif")
    assert image_size(tmp_path / "rgb.png") == (30, 20)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"bad\.png: not a readable image"):
        image_size(tmp_path / "bad.png")


def test_unit_scale_refuses_what_has_no_unit_scale():
    with pytest.raises(ValueError, match=r"\[0, 1\], got values in \[-1, 2\]"):
        unit_scale(np.array([[-1.0, 2.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        unit_scale(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="int64"):
        unit_scale(np.zeros((2, 2), np.int64))


def test_every_layer_reads_through_the_one_reader(tmp_path, rng):
    import llrr.io
    import unrolled.learned_solver
    import unrolled.training.data
    from llrr.metrics._common import as_uint8_grey

    assert llrr.io.read_image is read_image and unrolled.training.data.read_grey is read_grey
    rgb = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    # a colour file and the same colour array give the same grey image, in the metrics, in training and in llrr.io
    np.testing.assert_array_equal(as_uint8_grey(tmp_path / "c.png", "x"), as_uint8_grey(rgb, "x"))
    np.testing.assert_array_equal(unrolled.learned_solver.load_images([tmp_path / "c.png"])[0], luminance(rgb))
    np.testing.assert_array_equal(llrr.io.load_grey(tmp_path / "c.png"), luminance(rgb).astype(np.float64))
