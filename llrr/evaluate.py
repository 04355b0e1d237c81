"""Evaluation of fusion methods on folders of image pairs: per-image metric scores, a mean table and a bar chart.

Files are paired by stem: ``ir/01.png``, ``vi/01.bmp`` and ``<method>/01.png`` are one image, ``01``. Every image of
the infrared folder needs a partner in the visible folder and in each method's folder, of the same size; the
visible folder must hold no image the infrared one lacks. Extra images in a method's folder are ignored (a method
may have been run on a larger set). All of this is checked before any metric is computed or any file written.

Example
-------
>>> import shutil, tempfile
>>> from llrr.io import demo_pair
>>> root = Path(tempfile.mkdtemp())
>>> for folder, source in zip(["ir", "vi"], demo_pair()):
...     (root / folder).mkdir()
...     _ = shutil.copy(source, root / folder / "demo.png")
>>> sources = {"ir itself": root / "ir", "vi itself": root / "vi"}  # each source scored as if it were a fusion
>>> result = evaluate(root / "ir", root / "vi", sources, metrics=["En", "SD", "Nabf"], progress=False)
>>> result.methods, result.images
(('ir itself', 'vi itself'), ('demo',))
>>> print(result.to_markdown())
| method | En ↑ | SD ↑ | Nabf ↓ |
|:---|---:|---:|---:|
| ir itself | 5.9305 | 18.2465 | **0.0000** |
| vi itself | **6.3317** | **25.2901** | **0.0000** |
>>> shutil.rmtree(root)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers._cpus import usable_cpus
from solvers._files import IMAGE_SUFFIXES, images_by_stem
from solvers._images import image_size

__all__ = ["IMAGE_SUFFIXES", "ImageSet", "EvaluationResult", "pair_images", "evaluate", "score_sets", "usable_cpus"]

_MAX_LISTED = 10  # problems listed in one error message before "... and N more"


@dataclass(frozen=True)
class ImageSet:
    """One image to score: its name (the file stem), the two sources and each method's fused result."""

    name: str
    ir: Path
    vi: Path
    fused: dict[str, Path]


def _check_dir(path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} directory not found: {path}")
    if not path.is_dir():
        raise ValueError(f"{what} must be a directory, got the file {path}")
    return path


def _index(folder: Path, what: str) -> dict[str, Path]:
    """Image files of ``folder`` by stem; two files with one stem (``01.png`` and ``01.bmp``) are an error."""
    return images_by_stem(folder, what)


def _listing(problems: list[str]) -> str:
    shown = problems[:_MAX_LISTED]
    more = len(problems) - len(shown)
    return "\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")


def pair_images(ir_dir, vi_dir, fused: Mapping[str, str | Path]) -> list[ImageSet]:
    """Match the files of the source folders and of each method's folder by stem, and check their sizes.

    Parameters
    ----------
    ir_dir, vi_dir : str or Path
        Folders of infrared and visible images (png, jpg, bmp or tif).
    fused : mapping of str to str or Path
        Method name -> folder of that method's fused images.

    Returns
    -------
    list of ImageSet
        One entry per infrared image, sorted by name.

    Raises
    ------
    FileNotFoundError
        A folder does not exist.
    ValueError
        A folder is empty of images, an image has no partner, or the partners differ in size; the message lists
        every such file (the first ten) with its size.
    """
    if not isinstance(fused, Mapping) or not fused:
        raise ValueError(f"fused must be a non-empty mapping of method name to folder, got {fused!r}")
    for name in fused:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"fused: method names must be non-empty strings, got {name!r}")
    ir_dir, vi_dir = _check_dir(ir_dir, "ir"), _check_dir(vi_dir, "vi")
    dirs = {name: _check_dir(folder, f"fused {name!r}") for name, folder in fused.items()}
    ir, vi = _index(ir_dir, "ir"), _index(vi_dir, "vi")
    if not ir:
        raise ValueError(f"ir directory {ir_dir} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    outputs = {name: _index(folder, f"fused {name!r}") for name, folder in dirs.items()}

    missing = [f"{ir[s]}: no partner in the vi directory {vi_dir}" for s in ir if s not in vi]
    missing += [f"{vi[s]}: in the vi directory but no partner in the ir directory {ir_dir}"
                for s in vi if s not in ir]
    missing += [f"{ir[s]}: no fused image of method {name!r} in {dirs[name]}"
                for name, found in outputs.items() for s in ir if s not in found]
    if missing:
        raise ValueError(f"{len(missing)} image(s) without a partner (files are paired by name):{_listing(missing)}")

    sets = [ImageSet(s, ir[s], vi[s], {name: found[s] for name, found in outputs.items()}) for s in sorted(ir)]
    mismatched = []
    for item in sets:
        w, h = image_size(item.ir)
        others = {"vi": item.vi, **{f"fused {name!r}": p for name, p in item.fused.items()}}
        for label, p in others.items():
            size = image_size(p)
            if size != (w, h):
                mismatched.append(f"{p} ({label}) is {size[0]}x{size[1]} but {item.ir} (ir) is {w}x{h}")
    if mismatched:
        raise ValueError(f"{len(mismatched)} image(s) of another size than their infrared source:"
                         f"{_listing(mismatched)}")
    return sets


def _check_metrics(profile: str, metrics: Iterable[str] | None) -> tuple[str, ...]:
    from .metrics import list_metrics

    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str, got {type(profile).__name__}")
    available = list_metrics(profile)  # raises on an unknown profile, listing the known ones
    if metrics is None:
        return tuple(available)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = tuple(dict.fromkeys(metrics))  # order kept, duplicates dropped
    unknown = [m for m in names if m not in available]
    if unknown or not names:
        raise ValueError(f"unknown metric(s) {unknown} for profile {profile!r}; available: {available}"
                         if unknown else f"metrics must name at least one metric; available: {available}")
    return names


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of each method on each image.

    Attributes
    ----------
    profile : str
        The metric profile used ("paper", "standard" or "vifb").
    metrics, methods, images : tuple of str
        Column, method and image names in their order of report.
    scores : dict
        ``scores[method][image][metric]`` -> float.
    """

    profile: str
    metrics: tuple[str, ...]
    methods: tuple[str, ...]
    images: tuple[str, ...]
    scores: dict[str, dict[str, dict[str, float]]]

    @property
    def rows(self) -> list[dict[str, str | float]]:
        """Per-image rows ``{"method": ..., "image": ..., <metric>: value, ...}``, method by method."""
        return [{"method": m, "image": i, **self.scores[m][i]} for m in self.methods for i in self.images]

    def means(self) -> dict[str, dict[str, float]]:
        """Mean of each metric over the images, per method: ``means()[method][metric]``.

        A NaN score (e.g. Qcb of a constant image) makes the mean NaN, except in the profiles of
        :data:`llrr.metrics.NAN_SKIPPING_PROFILES` ("vifb"), whose toolkit averages with ``nanmean``: there the mean
        is over the images with a number (NaN only when none has one). The per-image scores keep every NaN."""
        from .metrics import NAN_SKIPPING_PROFILES

        skip = self.profile in NAN_SKIPPING_PROFILES
        out = {}
        for m in self.methods:
            out[m] = {}
            for k in self.metrics:
                values = [self.scores[m][i][k] for i in self.images]
                if skip:
                    values = [v for v in values if not math.isnan(v)]
                out[m][k] = math.fsum(values) / len(values) if values else math.nan
        return out

    def higher_is_better(self) -> dict[str, bool]:
        """The direction of each metric, from the metric registry."""
        from .metrics import PROFILES

        return {k: PROFILES[self.profile][k].higher_is_better for k in self.metrics}

    def best(self) -> dict[str, list[str]]:
        """Per metric, the method(s) with the best mean (several on a tie; none where every mean is NaN)."""
        means, direction = self.means(), self.higher_is_better()
        out = {}
        for k in self.metrics:
            values = {m: means[m][k] for m in self.methods if not math.isnan(means[m][k])}
            top = (max if direction[k] else min)(values.values(), default=None)
            out[k] = [m for m, v in values.items() if v == top]
        return out

    def to_markdown(self, digits: int = 4) -> str:
        """The table of means as Markdown, the best value of each metric in bold; arrows give the direction."""
        means, best, direction = self.means(), self.best(), self.higher_is_better()
        head = ["method"] + [f"{k} {'↑' if direction[k] else '↓'}" for k in self.metrics]
        lines = ["| " + " | ".join(head) + " |", "|:---" + "|---:" * len(self.metrics) + "|"]
        for m in self.methods:
            cells = [f"**{means[m][k]:.{digits}f}**" if m in best[k] else f"{means[m][k]:.{digits}f}"
                     for k in self.metrics]
            lines.append("| " + " | ".join([m.replace("|", "\\|"), *cells]) + " |")
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """Write the per-image scores (columns method, image, one per metric; full precision) atomically."""
        from .io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["method", "image", *self.metrics])
            for row in self.rows:
                writer.writerow([row["method"], row["image"], *(repr(float(row[k])) for k in self.metrics)])
        return path

    def plot(self, path) -> Path:
        """Bar chart of the means, one panel per metric and one bar per method (best in a darker edge), atomically."""
        from matplotlib.figure import Figure

        from .io import save_figure

        means, best, direction = self.means(), self.best(), self.higher_is_better()
        n = len(self.metrics)
        rows = math.ceil(n / 4)
        cols = math.ceil(n / rows)
        width = max(2.2, 0.45 * len(self.methods) + 1.2)
        fig = Figure(figsize=(width * cols, 2.9 * rows + 0.4), constrained_layout=True)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        colours = [f"C{j % 10}" for j in range(len(self.methods))]
        for ax, k in zip(axes[:n], self.metrics, strict=True):
            values = [means[m][k] for m in self.methods]
            bars = ax.bar(range(len(values)), values, color=colours)
            ax.bar_label(bars, fmt="%.4g", fontsize=7)
            ax.margins(y=0.12)
            for bar, m in zip(bars, self.methods, strict=True):
                if m in best[k]:
                    bar.set_edgecolor("black")
                    bar.set_linewidth(2.0)
            ax.set_title(f"{k} ({'higher' if direction[k] else 'lower'} is better)", fontsize=9)
            ax.set_xticks(range(len(values)))
            ax.set_xticklabels(self.methods, rotation=45 if len(self.methods) > 3 else 0, ha="right"
                               if len(self.methods) > 3 else "center", fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.suptitle(f"mean over {len(self.images)} image(s), {self.profile} profile; black edge: best", fontsize=10)
        return save_figure(fig, path)


_MAX_WORKERS = 61  # ProcessPoolExecutor's limit on Windows; far more than scoring needs anywhere


def resolve_workers(workers: int | None, tasks: int) -> int:
    """The number of scoring processes: ``workers`` (None or 0: one per usable CPU, :func:`usable_cpus`, which
    honours affinity masks and container CPU quotas), never more than ``tasks`` or 61."""
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
            raise ValueError(f"workers must be a non-negative integer (0 or None: one per CPU), got {workers!r}")
        workers = int(workers)
    if not workers:
        workers = usable_cpus()
    return max(1, min(workers, tasks, _MAX_WORKERS))


def _score_set(item: ImageSet, methods: tuple[str, ...], profile: str, names: tuple[str, ...]):
    """All methods of one image: ``{method: {metric: value}}``. One image's methods go to one process, so the work
    on its two sources (pyramids, local moments, gradients; :func:`llrr.metrics._common.source_memo`) is done once."""
    from .metrics import compute

    out = {}
    for m in methods:
        values = compute(item.fused[m], item.ir, item.vi, profile=profile, metrics=names)
        out[m] = {k: float(values[k]) for k in names}
    return out


def _pixels(path: Path) -> int:
    h, w = image_size(path)
    return h * w


def _init_worker() -> None:
    """A scoring process uses one BLAS thread: the processes, not the threads, share the CPUs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def score_sets(sets: list[ImageSet], methods: tuple[str, ...], profile: str, names: tuple[str, ...], *,
               workers: int | None = 1, progress: bool = True, desc: str = "evaluate"):
    """``{method: {image: {metric: value}}}`` for every image set, in their order, on ``workers`` processes.

    With more than one worker the images are shared among fresh (spawned) Python processes, one image (all its
    methods) at a time; each value is computed exactly as in one process, so the result does not depend on
    ``workers``. A failure stops the run and is raised with its message (which names the file).
    """
    from tqdm.auto import tqdm

    workers = resolve_workers(workers, len(sets))
    per_set: dict[str, dict] = {}
    with tqdm(total=len(sets) * len(methods), desc=desc, unit="image", disable=not progress) as bar:
        if workers == 1:
            for item in sets:
                bar.set_postfix_str(item.name, refresh=False)
                per_set[item.name] = _score_set(item, methods, profile, names)
                bar.update(len(methods))
        else:
            import multiprocessing
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
            from concurrent.futures.process import BrokenProcessPool

            bar.set_postfix_str(f"{workers} processes", refresh=False)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker) as pool:
                # largest images first, so that no process is left with a big one at the end
                order = sorted(sets, key=lambda item: -_pixels(item.ir))
                futures = {pool.submit(_score_set, item, methods, profile, names): item for item in order}
                pending = set(futures)
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            per_set[futures[fut].name] = fut.result()  # raises the worker's exception
                            bar.update(len(methods))
                except BrokenProcessPool as exc:
                    raise RuntimeError(
                        f"a scoring process ended abruptly ({exc}): out of memory, killed, or started from a script "
                        "whose top level is not guarded by `if __name__ == \"__main__\":` (worker processes import "
                        "it again); use workers=1 to score in this process") from None
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    return {m: {item.name: per_set[item.name][m] for item in sets} for m in methods}


def evaluate(ir_dir, vi_dir, fused: Mapping[str, str | Path], *, profile: str = "paper",
             metrics: Iterable[str] | None = None, progress: bool = True,
             workers: int | None = 1) -> EvaluationResult:
    """Score each method's fused images against their infrared and visible sources.

    Parameters
    ----------
    ir_dir, vi_dir : str or Path
        Folders of infrared and visible images, paired by file stem (see :func:`pair_images`).
    fused : mapping of str to str or Path
        Method name -> folder of its fused images (e.g. the ``--out-dir`` of ``llrr fuse``).
    profile : {"paper", "standard", "vifb", "cddfuse"}
        Metric profile, see :mod:`llrr.metrics`.
    metrics : iterable of str, optional
        Metric names of the profile (default: all of them, as :func:`llrr.metrics.list_metrics` gives).
    progress : bool
        Show a tqdm progress bar over the (image, method) pairs.
    workers : int or None
        Processes that score the images side by side (:func:`score_sets`): 1 (default) scores in this process;
        None or 0 uses one per CPU. The scores do not depend on it. More than one starts fresh Python processes
        ("spawn"), so a script that calls this must guard its top level with ``if __name__ == "__main__":``.

    Returns
    -------
    EvaluationResult
        Per-image scores; ``means()``, ``to_markdown()``, ``to_csv(path)`` and ``plot(path)`` report them.

    Raises
    ------
    ValueError
        Unknown profile or metric (the message lists the available ones), missing partners or mis-sized images
        (the message names the files and sizes). Nothing is computed before all inputs are checked.
    """
    names = _check_metrics(profile, metrics)
    sets = pair_images(ir_dir, vi_dir, fused)
    methods = tuple(fused)
    resolve_workers(workers, 1)  # a bad value is an error before any work
    scores = score_sets(sets, methods, profile, names, workers=workers, progress=progress)
    return EvaluationResult(profile, names, methods, tuple(s.name for s in sets), scores)
