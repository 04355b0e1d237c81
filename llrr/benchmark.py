"""``llrr benchmark``: every fusion method on every dataset, scored by every metric profile, into one folder.

A dataset is a folder with ``ir/`` and ``vi/`` images paired by file stem (``llrr.evaluate.pair_images``); a name
that is not a folder means ``../shared/data/<name>`` (``tno21``, ``vifb``). Stored outputs of other methods, such
as VIFB's ``fused/<method>/``, are scored as extra methods (``stored=``: folder names under ``<dataset>/fused``, or
``"all"``). For each dataset the run

1. checks everything before writing anything: the pairs (a missing partner is an error naming the file), every
   stored output (missing or of another size than its infrared source: an error naming the file), the methods and
   profiles, that every method takes its options and every profile can score the smallest pair, and that the
   output folder can be written;
2. fuses every pair with each method into ``OUT/<dataset>/fused/<method>/<pair>.png`` (atomically; a rerun reuses
   the images already there, provided they were made with the same method options, recorded in
   ``OUT/<dataset>/fused/<method>/llrr-benchmark.json``), with one tqdm bar for the whole run;
3. scores our outputs and the stored ones with each profile (:func:`llrr.evaluate.evaluate`): per-image scores in
   ``OUT/<dataset>/<profile>.csv`` and a chart ``OUT/<dataset>/<profile>.png``;

then writes ``OUT/leaderboard.md``: per dataset and profile the mean of every metric for every method, the best in
bold (direction from the metric registry), and the seconds per pair of each method fused in this run beside the
matrix-multiply speed of the same run (sgemm GFLOP/s), so that timings carry over between machines as ratios.

Colour (``colour=``): "luminance" fuses the luminance of a colour visible image (``llrr.fuse``'s default);
"channels" fuses each RGB channel, as VIFB runs every method, so that our outputs compare with its stored ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from solvers._files import SHARED
from solvers._linalg import sgemm_gflops  # the one machine-speed probe (benchmarks/report.py uses it too)

__all__ = ["BenchmarkResult", "benchmark", "resolve_dataset", "sgemm_gflops"]

MANIFEST = "llrr-benchmark.json"


def resolve_dataset(name_or_path) -> tuple[str, Path]:
    """``(name, folder)`` of a dataset: an existing folder, or a name under ``../shared/data``."""
    p = Path(name_or_path)
    folder = p.resolve() if p.is_dir() else SHARED / "data" / str(name_or_path)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset {name_or_path!r} not found: neither a folder nor {folder}")
    for sub in ("ir", "vi"):
        if not (folder / sub).is_dir():
            raise FileNotFoundError(f"dataset {name_or_path!r}: {folder / sub} not found (a dataset holds ir/ and vi/)")
    return (folder.name if p.is_dir() else str(name_or_path)), folder


@dataclass
class BenchmarkResult:
    """What :func:`benchmark` returns: ``results[dataset][profile]`` (:class:`llrr.evaluate.EvaluationResult`),
    ``seconds[dataset][method]`` (mean seconds per pair fused in this run; absent when every image was reused),
    ``score_seconds[dataset][profile]`` (seconds to score every method's images with that profile, files read included),
    ``sgemm`` (GFLOP/s of this run), ``workers`` (scoring processes), ``reused`` (images found in place) and
    ``written``, and the output paths."""

    results: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    score_seconds: dict = field(default_factory=dict)
    sgemm: float = 0.0
    workers: int = 1
    reused: int = 0
    written: int = 0
    leaderboard: Path | None = None


def _stored(folder: Path, stored: Sequence[str]) -> dict[str, Path]:
    if not stored:
        return {}
    root = folder / "fused"
    if "all" in stored:  # every stored output there is (none for a dataset without fused/)
        return {p.name: p for p in sorted(root.iterdir()) if p.is_dir()} if root.is_dir() else {}
    missing = [str(root / s) for s in stored if not (root / s).is_dir()]
    if missing:
        raise FileNotFoundError(f"stored output folder(s) not found: {missing}")
    return {s: root / s for s in stored}


def _manifest(method: str, options: dict, colour: str) -> dict:
    """What made a method's outputs: its options with the defaults filled in, the colour mode and, for LRRNet, the
    sha256 of the weights a registry name resolves to (a changed default or re-pointed name is a change)."""
    import inspect

    from .methods import get_method

    func = get_method(method).func
    full = {k: v.default for k, v in inspect.signature(func).parameters.items()
            if v.kind is inspect.Parameter.KEYWORD_ONLY and k != "progress"} | dict(options)
    if method == "lrrnet" and isinstance(full.get("weights"), str) and not Path(full["weights"]).is_file():
        from unrolled.weights import WEIGHTS

        entry = WEIGHTS.get(full["weights"])
        full["weights_sha256"] = entry.sha256 if entry is not None else None
    return {"method": method, "options": {k: str(v) for k, v in sorted(full.items())}, "colour": colour}


def benchmark(datasets: Iterable, out_dir, *, methods: Sequence[str] = ("all",), stored: Sequence[str] = (),
              profiles: Sequence[str] = ("paper",), colour: str = "luminance",
              options: Mapping[str, Mapping] | None = None, progress: bool = True,
              command: str | None = None, workers: int | None = 1, dist=None) -> BenchmarkResult | None:
    """Run the benchmark (module docstring).

    Parameters
    ----------
    datasets : iterable of str or path
        Dataset folders or names under ``../shared/data``.
    out_dir : path
        Output folder (created).
    methods : sequence of str
        Registered method names, or ``("all",)`` for every one (:func:`llrr.list_methods`); ``()`` for none (score
        stored outputs only).
    stored : sequence of str
        Stored output folders under ``<dataset>/fused`` to score as methods, or ``("all",)``.
    profiles : sequence of str
        Metric profiles (:data:`llrr.metrics.PROFILES`).
    colour : {"luminance", "channels"}
    options : mapping, optional
        Per method, its options for :func:`llrr.fuse` (e.g. ``{"lrrnet": {"weights": "loss1000"}}``).
    progress : bool
    command : str, optional
        The command line, recorded in the leaderboard.
    workers : int or None
        Processes that score the images side by side (:func:`llrr.evaluate.evaluate`): 1 (default) scores in this
        process, None or 0 one per CPU. The scores do not depend on it.
    dist : unrolled.distributed.Dist, optional
        This process's place among the processes of a torchrun job (``llrr benchmark`` under torchrun). Each
        process fuses every ``world``-th image of the run (dataset by dataset, method by method), then rank 0 gathers
        the counts and times, scores, writes the CSVs, charts and leaderboard and returns the result; the other
        processes return None. Default: one process.
    """
    from tqdm.auto import tqdm

    from solvers._images import image_size

    from .evaluate import pair_images, resolve_workers

    resolve_workers(workers, 1)  # a bad value is an error before anything is done
    from .fuse_files import fuse_pair
    from .io import atomic_path
    from .methods import list_methods
    from .metrics import PROFILES

    known = list_methods()
    methods = known if "all" in methods else list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; registered: {known}")
    bad = [p for p in profiles if p not in PROFILES]
    if bad or not profiles:
        raise ValueError(f"unknown profile(s) {bad}; available: {list(PROFILES)}" if bad else "no profile given")
    if colour not in ("luminance", "channels"):
        raise ValueError(f"colour must be 'luminance' or 'channels', got {colour!r}")
    from .methods import get_method

    options = {m: dict((options or {}).get(m, {})) for m in methods}
    for m in methods:
        wrong = sorted(set(options[m]) - set(get_method(m).options))
        if wrong:
            raise ValueError(f"method {m!r} does not take option(s) {wrong}; its options: {get_method(m).options}")
    # 1. every check before anything is written
    plan = []
    for d in datasets:
        name, folder = resolve_dataset(d)
        if any(name == other for other, *_ in plan):
            raise ValueError(f"two datasets are named {name!r} (the folder's name): their outputs would collide")
        extra = _stored(folder, stored)
        sets = pair_images(folder / "ir", folder / "vi", extra or {"(visible)": folder / "vi"})
        clash = sorted(set(extra) & set(methods))
        if clash:
            raise ValueError(f"{folder}: stored outputs {clash} have the names of registered methods; rename them")
        smallest = min(sets, key=lambda item: image_size(item.ir)[0] * image_size(item.ir)[1])
        w, h = image_size(smallest.ir)
        small = [m for m in methods if min(w, h) < get_method(m).min_size]
        if small:
            raise ValueError(f"{smallest.ir} is {w}x{h}: method(s) {small} need at least "
                             f"{max(get_method(m).min_size for m in small)} pixels a side")
        _check_scorable(smallest, profiles)
        plan.append((name, folder, extra, sets))
    if not plan:
        raise ValueError("no dataset given")
    out = Path(out_dir)
    for name, _, _, _ in plan:
        for m in methods:
            side = out / name / "fused" / m / MANIFEST
            want = _manifest(m, options[m], colour)
            if side.is_file() and json.loads(side.read_text()) != want:
                raise ValueError(f"{side.parent} holds outputs made with other settings ({side.read_text().strip()}"
                                 f"; now {json.dumps(want)}): remove it or choose another output folder")
    from ._dist import Alone
    from .fuse_files import _check_writable

    dist = Alone() if dist is None else dist
    progress = progress and dist.main
    dist.barrier()  # every process has checked the output folder before rank 0 writes into it
    if dist.main:
        _check_writable(out)
        for name, _, _, _ in plan:
            for m in methods:
                target = out / name / "fused" / m
                target.mkdir(parents=True, exist_ok=True)
                side = target / MANIFEST
                if not side.is_file():
                    with atomic_path(side) as tmp:
                        tmp.write_text(json.dumps(_manifest(m, options[m], colour)) + "\n")
    dist.barrier()
    # 2. fuse: every world-th image of the run to this process (all of them in one process)
    jobs = [(name, m, item) for name, _, _, sets in plan for m in methods for item in sets][dist.rank::dist.world]
    spent: dict = {}  # (dataset, method) -> [seconds, images fused]
    written = reused = 0
    with tqdm(total=len(jobs), desc="benchmark: fusing", unit="image", disable=not progress) as bar:
        for name, m, item in jobs:
            bar.set_postfix_str(f"{name} / {m} / {item.name}", refresh=False)
            dest = out / name / "fused" / m / f"{item.name}.png"
            if dest.is_file() and image_size(dest) == image_size(item.ir):
                reused += 1
            else:
                t = time.perf_counter()
                fuse_pair(item.ir, item.vi, dest, method=m, colour=colour, **options[m])
                seconds = spent.setdefault((name, m), [0.0, 0])
                seconds[0] += time.perf_counter() - t
                seconds[1] += 1
                written += 1
            bar.update()
    parts = dist.gather((written, reused, spent))
    if not dist.main:
        return None
    most = max(len(sets) for *_, sets in plan)  # the scoring processes: no more than a dataset's pairs
    res = BenchmarkResult(sgemm=sgemm_gflops(), workers=resolve_workers(workers, most))  # the others are done
    merged: dict = {}
    for w, r, sp in parts:
        res.written += w
        res.reused += r
        for key, (sec, n) in sp.items():
            total = merged.setdefault(key, [0.0, 0])
            total[0] += sec
            total[1] += n
    for name, _, _, _ in plan:
        res.seconds[name] = {m: merged[(name, m)][0] / merged[(name, m)][1] for m in methods if (name, m) in merged}
    # 3. score
    for name, folder, extra, _ in plan:
        fused = {m: out / name / "fused" / m for m in methods} | extra
        res.results[name], res.score_seconds[name] = {}, {}
        for p in profiles:
            t = time.perf_counter()
            ev = _evaluate(folder, fused, p, progress, workers)
            res.score_seconds[name][p] = time.perf_counter() - t
            ev.to_csv(out / name / f"{p}.csv")
            ev.plot(out / name / f"{p}.png")
            res.results[name][p] = ev
    res.leaderboard = out / "leaderboard.md"
    with atomic_path(res.leaderboard) as tmp:
        tmp.write_text(render(res, command=command))
    return res


def _check_scorable(item, profiles) -> None:
    """Score the infrared image as if it were a fusion of its pair, once per profile: a pair too small for a metric
    (VIF needs 72 pixels a side, ...) fails here, before anything is fused or written."""
    from .metrics import compute

    for p in profiles:
        try:
            compute(item.ir, item.ir, item.vi, profile=p)
        except ValueError as exc:
            raise ValueError(f"{item.ir}: the {p} profile cannot score this pair: {exc}") from None


def _evaluate(folder: Path, fused: dict, profile: str, progress: bool, workers: int = 1):
    from .evaluate import evaluate

    return evaluate(folder / "ir", folder / "vi", fused, profile=profile, progress=progress, workers=workers)


def render(res: BenchmarkResult, *, command: str | None = None) -> str:
    """The leaderboard as Markdown (module docstring)."""
    lines = ["# Benchmark leaderboard", ""]
    if command:
        lines += ["Made by", "", f"    {command}", ""]
    lines += [f"Means over each dataset's pairs; the best value of each metric in **bold** (arrows: the direction). "
              f"This run's float32 matrix product: {res.sgemm:.0f} GFLOP/s.", ""]
    for name, by_profile in res.results.items():
        lines += [f"## {name}", ""]
        for profile, ev in by_profile.items():
            lines += [f"### {profile} profile ({len(ev.images)} pairs)", "", ev.to_markdown(), ""]
        if res.score_seconds.get(name):
            n = len(next(iter(by_profile.values())).methods) * len(next(iter(by_profile.values())).images)
            procs = f"{res.workers} processes" if res.workers > 1 else "one process"
            lines += [f"Seconds to score the {n} fused images (files read included; {procs}), by profile: "
                      + ", ".join(f"{p} {s:.0f}" for p, s in res.score_seconds[name].items()), ""]
        if res.seconds.get(name):
            lines += ["Seconds per pair, fused in this run (sgemm "
                      f"{res.sgemm:.0f} GFLOP/s): "
                      + ", ".join(f"{m} {s:.2f}" for m, s in res.seconds[name].items()), ""]
    return "\n".join(lines)
