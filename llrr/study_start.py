"""Where an ``init = "algorithm1"`` run of the recipe study starts, and what each source contributes to a fused image:
scores of the Algorithm-1 initialisation for decoder mixes (:func:`mix_sweep`, :func:`mix_grid`) and the per-source
VIF of trained models (:func:`per_source_vif`) and of every validated step of a run (:func:`per_source_log`), all on
the validation pairs of a config (never a test set). ``python -m llrr.study`` runs them (``--mix-sweep``, ``--mixes``,
``--inspect``, ``--per-source``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

__all__ = ["MIX_KEYS", "PER_SOURCE_LOG", "merged_log", "mix_grid", "mix_sweep", "per_source_log", "per_source_vif",
           "seed_sweep", "source_gains"]

MIX_KEYS = ("low_ir", "low_vi", "sparse_ir", "sparse_vi")


def mix_sweep(config, shares, *, reference: dict[str, float] | None = None, progress: bool = True) -> list[dict]:
    """Validation scores of the Algorithm-1 initialisation of ``config`` for each visible share of the decoder.

    Parameters
    ----------
    config : TrainConfig
        With ``init = "algorithm1"`` and a validation split; the network is built as ``llrr train`` builds it (on the
        training split, seeded by ``config.seed``) once, then only its decoder weights change.
    shares : sequence of float in (0, 1]
        Visible weight ``s`` of both the base and the salient parts (infrared: ``1 - s``).
    reference : dict, optional
        Scores the goal criteria compare with; default the released checkpoint's on the same validation pairs
        (:func:`reference_validation`).

    Returns
    -------
    list of dict
        One row per share: ``share``, the paper-profile means, ``criteria`` (goal criteria met against the released
        checkpoint on the same pairs), and ``chosen`` (1 for the share the rule ``goal`` picks, ties to the lower
        share).
    """
    shares = [float(s) for s in shares]
    if not shares or any(not 0.0 < s <= 1.0 for s in shares):
        raise ValueError(f"shares must be numbers in (0, 1], got {shares}")
    shares = sorted(shares)
    rows = mix_grid(config, [((1.0 - s, s), (1.0 - s, s)) for s in shares], reference=reference, progress=progress)
    rows = [{"share": s, **{k: v for k, v in r.items() if k not in MIX_KEYS}}
            for s, r in zip(shares, rows, strict=True)]
    best = max(rows, key=lambda r: (r["criteria"], r["VIF"], -r["share"]))
    for r in rows:
        r["chosen"] = int(r is best)
    return rows


def mix_grid(config, mixes, *, reference: dict[str, float] | None = None, progress: bool = True) -> list[dict]:
    """Validation scores of the Algorithm-1 initialisation of ``config`` for each decoder mix of ``mixes``.

    Parameters
    ----------
    config : TrainConfig
        As for :func:`mix_sweep`.
    mixes : sequence of ((low_ir, low_vi), (sparse_ir, sparse_vi))
        Weights of the sources' base (low-rank) and salient (sparse) reconstructions in the fused image
        (:func:`unrolled.training.init.set_decoder_mix`).
    reference : dict, optional
        As for :func:`mix_sweep`.

    Returns
    -------
    list of dict
        One row per mix, in the given order: ``low_ir``, ``low_vi``, ``sparse_ir``, ``sparse_vi``, the paper-profile
        means (with ``VIF_ir`` and ``VIF_vi``) and ``criteria`` (goal criteria met against ``reference``).
    """
    from unrolled.training.data import PairDataset
    from unrolled.training.init import check_mix, set_decoder_mix
    from unrolled.training.loop import initial_model
    from unrolled.training.validation import split_pairs

    from .study import goal_met, reference_validation
    from .training import MetricValidator

    if config.init != "algorithm1" or config.val_fraction == 0:
        raise ValueError("mix_sweep needs a config with init = 'algorithm1' and val_fraction > 0")
    mixes = [(check_mix(low, "low"), check_mix(sparse, "sparse")) for low, sparse in mixes]
    if not mixes:
        raise ValueError("mixes is empty")
    full = PairDataset(config.data, min_size=config.crop, progress=progress)
    train_idx, val_idx = split_pairs(full.names(), config.val_fraction)
    validator = MetricValidator(full.subset(val_idx).images, profile="paper", per_source=True)
    reference = reference_validation(config) if reference is None else reference
    net = initial_model(config, full.subset(train_idx)).eval()
    rows = []
    for low, sparse in tqdm(mixes, desc="decoder mixes", disable=not progress):
        set_decoder_mix(net, low, sparse)
        scores = validator(net)
        rows.append({**dict(zip(MIX_KEYS, (*low, *sparse), strict=True)), **scores,
                     "criteria": sum(goal_met(scores, reference).values())})
    return rows


def seed_sweep(config, seeds, *, reference: dict[str, float] | None = None, progress: bool = True) -> list[dict]:
    """Validation scores of the initial network of ``config`` (as ``llrr train`` builds it: ``torch.manual_seed``, then
    :func:`unrolled.training.loop.initial_model`) for each seed of ``seeds``: the starting points a random-init run
    can be given, chosen on validation only.

    Returns one row per seed: ``seed``, the paper-profile means with ``VIF_ir`` and ``VIF_vi``, and ``criteria``
    (goal criteria met against ``reference``, default the released checkpoint on the same pairs).
    """
    from dataclasses import replace

    import torch

    from unrolled.training.data import PairDataset
    from unrolled.training.loop import initial_model
    from unrolled.training.validation import split_pairs

    from .study import goal_met, reference_validation
    from .training import MetricValidator

    if config.val_fraction == 0:
        raise ValueError("seed_sweep needs a config with val_fraction > 0")
    seeds = [int(s) for s in seeds]
    full = PairDataset(config.data, min_size=config.crop, progress=progress)
    train_idx, val_idx = split_pairs(full.names(), config.val_fraction)
    validator = MetricValidator(full.subset(val_idx).images, profile="paper", per_source=True)
    reference = reference_validation(config) if reference is None else reference
    rows = []
    for seed in tqdm(seeds, desc="seeds", disable=not progress):
        torch.manual_seed(seed)
        scores = validator(initial_model(replace(config, seed=seed), full.subset(train_idx)).eval())
        rows.append({"seed": seed, **scores, "criteria": sum(goal_met(scores, reference).values())})
    return rows


def per_source_vif(config, models: dict, *, figure=None, shown: int = 4, progress: bool = True) -> list[dict]:
    """Per-source VIF of each model on ``config``'s validation pairs, and optionally a figure of some of them.

    The paper profile's VIF averages ``vifvec(IR, F)`` and ``vifvec(VI, F)``, so an output that copies one source can
    score well; the two terms separately show what each source contributes.

    Parameters
    ----------
    config : TrainConfig
        Gives the validation split (never a test set).
    models : dict of label -> weights
        Registry names or checkpoint paths (the released checkpoint's file included).
    figure : path, optional
        PNG: rows = ``shown`` validation pairs (evenly spaced in the split), columns = IR, VI, each model's output.
    shown : int

    Returns
    -------
    list of dict
        One row per model: ``model``, ``VIF_ir``, ``VIF_vi`` (means over the validation pairs, Li's [0, 1] scale) and
        ``gain_ir``, ``gain_vi`` (means of :func:`source_gains`).
    """
    from unrolled import lrrnet
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs

    from .metrics.vif import vifvec
    from .training import MetricValidator

    data = PairDataset(config.data, min_size=config.crop, progress=False)
    val = data.subset(split_pairs(data.names(), config.val_fraction)[1])
    validator = MetricValidator(val.images, profile="paper")
    show = set(np.linspace(0, len(val.images) - 1, shown).round().astype(int).tolist()) if figure else set()
    rows, images = [], {}
    for label, weights in tqdm(models.items(), desc="per-source VIF", disable=not progress):
        net = lrrnet(weights=weights)
        terms = []
        for i, (ir, vi) in enumerate(validator.pairs):
            fused = validator.fuse(net, ir, vi)
            terms.append((vifvec(ir, fused, scale=1.0), vifvec(vi, fused, scale=1.0), *source_gains(ir, vi, fused)))
            if i in show:
                images[(i, label)] = fused
        rows.append({"model": label, **{k: float(np.mean([t[i] for t in terms]))
                                        for i, k in enumerate(("VIF_ir", "VIF_vi", "gain_ir", "gain_vi"))}})
    if figure:
        from matplotlib.figure import Figure

        from .io import save_figure

        cols = ["infrared", "visible", *models]
        fig = Figure(figsize=(2.6 * len(cols), 2.0 * len(show)), layout="constrained")
        axes = fig.subplots(len(show), len(cols), squeeze=False)
        for r, i in enumerate(sorted(show)):
            ir, vi = validator.pairs[i]
            for c, label in enumerate(cols):
                img = ir if c == 0 else vi if c == 1 else images[(i, label)]
                axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=255)
                axes[r, c].set_title(f"{val.names()[i]}: {label}", fontsize=8)
                axes[r, c].axis("off")
        save_figure(fig, figure)
    return rows




PER_SOURCE_LOG = "val_per_source.csv"


def per_source_log(config, *, progress: bool = True) -> list[dict]:
    """The per-source VIF terms of every validated step of a run whose ``val.csv`` predates them.

    Scores ``validated/step_NNNNNN.pt`` on the run's validation pairs exactly as validation does
    (:class:`llrr.training.MetricValidator`, ``per_source=True``) and writes ``step,VIF_ir,VIF_vi`` to
    ``PER_SOURCE_LOG`` in the run's folder, atomically; :func:`merged_log` joins it to ``val.csv``. Steps already in
    that file are not scored again.

    Returns
    -------
    list of dict
        ``step``, ``VIF_ir``, ``VIF_vi`` of every validated step, sorted by step.
    """
    import csv

    from unrolled import lrrnet
    from unrolled.training.data import PairDataset
    from unrolled.training.log import read_log
    from unrolled.training.loop import VALIDATED
    from unrolled.training.validation import split_pairs

    from .io import atomic_path
    from .study import TEST_SETS
    from .training import MetricValidator

    tests = {d.resolve() for d in TEST_SETS.values()}
    if any(Path(d).resolve() in tests for d in config.data):
        raise ValueError(f"{config.data} holds a test set: the study never scores or selects on tno21 or vifb")
    out = Path(config.out_dir)
    checkpoints = sorted((out / VALIDATED).glob("step_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"no validated checkpoints in {out / VALIDATED}: train the run with val_fraction > 0")
    known = {r["step"]: r for r in read_log(out / PER_SOURCE_LOG)} if (out / PER_SOURCE_LOG).is_file() else {}
    data = PairDataset(config.data, min_size=config.crop, progress=False)
    # the paper profile, as the released checkpoint's reference terms (llrr.study.reference_validation)
    validator = MetricValidator(data.subset(split_pairs(data.names(), config.val_fraction)[1]).images,
                                profile="paper", metrics=["VIF"], per_source=True)
    for path in tqdm(checkpoints, desc=f"per-source VIF of {out.name}", disable=not progress):
        step = int(path.stem.split("_")[1])
        if step not in known:
            scores = validator(lrrnet(weights=path).eval())
            known[step] = {"step": step, "VIF_ir": scores["VIF_ir"], "VIF_vi": scores["VIF_vi"]}
    rows = [known[s] for s in sorted(known)]
    with atomic_path(out / PER_SOURCE_LOG) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", "VIF_ir", "VIF_vi"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def merged_log(out_dir) -> list[dict]:
    """``val.csv`` of a run, with ``VIF_ir`` and ``VIF_vi`` from ``PER_SOURCE_LOG`` (:func:`per_source_log`) joined
    where ``val.csv`` lacks them (a step that file does not hold keeps no per-source columns)."""
    from unrolled.training.log import read_log
    from unrolled.training.loop import VAL_LOG

    out = Path(out_dir)
    rows = read_log(out / VAL_LOG)
    if (out / PER_SOURCE_LOG).is_file():
        extra = {r["step"]: r for r in read_log(out / PER_SOURCE_LOG)}
        rows = [{**extra[r["step"]], **r} if r["step"] in extra else r for r in rows]
    return rows


def source_gains(ir: np.ndarray, vi: np.ndarray, fused: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of the least-squares fit ``fused ~ a ir + b vi + c`` over the pixels: how much of each source a fused
    image holds, globally (a positive mix has both positive; the min-max scaling of the output makes ``a + b`` above
    1 when it stretches the mix).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ir, vi = rng.random((2, 16, 16))
    >>> [round(g, 6) for g in source_gains(ir, vi, 0.3 * ir + 0.9 * vi + 5)]
    [0.3, 0.9]
    """
    A = np.stack([np.ravel(ir), np.ravel(vi), np.ones(np.size(ir))], axis=1).astype(np.float64)
    coef = np.linalg.lstsq(A, np.ravel(fused).astype(np.float64), rcond=None)[0]
    return float(coef[0]), float(coef[1])


def plot_validation(runs: dict, reference: dict[str, float], path, *, selected: tuple[str, int] | None = None):
    """Validation ``VIF_ir`` and ``VIF_vi`` against the step of each run (``{label: val.csv rows}``, e.g. from
    :func:`merged_log`), the released checkpoint's values on the same pairs as dashed lines and ``selected``
    ``(label, step)`` marked; written atomically as PNG. Returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .io import save_figure

    fig = Figure(figsize=(11, 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.14, top=0.88, wspace=0.22)
    for ax, term in zip(axes, ("VIF_ir", "VIF_vi"), strict=True):
        for i, (label, rows) in enumerate(runs.items()):
            kept = [r for r in rows if term in r]
            ax.plot([r["step"] for r in kept], [r[term] for r in kept], "-o", ms=3, color=f"C{i}", label=label)
            if selected and selected[0] == label:
                hit = [r for r in kept if r["step"] == selected[1]]
                ax.plot([r["step"] for r in hit], [r[term] for r in hit], "*", ms=14, color=f"C{i}", mec="k")
        ax.axhline(reference[term], color="k", ls="--", lw=1, label="released checkpoint")
        ax.set_title(f"{term} on the validation pairs")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    return save_figure(fig, path)


def validation_curves(configs, rule: str, path) -> Path:
    """:func:`plot_validation` of the runs of ``configs`` (study config paths, already run, one validation split),
    the best step by ``rule`` across them marked (``python -m llrr.study CONFIGS --curves PNG``)."""
    from unrolled.training.config import TrainConfig
    from unrolled.training.loop import VAL_LOG

    from .study import TEST_SETS, reference_validation, rule_key, select_step

    loaded = {Path(p).stem: TrainConfig.from_toml(p) for p in configs}
    tests = {d.resolve() for d in TEST_SETS.values()}
    for name, config in loaded.items():
        if any(Path(d).resolve() in tests for d in config.data):
            raise ValueError(f"{name} trains on a test set ({config.data}): the study never trains or selects on them")
        if not (Path(config.out_dir) / VAL_LOG).is_file():
            raise FileNotFoundError(f"{Path(config.out_dir) / VAL_LOG} not found: run `llrr train` on {name} first")
    splits = {(c.data, c.val_fraction, c.crop) for c in loaded.values()}
    if len(splits) != 1:
        raise ValueError(f"the runs validate on different splits (data, val_fraction, crop: {sorted(splits)}): one "
                         "figure compares runs on one split only")
    reference = reference_validation(next(iter(loaded.values())))
    runs = {k: merged_log(c.out_dir) for k, c in loaded.items()}
    chosen = {k: select_step(rows, rule, reference) for k, rows in runs.items()}
    best = max(chosen, key=lambda k: rule_key(chosen[k], rule, reference))
    return plot_validation(runs, reference, path, selected=(best, chosen[best]["step"]))
