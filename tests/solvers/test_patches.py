import numpy as np
import pytest

from solvers import extract_patches, fold_patches, n_patches, patch_positions


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "size", "stride"), [((17, 23), 8, 1), ((17, 23), 8, 3), ((32, 32), 8, 8),
                                                        ((9, 8), 8, 5), ((40, 31), 5, 4), ((8, 8), 8, 1)])
def test_round_trip_exact_on_integer_images(rng, dtype, shape, size, stride):
    img = rng.integers(0, 256, size=shape).astype(dtype)
    X = extract_patches(img, size, stride)
    assert X.dtype == dtype
    assert X.shape == (size * size, n_patches(shape, size, stride))
    back = fold_patches(X, shape, size, stride)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, img)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_real_valued(rng, dtype):
    img = (rng.standard_normal((33, 29)) * np.pi).astype(dtype)
    back = fold_patches(extract_patches(img, 6, 2), img.shape, 6, 2)
    assert back.dtype == dtype
    if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant or dtype == np.float32:
        np.testing.assert_array_equal(back, img)
    else:  # long double is double here: exact to rounding only. A pixel is the mean of up to 16 copies of itself
        # (4 patch positions per axis cover a pixel at this geometry): 15 rounded additions and one division, each
        # at most u = eps / 2 relative -> 16 u = 8 eps
        np.testing.assert_allclose(back, img, rtol=8 * np.finfo(dtype).eps)


def test_patch_content_and_order():
    img = np.arange(30.0).reshape(5, 6)
    X = extract_patches(img, 2, stride=2)
    # corners: rows (0, 2, 3), cols (0, 2, 4): the last row position is flush with the border
    np.testing.assert_array_equal(patch_positions(5, 2, 2), [0, 2, 3])
    np.testing.assert_array_equal(X[:, 0], img[0:2, 0:2].ravel())
    np.testing.assert_array_equal(X[:, 1], img[0:2, 2:4].ravel())
    np.testing.assert_array_equal(X[:, -1], img[3:5, 4:6].ravel())


def test_fold_averages_overlaps():
    X = np.ones((4, 4))
    X[:, 0] = 3.0  # top-left patch of a 3x3 image with 2x2 patches, stride 1
    out = fold_patches(X, (3, 3), 2, 1)
    assert out[0, 0] == 3.0  # covered by one patch
    assert out[1, 1] == pytest.approx((3 + 1 + 1 + 1) / 4)  # covered by all four (small integers: exact)


def test_every_pixel_covered_for_odd_sizes():
    for h in range(8, 20):
        for stride in (1, 3, 7):
            pos = patch_positions(h, 8, stride)
            covered = np.zeros(h, bool)
            for p in pos:
                covered[p : p + 8] = True
            assert covered.all()


def test_demo_image_patches(demo_ir):
    X = extract_patches(demo_ir, 8, 4)
    assert X.shape[0] == 64
    np.testing.assert_array_equal(fold_patches(X, demo_ir.shape, 8, 4), demo_ir)


def test_bad_input():
    with pytest.raises(ValueError, match="larger than the image"):
        extract_patches(np.zeros((5, 9)), 6)
    with pytest.raises(ValueError, match="2-D"):
        extract_patches(np.zeros((5, 5, 3)), 2)
    with pytest.raises(ValueError, match="non-finite"):
        extract_patches(np.array([[1.0, np.nan], [0.0, 0.0]]), 1)
    with pytest.raises(TypeError, match="dtype"):
        extract_patches(np.zeros((4, 4), dtype=complex), 2)
    with pytest.raises(ValueError, match="stride"):
        extract_patches(np.zeros((4, 4)), 2, 0)
    with pytest.raises(ValueError, match="stride=3 is larger than the patch size 2"):
        extract_patches(np.zeros((8, 8)), 2, 3)
    with pytest.raises(ValueError, match=r"X has shape \(4, 4\).*\(4, 9\)"):
        fold_patches(np.zeros((4, 4)), (4, 4), 2, 1)
    with pytest.raises(ValueError, match="larger than the image_shape"):
        fold_patches(np.zeros((25, 1)), (4, 4), 5, 1)
    with pytest.raises(ValueError, match="non-finite"):
        fold_patches(np.full((4, 9), np.inf), (4, 4), 2, 1)
