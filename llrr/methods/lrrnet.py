"""The "lrrnet" fusion method: LRRNet (Fig. 3) through :func:`unrolled.fuse_images` (fast path, tiles if asked).

``weights`` is a name of the weights registry (:func:`unrolled.weights.list_weights`; ``"default"`` = the project's
own trained weights, once shipped) or the path of a checkpoint: the authors' released file
(``lrrnet_official_tno_block4.model``) or a state_dict written by ``llrr train``. Loaded models are kept for the
process, so fusing a folder loads them once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["MIN_SIZE", "fuse_lrrnet", "load_model"]

MIN_SIZE = 23
"""The default network's receptive field: smaller images are refused (see :func:`unrolled.fuse_images`)."""


@lru_cache(maxsize=4)
def _load(key: str, mtime: float):
    from unrolled import lrrnet

    return lrrnet(weights=key).eval()


def load_model(weights="default"):
    """The LRRNet for ``weights`` (registry name or checkpoint path), cached per file and modification time."""
    from unrolled.weights import resolve_weights

    path = resolve_weights(weights)
    return _load(str(path), Path(path).stat().st_mtime)


def fuse_lrrnet(ir: np.ndarray, vi: np.ndarray, *, weights="default", tile: int | None = None,
                progress: bool = False) -> np.ndarray:
    """Fuse with LRRNet.

    Parameters
    ----------
    ir, vi : ndarray of shape (H, W), float in [0, 1]
    weights : str or path, default "default"
        A weights registry name or a checkpoint path.
    tile : int, optional
        Tile size for the eager path (the fast path streams the image and needs none).

    Returns
    -------
    ndarray of shape (H, W), float64 in [0, 1]: the authors' convention (each input min-max scaled, the output
    min-max scaled) without their truncation to 8 bits, so that :func:`llrr.fuse` rounds once, to the visible
    input's type (``normalization="minmax"`` of :func:`unrolled.fuse_images`).
    """
    from unrolled import fuse_images

    model = load_model(weights)
    return fuse_images(model, ir, vi, normalization="minmax", tile=tile)
