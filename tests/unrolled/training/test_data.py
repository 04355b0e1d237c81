"""Training data (unrolled.training.data): pairing, grey conversion, crops, the seeded resumable stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import DEMO_DIR, REPO, shared_path
from unrolled.training.data import CropSampler, PairDataset, find_pairs, minmax01, read_grey, resize_bilinear

CONFIGS = REPO / "configs"
SHARED = (REPO.parent / "shared").resolve()  # where configs/default.toml points (beside the repository; links followed)


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _pairs_dir(root: Path, images: list[np.ndarray]) -> Path:
    """ir/ and vi/ folders; the visible image of each pair is 255 - the infrared one."""
    for i, a in enumerate(images):
        _save(root / "ir" / f"p{i}.png", a)
        _save(root / "vi" / f"p{i}.png", 255 - a)
    return root


# ---- pairs and grey images ---------------------------------------------------------------------------------------

@pytest.mark.shared
def test_the_training_sets_pair_up():
    assert len(find_pairs(shared_path("data", "roadscene"))) == 221
    pairs = find_pairs(shared_path("data", "tno_train"))
    assert len(pairs) == 66 and all(p.ir.name == p.vi.name for p in pairs)


def test_layouts_and_pairing_errors(tmp_path, rng):
    [demo] = find_pairs(DEMO_DIR)  # NAME_ir / NAME_vi side by side
    assert (demo.name, demo.ir.name, demo.vi.name) == ("demo", "demo_ir.png", "demo_vi.png")

    a = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    _save(tmp_path / "d" / "ir" / "x.png", a)
    _save(tmp_path / "d" / "vi" / "x.jpg", a)  # pairs by stem: the extensions may differ
    assert [p.name for p in find_pairs(tmp_path / "d")] == ["x"]
    _save(tmp_path / "d" / "ir" / "lonely.png", a)
    with pytest.raises(ValueError, match="without a partner.*lonely.png"):
        find_pairs(tmp_path / "d")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"no IR/VI pairs found in {tmp_path / 'empty'}"):
        find_pairs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=f"data directory not found: {tmp_path / 'nope'}"):
        find_pairs(tmp_path / "nope")


def test_colour_becomes_itu_r_601_luma_and_16_bit_is_scaled(tmp_path, rng):
    rgb = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    grey = read_grey(_save(tmp_path / "c.png", rgb))
    luma = rgb.astype(float) @ [0.299, 0.587, 0.114]
    # uint8 output: the luma rounded, within half a grey level (1e-9 for the float64 luma's rounding)
    assert grey.dtype == np.uint8 and np.abs(grey - luma).max() <= 0.5 + 1e-9
    deep = rng.integers(0, 65536, (8, 8), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    # float32 result: a float32 division, one rounding of u = 6e-8
    np.testing.assert_allclose(read_grey(tmp_path / "d.png"), deep / 257.0, rtol=1e-6)


def test_images_that_do_not_fit_are_rejected_by_name(tmp_path, rng):
    _save(tmp_path / "small" / "ir" / "s.png", rng.integers(0, 256, (20, 40), dtype=np.uint8))
    _save(tmp_path / "small" / "vi" / "s.png", rng.integers(0, 256, (20, 40), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"small/ir/s.png \(and its partner\) is 40x20, smaller than the 32x32 crop"):
        PairDataset([tmp_path / "small"], min_size=32)
    _save(tmp_path / "mis" / "ir" / "m.png", rng.integers(0, 256, (20, 40), dtype=np.uint8))
    _save(tmp_path / "mis" / "vi" / "m.png", rng.integers(0, 256, (20, 41), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"mis/ir/m.png is 40x20 but .*mis/vi/m.png is 41x20"):
        PairDataset([tmp_path / "mis"])
    with pytest.raises(ValueError, match=r"pair 0: ir and vi must be 2-D grey images of one shape"):
        PairDataset.from_arrays([(np.zeros((20, 40)), np.zeros((20, 41)))])


def _windows(src: np.ndarray, c: int):
    """Every c x c window of ``src`` under every flip: (flip_v, flip_h, window)."""
    for y in range(src.shape[0] - c + 1):
        for x in range(src.shape[1] - c + 1):
            w = src[y:y + c, x:x + c]
            yield from ((0, 0, w), (1, 0, w[::-1]), (0, 1, w[:, ::-1]), (1, 1, w[::-1, ::-1]))


# ---- the crop stream ---------------------------------------------------------------------------------------------

def test_crops_are_flipped_windows_of_both_images(tmp_path, rng):
    images = [rng.integers(0, 256, (13, 17), dtype=np.uint8) for _ in range(2)]
    sampler = CropSampler(PairDataset([_pairs_dir(tmp_path, images)]), crop=8, batch=50, seed=1)
    batch = sampler.next_batch()
    flips = set()
    for ir, vi in zip(batch.ir255[:, 0].numpy(), batch.vi255[:, 0].numpy(), strict=True):
        np.testing.assert_array_equal(vi, 255 - ir)  # the same window in both images
        found = {(fv, fh) for src in images for fv, fh, w in _windows(src, 8) if np.array_equal(ir, w)}
        assert found, "a crop that is no window of any image"
        flips |= found
    assert flips == {(0, 0), (0, 1), (1, 0), (1, 1)}
    np.testing.assert_allclose(batch.ir01.numpy(), minmax01(batch.ir255.numpy()))  # the same float32 operations
    assert batch.ir01.dtype == batch.vi01.dtype == batch.ir255.dtype == batch.vi255.dtype == torch.float32
    assert float(batch.ir01.amin()) == 0.0 and 0.9999 < float(batch.ir01.amax()) <= 1.0


def test_every_pair_once_per_epoch(tmp_path):
    images = [np.full((8, 8), v, dtype=np.uint8) for v in (10, 20, 30)]
    sampler = CropSampler(PairDataset([_pairs_dir(tmp_path, images)]), crop=8, batch=3, seed=5)
    orders = [tuple(sampler.next_crops()[0][:, 0, 0, 0]) for _ in range(4)]
    assert all(sorted(o) == [10, 20, 30] for o in orders)
    assert len(set(orders)) > 1  # reshuffled between epochs


@pytest.mark.parametrize("sampling", ["crop", "resize", "scale"])
def test_the_stream_is_seeded_and_resumable(tmp_path, rng, sampling):
    images = [rng.integers(0, 256, (30, 40), dtype=np.uint8) for _ in range(3)]
    data = PairDataset([_pairs_dir(tmp_path, images)])
    a, b, c = (CropSampler(data, crop=16, batch=2, seed=s, sampling=sampling) for s in (7, 7, 8))
    first = [a.next_crops()[0] for _ in range(3)]
    assert all(np.array_equal(x, b.next_crops()[0]) for x in first)
    assert not np.array_equal(first[0], c.next_crops()[0])
    state = a.state_dict()  # mid-epoch: 6 draws of 3 pairs
    ahead = [a.next_crops()[0] for _ in range(4)]
    fresh = CropSampler(data, crop=16, batch=2, seed=123, sampling=sampling)
    fresh.load_state_dict(state)
    assert all(np.array_equal(x, fresh.next_crops()[0]) for x in ahead)
    with pytest.raises(ValueError, match="batch 2 vs 3"):
        CropSampler(data, crop=16, batch=3, sampling=sampling).load_state_dict(state)


def test_resize_bilinear_is_pixel_centre_interpolation(rng):
    # align_corners=False: output pixel i samples input coordinate (i + 0.5) * in / out - 0.5, clamped to the edge
    a = rng.uniform(0, 255, (7, 11))
    out = resize_bilinear(a, 5)
    for i in range(5):
        for j in range(5):
            y = min(max((i + 0.5) * 7 / 5 - 0.5, 0.0), 6.0)
            x = min(max((j + 0.5) * 11 / 5 - 0.5, 0.0), 10.0)
            y0, x0 = int(y), int(x)
            y1, x1 = min(y0 + 1, 6), min(x0 + 1, 10)
            wy, wx = y - y0, x - x0
            ref = ((1 - wy) * ((1 - wx) * a[y0, x0] + wx * a[y0, x1]) + wy * ((1 - wx) * a[y1, x0] + wx * a[y1, x1]))
            # torch's float32 interpolation vs this float64 formula on values <= 255: the float32 cast of a and of
            # the weights, 4 products: ~5 x u x 255 = 8e-5
            assert abs(out[i, j] - ref) < 1e-3
    # same size: the image itself, but for its float32 cast (u x 255 = 1.5e-5)
    np.testing.assert_allclose(resize_bilinear(a[:, :7], 7), a[:, :7], atol=1e-4)
    assert out.dtype == np.float32 and out.shape == (5, 5)


def test_resize_sampling_sees_whole_images_flipped(tmp_path, rng):
    images = [rng.integers(0, 256, (20, 30), dtype=np.uint8) for _ in range(2)]
    sampler = CropSampler(PairDataset([_pairs_dir(tmp_path, images)]), crop=8, batch=40, seed=2, sampling="resize")
    batch = sampler.next_batch()
    whole = [resize_bilinear(a, 8) for a in images]
    flips = set()
    for ir, vi in zip(batch.ir255[:, 0].numpy(), batch.vi255[:, 0].numpy(), strict=True):
        # both images of the pair, the same way: resize(255 - a) = 255 - resize(a) up to float32 rounding of values
        # <= 255 (4 products, ~5 u x 255 = 8e-5)
        np.testing.assert_allclose(vi, 255 - ir, atol=1e-3)
        # the same float32 resize of the same image (np.allclose's rtol 1e-5 of <= 255 applies on top)
        found = {(fv, fh) for w in whole for fv in (0, 1) for fh in (0, 1)
                 if np.allclose(ir, w[::-1 if fv else 1, ::-1 if fh else 1], atol=1e-4)}
        assert found, "a sample that is not a resized whole image"
        flips |= found
    assert flips == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_scale_sampling_draws_windows_of_every_size(tmp_path):
    # a ramp image: a window of side s resized to 8 spans s - 1 grey levels (up to the bilinear edge effects)
    ramp = np.tile(np.arange(40, dtype=np.uint8) * 5, (40, 1))
    sampler = CropSampler(PairDataset([_pairs_dir(tmp_path, [ramp])]), crop=8, batch=200, seed=3, sampling="scale",
                          flips=False)
    ir = sampler.next_crops()[0][:, 0]
    spans = ir.max(axis=(1, 2)) - ir.min(axis=(1, 2))
    # a side-s window: the 8 samples sit at input steps s/8 apart, so the span is 5 * 7 * s / 8 (plus edge clamping)
    sides = spans / 5 / 7 * 8
    assert sides.min() < 10 and sides.max() > 34 and np.all((sides > 7.9) & (sides < 41))
    state = sampler.state_dict()
    assert state["sampling"] == "scale"
    with pytest.raises(ValueError, match="sampling"):
        CropSampler(sampler.dataset, crop=8, batch=200, flips=False).load_state_dict(state)
    with pytest.raises(ValueError, match="sampling must be one of .* got 'zoom'"):
        CropSampler(sampler.dataset, crop=8, sampling="zoom")
