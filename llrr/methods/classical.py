r"""The "llrr-classical" fusion method: LRRNet's idea solved by optimisation instead of a trained network.

Each source is cut into overlapping ``size x size`` patches (:func:`solvers.extract_patches`) and coded on a base
dictionary D1 and a salient dictionary D2 (Eq. 2/5 with fixed dictionaries):

.. math:: \min_{L,S}\ \tfrac12\|X - D_1L - D_2S\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1

by FISTA (``solver="fista"``, the nuclear norm) or by the paper's Algorithm 1 (``solver="algorithm1"``, l1 on both
blocks). The dictionaries are learned from the two sources together (``dictionary="learned"``:
:func:`solvers.dictionary.learn_dictionaries` on a random subset of both images' patches, from the DCT start) or are
the overcomplete 2-D DCT (``dictionary="dct"``: the ``n_low`` lowest frequencies in D1).

Fusion rule, mirroring LRRNet's decoder (a low-rank image and a sparse image per source, fused separately):

* **low-rank (base) parts**: the weighted average ``w_ir * D1 L_ir + (1 - w_ir) * D1 L_vi`` (per patch, then folded);
* **sparse (detail) parts**: choose-max of l1 activity, patch by patch: the fused patch takes the sparse code of the
  source whose :math:`\|S_p\|_1` is larger (ties go to the visible image);
* the fused patches :math:`D_1 L_f + D_2 S_f` are folded back into an image, overlaps averaged, and clipped to [0, 1].

The inputs are coded on [0, 1] as given (no per-image normalisation), so the result keeps the sources' brightness.
:func:`classical_fusion` returns every intermediate, and :func:`plot_classical` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MIN_SIZE", "ClassicalFusion", "classical_fusion", "fuse_classical", "plot_classical"]

MIN_SIZE = 8
"""Images must hold at least one patch (the default patch side)."""


@dataclass
class ClassicalFusion:
    """Parts of one classical fusion, each (H, W) on the [0, 1] scale."""

    fused: np.ndarray
    base: dict[str, np.ndarray]
    detail: dict[str, np.ndarray]
    fused_base: np.ndarray
    fused_detail: np.ndarray
    choice_vi: float
    D1: np.ndarray
    D2: np.ndarray


def _dictionaries(X_ir, X_vi, *, dictionary, n_low, n_sparse, lam1, lam2, learn_patches, learn_iter, seed):
    from solvers.dictionary import dct_atoms, learn_dictionaries

    n_features = X_ir.shape[0]
    if dictionary == "dct":
        D = dct_atoms(n_features, n_low + n_sparse)
        return D[:, :n_low], D[:, n_low:]
    if dictionary != "learned":
        raise ValueError(f"dictionary must be 'learned' or 'dct', got {dictionary!r}")
    rng = np.random.default_rng(seed)
    X = np.concatenate([X_ir, X_vi], axis=1)
    take = rng.choice(X.shape[1], size=min(learn_patches, X.shape[1]), replace=False)
    import warnings

    from solvers import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed, small budget is the point here
        D1, D2, _ = learn_dictionaries(X[:, take], n_low, n_sparse, lam1=lam1, lam2=lam2, lam3=0.0,
                                       max_iter=learn_iter, tol=0.0, random_state=seed)
    return D1, D2


def classical_fusion(ir: np.ndarray, vi: np.ndarray, *, size: int = 8, stride: int = 4, n_low: int = 8,
                     n_sparse: int = 56, lam1: float = 0.02, lam2: float = 0.01, solver: str = "fista",
                     iterations: int = 100, dictionary: str = "learned", learn_patches: int = 4000,
                     learn_iter: int = 10, w_ir: float = 0.5, seed: int = 0,
                     progress: bool = False) -> ClassicalFusion:
    """Fuse a grey pair on [0, 1] by low-rank + sparse coding (module docstring); every intermediate is returned.

    Parameters
    ----------
    ir, vi : ndarray of shape (H, W), float in [0, 1]
    size, stride : int
        Patch side and stride (stride <= size: overlapping patches, averaged when folded).
    n_low, n_sparse : int
        Atoms of D1 and D2.
    lam1, lam2 : float
        Weights of the low-rank and sparse penalties.
    solver : {"fista", "algorithm1"}
    iterations : int
        Coding iterations per source.
    dictionary : {"learned", "dct"}
    learn_patches, learn_iter : int
        Patches (from both sources) and outer iterations of the dictionary learning.
    w_ir : float in [0, 1]
        Weight of the infrared base in the fused base.
    seed : int
        Seed of the patch subset for learning.
    progress : bool
        tqdm bars for the coding.
    """
    from tqdm.auto import tqdm

    from solvers import LowRankSparseProblem, extract_patches, fold_patches
    from solvers.registry import get_solver

    if solver not in ("fista", "algorithm1"):
        raise ValueError(f"solver must be 'fista' or 'algorithm1', got {solver!r}")
    if not 0.0 <= w_ir <= 1.0:
        raise ValueError(f"w_ir must lie in [0, 1], got {w_ir!r}")
    if min(ir.shape) < size:
        raise ValueError(f"images of shape {ir.shape} are smaller than one {size} x {size} patch")
    X = {"ir": extract_patches(ir, size, stride), "vi": extract_patches(vi, size, stride)}
    D1, D2 = _dictionaries(X["ir"], X["vi"], dictionary=dictionary, n_low=n_low, n_sparse=n_sparse, lam1=lam1,
                           lam2=lam2, learn_patches=learn_patches, learn_iter=learn_iter, seed=seed)
    problem = LowRankSparseProblem(D1, D2, lam1=lam1, lam2=lam2)
    codes = {}
    for name in ("ir", "vi"):
        run = get_solver(solver)(X[name], problem, max_iter=iterations, tol=0.0, track_objective=False)
        bar = tqdm(total=iterations, desc=f"coding {name}", disable=not progress, leave=False)
        res = run.solve(callback=lambda s, bar=bar: bar.update(1) and False)
        bar.close()
        codes[name] = (res.L, res.S)

    def fold(P):
        return fold_patches(P, ir.shape, size, stride)

    base = {k: fold(D1 @ L) for k, (L, _) in codes.items()}
    detail = {k: fold(D2 @ S) for k, (_, S) in codes.items()}
    L_f = w_ir * codes["ir"][0] + (1.0 - w_ir) * codes["vi"][0]
    act_ir, act_vi = (np.abs(codes[k][1]).sum(axis=0) for k in ("ir", "vi"))
    pick_ir = act_ir > act_vi
    S_f = np.where(pick_ir[None, :], codes["ir"][1], codes["vi"][1])
    fused_base, fused_detail = fold(D1 @ L_f), fold(D2 @ S_f)
    fused = np.clip(fused_base + fused_detail, 0.0, 1.0)
    return ClassicalFusion(fused=fused, base=base, detail=detail, fused_base=fused_base, fused_detail=fused_detail,
                           choice_vi=float(1.0 - pick_ir.mean()), D1=D1, D2=D2)


def fuse_classical(ir: np.ndarray, vi: np.ndarray, *, size: int = 8, stride: int = 4, n_low: int = 8,
                   n_sparse: int = 56, lam1: float = 0.02, lam2: float = 0.01, solver: str = "fista",
                   iterations: int = 100, dictionary: str = "learned", w_ir: float = 0.5, seed: int = 0,
                   progress: bool = False) -> np.ndarray:
    """The fused image of :func:`classical_fusion` (same parameters), (H, W) in [0, 1]."""
    return classical_fusion(ir, vi, size=size, stride=stride, n_low=n_low, n_sparse=n_sparse, lam1=lam1, lam2=lam2,
                            solver=solver, iterations=iterations, dictionary=dictionary, w_ir=w_ir, seed=seed,
                            progress=progress).fused


def plot_classical(ir: np.ndarray, vi: np.ndarray, result: ClassicalFusion, path) -> Path:
    """Figure of a classical fusion: sources, their base and detail parts, the fused parts and the result."""
    from matplotlib.figure import Figure

    from ..io import save_figure

    fig = Figure(figsize=(12, 6.4), layout="constrained")
    axes = fig.subplots(2, 4)
    v = float(np.percentile(np.abs(np.concatenate([d.ravel() for d in result.detail.values()])), 99.5)) or 1.0
    panels = [
        (ir, "infrared", None), (result.base["ir"], "IR base  D1 L", None),
        (result.detail["ir"], "IR detail  D2 S", v), (result.fused_base, "fused base (weighted average)", None),
        (vi, "visible", None), (result.base["vi"], "VI base  D1 L", None),
        (result.detail["vi"], "VI detail  D2 S", v),
        (result.fused, f"fused (details from VI in {100 * result.choice_vi:.0f} % of patches)", None),
    ]
    for ax, (img, title, lim) in zip(axes.ravel(), panels, strict=True):
        if lim is None:
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(img, cmap="gray", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("llrr-classical: low-rank + sparse coding of both sources, averaged bases, choose-max details")
    return save_figure(fig, path)
