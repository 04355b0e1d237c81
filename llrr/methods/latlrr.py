r"""The "latlrr" fusion method: Hui Li and Xiao-Jun Wu's latent low-rank representation fusion, the classical ancestor
of LRRNet, built on :mod:`solvers.latlrr`.

Two variants (``variant=``):

* ``"md"`` (default): MDLatLRR (Li, Wu & Kittler, IEEE TIP 2020), the code VIFB runs under the name "LatLRR".
  Each source is decomposed into ``levels`` detail parts and one base part by a projection learned once by LatLRR on
  8 x 8 training patches (:func:`solvers.latlrr.md_decompose`; the shipped projection, below). The base parts are
  averaged; at each level, the two sources' projected patches are mixed patch by patch with weights proportional to
  their nuclear norms (each 64-vector reshaped to 8 x 8) and put back by averaging the overlapping patches. The
  paper sums the levels; the released code (which VIFB ran) sums them cumulatively, level k counted
  ``levels - k + 1`` times (``cumulative=True``, the default, so that scores compare with VIFB's). Fused = fused base
  + fused details, clipped to [0, 1].
* ``"icpr2018"``: the original method (Li & Wu, ICPR 2018, arXiv:1804.08992): LatLRR
  (:func:`solvers.latlrr.latlrr`, ``lam`` 0.8) on each image as a matrix gives a low-rank part ``X Z`` and a salient
  part ``L X``, each clipped to [0, 1] as in the authors' ``fusion_latlrr.m``; fused = the low-rank parts averaged
  + the salient parts summed, clipped to [0, 1] (their ``imwrite`` of a double image). It solves a
  W x W nuclear-norm problem per image (minutes for 640 x 480).

The shipped projection ``llrr/data/latlrr_projection_8.npy`` (64 x 64, float64; provenance, command and sha256 in
``latlrr_projection_8.json``) was learned by :func:`solvers.latlrr.learn_projection` on the RoadScene and TNO training
pairs (never the test sets), with MDLatLRR's settings: 1,200 random non-overlapping 8 x 8 patches, ``lam`` 0.4. It is
remade by ``python -m benchmarks.latlrr_projection``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["MIN_SIZE", "PROJECTION", "fuse_latlrr", "load_projection", "nuclear_weights"]

MIN_SIZE = 8
PROJECTION = Path(__file__).resolve().parents[1] / "data" / "latlrr_projection_8.npy"


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> np.ndarray:
    from solvers._files import sha256_file

    path = Path(path)
    side = path.with_suffix(".json")
    if side.is_file():
        expected = json.loads(side.read_text())["sha256"]
        if sha256_file(path) != expected:
            raise ValueError(f"{path} does not match the sha256 in {side}: the file was changed or damaged")
    P = np.load(path, allow_pickle=False)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or round(np.sqrt(P.shape[0])) ** 2 != P.shape[0]:
        raise ValueError(f"{path} must hold an s^2 x s^2 projection, got shape {P.shape}")
    P.setflags(write=False)
    return P


def load_projection(projection=None) -> np.ndarray:
    """The MDLatLRR projection: the shipped one (``None``), a ``.npy`` path (checked against a sha256 sidecar
    ``.json`` next to it, where present) or an array."""
    if projection is None or isinstance(projection, (str, Path)):
        path = Path(PROJECTION if projection is None else projection)
        if not path.is_file():
            raise FileNotFoundError(f"LatLRR projection not found: {path}")
        return _load(str(path), path.stat().st_mtime)
    P = np.asarray(projection, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or round(np.sqrt(P.shape[0])) ** 2 != P.shape[0]:
        raise ValueError(f"projection must be an s^2 x s^2 array, got shape {P.shape}")
    return P


def _nuclear_norms(cols: np.ndarray) -> np.ndarray:
    """Nuclear norm of each column reshaped to s x s: the sum of the square roots of the eigenvalues of its Gram
    matrix (faster than batched SVDs here, and than a numba one-sided Jacobi SVD; equal to 1e-10 relative)."""
    s = int(round(np.sqrt(cols.shape[0])))
    out = np.empty(cols.shape[1])
    for start in range(0, cols.shape[1], 65536):  # bounded memory
        m = cols[:, start:start + 65536].T.reshape(-1, s, s)
        ev = np.linalg.eigvalsh(np.matmul(m.transpose(0, 2, 1), m))
        out[start:start + 65536] = np.sqrt(np.clip(ev, 0.0, None)).sum(axis=1)
    return out


def nuclear_weights(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column (an s^2 patch vector), ``|a|_* / (|a|_* + |b|_*)`` and ``|b|_* / (...)``, the nuclear norms of the
    columns reshaped to s x s (column-major, as vectorised); where both are zero, 0.5 each."""
    na, nb = _nuclear_norms(a), _nuclear_norms(b)
    total = na + nb
    safe = np.where(total > 0, total, 1.0)
    wa = np.where(total > 0, na / safe, 0.5)
    return wa, 1.0 - wa


def _md(ir, vi, *, projection, levels, cumulative, progress):
    from tqdm.auto import tqdm

    from solvers.latlrr import md_decompose, overlap_add

    P = load_projection(projection)
    size = int(round(np.sqrt(P.shape[0])))
    steps = tqdm(total=3, desc="latlrr (MDLatLRR)", disable=not progress, leave=False)
    base_ir, det_ir = md_decompose(ir, P, levels)
    steps.update(1)
    base_vi, det_vi = md_decompose(vi, P, levels)
    steps.update(1)
    fused = 0.5 * (base_ir + base_vi)
    running = np.zeros_like(fused)
    for a, b in zip(det_ir, det_vi, strict=True):
        wa, wb = nuclear_weights(a, b)
        part = overlap_add(wa * a + wb * b, ir.shape, size)
        if cumulative:  # the released code's accumulator is not reset between levels: level k adds levels 1..k
            running += part
            fused += running
        else:
            fused += part
    steps.update(1)
    steps.close()
    return fused


def _icpr(ir, vi, *, lam, progress):
    from solvers.latlrr import latlrr

    parts = []
    for img in (ir, vi):
        res = latlrr(img, lam, progress=progress)
        # each part clipped to [0, 1] before they are combined, as in the authors' fusion_latlrr.m
        parts.append((np.clip(img @ res.Z, 0.0, 1.0), np.clip(res.L @ img, 0.0, 1.0)))
    return 0.5 * (parts[0][0] + parts[1][0]) + parts[0][1] + parts[1][1]


def fuse_latlrr(ir: np.ndarray, vi: np.ndarray, *, variant: str = "md", levels: int = 4, projection=None,
                cumulative: bool = True, lam: float = 0.8, progress: bool = False) -> np.ndarray:
    """Fuse a grey pair on [0, 1] by latent low-rank representation (module docstring).

    Parameters
    ----------
    ir, vi : ndarray (H, W), float on [0, 1]
    variant : {"md", "icpr2018"}
        MDLatLRR (VIFB's "LatLRR") or the ICPR 2018 method.
    levels : int
        ``"md"``: decomposition levels (VIFB runs 4).
    projection : None, path or array
        ``"md"``: the s^2 x s^2 projection (default: the shipped 8 x 8 one).
    cumulative : bool
        ``"md"``: True (default) fuses the details as the authors' released code (the code VIFB ran) does: its
        accumulator of fused detail patches is not reset between levels, so the fused detail image is
        ``sum_k (levels - k + 1) D_k`` (level 1 counted ``levels`` times). False: ``sum_k D_k``, the paper's rule.
    lam : float
        ``"icpr2018"``: LatLRR's sparse weight (0.8 in the authors' code).
    progress : bool

    Returns
    -------
    ndarray (H, W) float64 on [0, 1]
    """
    ir = np.asarray(ir, dtype=np.float64)
    vi = np.asarray(vi, dtype=np.float64)
    if ir.shape != vi.shape or ir.ndim != 2:
        raise ValueError(f"ir and vi must be grey images of one shape, got {ir.shape} and {vi.shape}")
    if variant == "md":
        fused = _md(ir, vi, projection=projection, levels=levels, cumulative=cumulative, progress=progress)
    elif variant == "icpr2018":
        fused = _icpr(ir, vi, lam=lam, progress=progress)
    else:
        raise ValueError(f"variant must be 'md' or 'icpr2018', got {variant!r}")
    return np.clip(fused, 0.0, 1.0)
