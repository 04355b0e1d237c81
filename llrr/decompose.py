"""Low-rank + sparse decomposition of one grey image on patches, by Algorithm 1 and by FISTA, with a figure.

This is the classical half of the library applied to a picture: the image is cut into overlapping patches
(:func:`solvers.extract_patches`), each patch is coded on a base dictionary D1 and a salient dictionary D2, and the two
parts D1 L and D2 S are folded back into images (overlaps averaged). Algorithm 1 is the paper's iteration (an l1
penalty on both blocks); FISTA minimises the nuclear-norm model of Eq. 2/5 with the same dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solvers import FISTA, Algorithm1, LowRankSparseProblem, SolverResult, extract_patches, fold_patches
from solvers.dictionary import dct_atoms

from .io import save_figure

__all__ = ["DecompositionConfig", "Decomposition", "decompose", "plot_decomposition"]


@dataclass(frozen=True)
class DecompositionConfig:
    """Parameters of :func:`decompose` (the defaults are those of ``make run``).

    The image is scaled to [0, 1]; D1 holds the ``n_low`` lowest-frequency atoms of the overcomplete 2-D DCT of
    ``size x size`` patches (:func:`solvers.dictionary.dct_atoms`) and D2 the next ``n_sparse`` (with an orthonormal
    dictionary every solver would finish in one step).
    """

    size: int = 8
    stride: int = 3
    n_low: int = 8
    n_sparse: int = 120
    lam1: float = 0.02
    lam2: float = 0.02
    lam3: float = 0.0
    algorithm1_iter: int = 400
    fista_iter: int = 400


@dataclass
class Decomposition:
    """Both solvers' results and the folded images (each (H, W), same scale as the input image)."""

    image: np.ndarray
    config: DecompositionConfig
    results: dict[str, SolverResult] = field(default_factory=dict)
    low_rank: dict[str, np.ndarray] = field(default_factory=dict)
    sparse: dict[str, np.ndarray] = field(default_factory=dict)


def decompose(image: np.ndarray, config: DecompositionConfig = DecompositionConfig(), *,
              progress: bool = True) -> Decomposition:
    """Decompose ``image`` into low-rank (base) and sparse (salient) parts with Algorithm 1 and FISTA.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Grey image (any real range; it is min-max scaled to [0, 1] for coding and scaled back).
    config : DecompositionConfig
    progress : bool
        Show a tqdm bar per solver.

    Returns
    -------
    Decomposition
    """
    from tqdm.auto import tqdm

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be a 2-D grey array, got shape {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError("image contains non-finite values")
    lo, hi = float(img.min()), float(img.max())
    scale = hi - lo if hi > lo else 1.0
    X = extract_patches((img - lo) / scale, config.size, config.stride)
    D = dct_atoms(config.size * config.size, config.n_low + config.n_sparse)
    problem = LowRankSparseProblem(D[:, : config.n_low], D[:, config.n_low :], lam1=config.lam1, lam2=config.lam2,
                                   lam3=config.lam3)
    out = Decomposition(image=img, config=config)
    runs = {
        "Algorithm 1": Algorithm1(X, problem, max_iter=config.algorithm1_iter, tol=0),
        "FISTA (nuclear norm)": FISTA(X, problem, max_iter=config.fista_iter, tol=0),
    }
    for name, solver in runs.items():
        bar = tqdm(total=solver.max_iter, desc=name, disable=not progress, leave=False)
        res = solver.solve(callback=lambda s, bar=bar: bar.update(1) and False)  # tqdm's update may return True
        bar.close()
        out.results[name] = res
        fold = lambda P: fold_patches(P, img.shape, config.size, config.stride)  # noqa: E731
        out.low_rank[name] = fold(res.low_rank) * scale + lo
        out.sparse[name] = fold(res.sparse) * scale
    return out


def plot_decomposition(dec: Decomposition, path) -> Path:
    """Figure: per solver a row source | D1 L | D2 S, and the objective curves; written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dec.results)
    fig = plt.figure(figsize=(11, 3.4 * len(names) + 3.2), constrained_layout=True)
    grid = fig.add_gridspec(len(names) + 1, 3, height_ratios=[1] * len(names) + [0.9])
    for r, name in enumerate(names):
        panels = [(dec.image, "source"), (dec.low_rank[name], "low-rank part  D1 L"),
                  (dec.sparse[name], "sparse part  D2 S")]
        for c, (im, title) in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            if c == 2:
                v = float(np.percentile(np.abs(im), 99.5)) or 1.0
                ax.imshow(im, cmap="gray", vmin=-v, vmax=v)
            else:
                ax.imshow(im, cmap="gray")
            ax.set_title(f"{name}: {title}" if c else f"{name}: {title}", fontsize=9)
            ax.axis("off")
    titles = {"Algorithm 1": "Algorithm 1: its objective G (l1 on L and S)",
              "FISTA (nuclear norm)": "FISTA: Eq. 2/5 coding objective F (nuclear norm on L)"}
    for c, (name, res) in enumerate(dec.results.items()):
        ax = fig.add_subplot(grid[len(names), c])
        obj = res.history["objective"]
        ax.semilogy(np.arange(1, obj.size + 1), obj)
        ax.set_xlabel("iteration")
        ax.set_ylabel("objective")
        ax.set_title(titles.get(name, name), fontsize=9)
    ax = fig.add_subplot(grid[len(names), len(dec.results)])
    for name, res in dec.results.items():
        ax.plot(res.history["time"], res.history["objective"] / res.history["objective"][0], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("objective / first value")
    ax.set_title("against time", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)
