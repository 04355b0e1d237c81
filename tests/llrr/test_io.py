"""llrr.io: one image reader and writer that keep the file's precision, name the file on bad input and never leave a
partial or temporary file."""

import numpy as np
import pytest
from PIL import Image

from llrr.io import atomic_path, load_grey, read_image, write_image


@pytest.fixture
def grey16():
    """A 16-bit grey image with more than 256 distinct levels (a raw thermal frame's kind of range)."""
    return (np.arange(40 * 50, dtype=np.int64).reshape(40, 50) * 31 % 65536).astype(np.uint16)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
def test_16_bit_round_trip_is_exact(tmp_path, grey16, suffix):
    path = write_image(grey16, tmp_path / f"a{suffix}")
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, grey16)
    assert len(np.unique(back)) > 256


def test_8_bit_grey_and_colour_round_trip(tmp_path, rng):
    grey = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    for name, img in (("g.png", grey), ("c.png", rgb), ("g.bmp", grey), ("c.tif", rgb)):
        back = read_image(write_image(img, tmp_path / name))
        assert back.dtype == np.uint8
        np.testing.assert_array_equal(back, img)


def test_float_images(tmp_path, rng):
    img = rng.random((6, 8))
    tif = read_image(write_image(img, tmp_path / "f.tif"))
    assert tif.dtype == np.float32  # a float32 TIFF: the values as float32 stores them, no quantisation
    np.testing.assert_array_equal(tif, img.astype(np.float32))
    png = read_image(write_image(img, tmp_path / "f.png"))  # PNG holds integers: the 16-bit scale
    assert png.dtype == np.uint16
    np.testing.assert_array_equal(png, np.round(img * 65535).astype(np.uint16))
    raw = (rng.random((5, 6)) * 300).astype(np.float32)  # a float TIFF is read as stored (e.g. kelvin)
    Image.fromarray(raw).save(tmp_path / "k.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "k.tif"), raw)


def test_palette_rgba_and_la_images(tmp_path, rng):
    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    Image.fromarray(grey).convert("P").save(tmp_path / "pg.png")  # a palette of greys: read as grey
    back = read_image(tmp_path / "pg.png")
    assert back.ndim == 2 and back.dtype == np.uint8
    np.testing.assert_array_equal(back, grey)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).quantize(16).save(tmp_path / "pc.png")  # a colour palette: read as RGB
    pc = read_image(tmp_path / "pc.png")
    assert pc.shape == (6, 7, 3)
    rgba = np.concatenate([rgb, np.full((6, 7, 1), 7, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)  # alpha dropped, colour kept
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), grey)
    # load_grey: the luminance, as Pillow's "L" conversion computes it
    np.testing.assert_array_equal(load_grey(tmp_path / "a.png"), np.asarray(Image.fromarray(rgb).convert("L")))


def test_bad_files_are_named_errors(tmp_path, grey16):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png: empty file \(0 bytes\)"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("this is text, not a PNG")
    with pytest.raises(ValueError, match=r"notes\.png: not a readable image"):
        read_image(tmp_path / "notes.png")
    write_image(grey16, tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png: not a readable image \(.*truncated"):
        read_image(tmp_path / "cut.png")
    Image.fromarray(np.array([[-5, 70000]], np.int32), "I").save(tmp_path / "wide.tif")
    with pytest.raises(ValueError, match=r"wide\.tif: 32-bit integer image with values in \[-5, 70000\]"):
        read_image(tmp_path / "wide.tif")
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        read_image(tmp_path / "nothing.png")


def test_write_refuses_what_the_format_cannot_hold_and_keeps_the_old_file(tmp_path, grey16):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"earlier result")
    with pytest.raises(ValueError, match=r"out\.jpg: JPEG holds 8 bits and the image is 16-bit"):
        write_image(grey16, target)
    with pytest.raises(ValueError, match="16-bit colour images are not supported"):
        write_image(np.zeros((4, 4, 3), np.uint16), tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"expected a uint8, uint16 or float .* got int64 of shape \(4, 4\)"):
        write_image(np.zeros((4, 4), np.int64), tmp_path / "i.png")
    assert target.read_bytes() == b"earlier result"
    assert _leftovers(tmp_path) == []


def test_atomic_path_removes_its_temporary_file_on_any_exit(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    for exc in (RuntimeError("disk"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                raise exc
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(OSError, match=r"cannot write .*file/y\.png"):
        with atomic_path(tmp_path / "file" / "y.png"):
            pass
