"""Image patches as matrix columns, and back.

The decomposition model of the paper (Eq. 1-5) acts on a matrix ``X`` whose columns are vectorised image patches,
taken by a sliding window. :func:`extract_patches` builds that matrix and :func:`fold_patches` puts a patch matrix
back into an image, averaging where patches overlap.

Border policy
-------------
Patch corners are placed at ``0, stride, 2*stride, ...`` along each axis and, when the last regular position does not
reach the border (``(H - size) % stride != 0``), one extra patch flush with the bottom (right) border is added. Every
pixel is therefore covered by at least one patch for any image size ``H, W >= size`` and any ``stride >= 1``; no
padding is invented. A patch is vectorised in row-major (C) order: entry ``u * size + v`` is pixel ``(u, v)`` of the
patch. Patches are ordered row-major by their top-left corner.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_int

__all__ = ["patch_positions", "extract_patches", "fold_patches", "n_patches"]


def patch_positions(length: int, size: int, stride: int) -> np.ndarray:
    """Top-left coordinates of the patches along one axis of ``length`` pixels (see the border policy)."""
    pos = np.arange(0, length - size + 1, stride)
    if pos[-1] != length - size:
        pos = np.append(pos, length - size)
    return pos


def n_patches(image_shape: tuple[int, int], size: int, stride: int) -> int:
    """Number of patches :func:`extract_patches` returns for an image of ``image_shape``."""
    h, w = image_shape
    return len(patch_positions(h, size, stride)) * len(patch_positions(w, size, stride))


def _check_geometry(image_shape, size, stride, name="image"):
    size = check_int(size, "size", low=1)
    stride = check_int(stride, "stride", low=1)
    if stride > size:
        raise ValueError(f"stride={stride} is larger than the patch size {size}: pixels between patches would be "
                         "left uncovered")
    h, w = image_shape
    if size > h or size > w:
        raise ValueError(f"patch size {size} is larger than the {name} of shape {(h, w)}")
    return size, stride


def extract_patches(image, size: int, stride: int = 1) -> np.ndarray:
    """Matrix of vectorised ``size x size`` patches of a grey image.

    Parameters
    ----------
    image : array_like of shape (H, W)
        Grey image. float32 and float64 are kept; integer images are converted to float64.
    size : int
        Patch side, ``1 <= size <= min(H, W)``.
    stride : int, default 1
        Step between patch corners; the last patch is flush with the border (module docstring).

    Returns
    -------
    X : ndarray of shape (size * size, n_patches)
        Column ``j`` is patch ``j`` in row-major order. A new contiguous array.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.arange(20.0).reshape(4, 5)
    >>> X = extract_patches(img, 2, stride=2)
    >>> X.shape
    (4, 6)
    >>> bool(np.array_equal(fold_patches(X, img.shape, 2, stride=2), img))
    True
    """
    img = check_array(image, "image", ndim=2)
    size, stride = _check_geometry(img.shape, size, stride)
    rows = patch_positions(img.shape[0], size, stride)
    cols = patch_positions(img.shape[1], size, stride)
    windows = np.lib.stride_tricks.sliding_window_view(img, (size, size))  # (H-s+1, W-s+1, s, s) view
    sel = windows[rows[:, None], cols[None, :]]  # (nr, nc, s, s)
    return np.ascontiguousarray(sel.reshape(len(rows) * len(cols), size * size).T)


def fold_patches(X, image_shape: tuple[int, int], size: int, stride: int = 1) -> np.ndarray:
    """Image from a patch matrix, averaging the patches that overlap a pixel.

    The inverse of :func:`extract_patches`: ``fold_patches(extract_patches(img, s, t), img.shape, s, t)`` returns
    ``img`` exactly (sums are accumulated in float64 for float32 input and in ``np.longdouble`` for float64; on
    platforms where long double is double, float64 round trips are exact to rounding).

    Parameters
    ----------
    X : array_like of shape (size * size, n_patches)
        Patch matrix laid out as :func:`extract_patches` returns it.
    image_shape : tuple of int (H, W)
    size, stride : int
        The geometry ``X`` was extracted with.

    Returns
    -------
    image : ndarray of shape (H, W), dtype of ``X``
    """
    X = check_array(X, "X", ndim=2)
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be (H, W), got {image_shape}")
    h, w = (check_int(v, "image_shape", low=1) for v in image_shape)
    size, stride = _check_geometry((h, w), size, stride, name="image_shape")
    rows = patch_positions(h, size, stride)
    cols = patch_positions(w, size, stride)
    expected = (size * size, len(rows) * len(cols))
    if X.shape != expected:
        raise ValueError(
            f"X has shape {X.shape} but an image of shape {(h, w)} with size={size}, stride={stride} "
            f"gives patch matrix shape {expected}"
        )
    P = X.reshape(size, size, len(rows), len(cols))
    # Accumulate in a wider type (float64 for float32 input, long double for float64): a sum of at most size**2
    # copies of one value is then exact, so the round trip returns the image bit for bit.
    acc_dtype = np.float64 if X.dtype == np.float32 else np.longdouble
    acc = np.zeros((h, w), dtype=acc_dtype)
    cnt = np.zeros((h, w), dtype=acc_dtype)
    # One vectorised scatter per offset inside the patch (size**2 of them), none per patch. Within one offset the
    # target pixels are distinct, so fancy-indexed += is exact.
    for u in range(size):
        ri = rows + u
        for v in range(size):
            idx = np.ix_(ri, cols + v)
            acc[idx] += P[u, v]
            cnt[idx] += 1
    acc /= cnt
    return acc.astype(X.dtype)
