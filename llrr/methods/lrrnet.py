"""The "lrrnet" fusion method: LRRNet (Fig. 3) through :func:`unrolled.fuse_images` (fast path, tiles if asked).

``weights`` is a name of the weights registry (:func:`unrolled.weights.list_weights`; ``"default"`` = the project's
own weights, chosen by its recipe study) or the path of a checkpoint: the authors' released file
(``lrrnet_official_tno_block4.model``) or a state_dict written by ``llrr train``. The model comes from the one
cache of :func:`unrolled.weights.cached_model` (resolved, hashed and loaded once per process and file state), and the
images, which :func:`llrr.fuse` has validated and converted to float64 on [0, 1], go to
:func:`unrolled.inference.fuse_validated` unchecked.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_SIZE", "fuse_lrrnet", "load_model"]

MIN_SIZE = 23
"""The default network's receptive field: smaller images are refused (see :func:`unrolled.fuse_images`)."""


def load_model(weights="default"):
    """The shared, cached LRRNet for ``weights`` (:func:`unrolled.weights.cached_model`)."""
    from unrolled.weights import cached_model

    return cached_model(weights)


def fuse_lrrnet(ir: np.ndarray, vi: np.ndarray, *, weights="default", tile: int | None = None, device=None,
                precision: str = "float32", progress: bool = False) -> np.ndarray:
    """Fuse with LRRNet (the "lrrnet" method of :func:`llrr.fuse`, which validates the images first; call
    ``llrr.fuse(ir, vi, method="lrrnet")`` rather than this function with images of unknown provenance).

    Parameters
    ----------
    ir, vi : ndarray of shape (H, W), float in [0, 1]
    weights : str or path, default "default"
        A weights registry name or a checkpoint path.
    tile : int, optional
        Tile size for the eager path (the fast path streams the image and needs none).
    device : str, optional
        "cuda", "cuda:N", ...: the eager modules on that device (:mod:`unrolled.device`); None or "cpu": the CPU,
        with the fast path.
    precision : {"float32", "bfloat16"}
        "bfloat16": the eager modules under ``torch.autocast``.

    Returns
    -------
    ndarray of shape (H, W), float64 in [0, 1]: the authors' convention (each input min-max scaled, the output
    min-max scaled) without their truncation to 8 bits, so that :func:`llrr.fuse` rounds once, to the visible
    input's type (``normalization="minmax"`` of :func:`unrolled.fuse_images`).
    """
    from unrolled.inference import fuse_validated

    return fuse_validated(load_model(weights), ir, vi, tile=tile, device=device, precision=precision)
