"""The recipe study of LRRNet training: pick each run's checkpoint on validation scores only, then score it on the
test sets (``python -m llrr.study RUN_CONFIG.toml ... --out FILE.md``).

A run is a training config with a validation split (``configs/study/*.toml``); its ``val.csv`` and
``validated/step_NNNNNN.pt`` (:mod:`unrolled.training.loop`) hold the scores and weights of every validated step. A
selection rule picks one step from ``val.csv`` alone (:func:`select_step`):

* ``"metric:NAME"``: the best value of one score (direction from the metric registry; ``val_*`` losses: lower);
* ``"goal"``: the step meeting the most of the goal's criteria against the released checkpoint on the same
  validation pairs (En, SD, MI, VIF at least its values, Nabf at most its value + 0.02; where ``val.csv`` records
  them, also each source's VIF term ``VIF_ir`` and ``VIF_vi``: the paper's VIF averages the two, so an output that
  copies the visible image can beat the released checkpoint on all five without fusing), ties broken by VIF.

The starting point of ``init = "algorithm1"`` runs can be chosen the same way (:mod:`llrr.study_start`:
``python -m llrr.study --mix-sweep CONFIG --shares 0.5 0.6 ... --out FILE.csv``): the network initialised as
Algorithm 1 on the config's training split, its decoder weighing the visible parts by each share ``s`` and the
infrared parts by ``1 - s``, scored on the validation split; the rule ``goal`` picks the share. ``--mixes`` scores
any weights of the base and salient parts the same way.

Only then is the chosen checkpoint scored on the test sets, tno21 (grey) and vifb (colour visible images, fused on
their luminance as ``llrr fuse`` does, scored on the luminance), paper profile. Nothing on a test set feeds back into
a choice.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from solvers._files import SHARED

from .study_start import mix_grid, mix_sweep, per_source_vif, seed_sweep

__all__ = ["GOAL_HIGHER", "NABF_SLACK", "main", "mix_grid", "mix_sweep", "per_source_vif", "reference_validation",
           "score_folder", "seed_sweep", "select_step", "ship", "study"]

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = SHARED / "weights" / "lrrnet_official_tno_block4.model"
TEST_SETS = {"tno21": SHARED / "data" / "tno21", "vifb": SHARED / "data" / "vifb"}
GOAL_HIGHER = ("En", "SD", "MI", "VIF")
NABF_SLACK = 0.02
PER_SOURCE = ("VIF_ir", "VIF_vi")
PAPER = ("En", "SD", "MI", "SSIM", "VIF", "Nabf")


def goal_met(scores: dict[str, float], reference: dict[str, float]) -> dict[str, bool]:
    """Each criterion of the goal: En, SD, MI, VIF at least the reference's, Nabf at most its value + 0.02; and, where
    both record them, each source's VIF term (``VIF_ir``, ``VIF_vi``) at least the reference's (the output fuses: it
    does not copy one source)."""
    met = {m: scores[m] >= reference[m] for m in GOAL_HIGHER}
    met["Nabf"] = scores["Nabf"] <= reference["Nabf"] + NABF_SLACK
    met.update({m: scores[m] >= reference[m] for m in PER_SOURCE if m in scores and m in reference})
    return met


def select_step(rows: list[dict], rule: str, reference: dict[str, float] | None = None) -> dict:
    """The row of ``val.csv`` that ``rule`` picks (module docstring); ties go to the earlier step.

    Examples
    --------
    >>> rows = [{"step": 100, "VIF": 0.5, "Nabf": 0.2}, {"step": 200, "VIF": 0.6, "Nabf": 0.3}]
    >>> select_step(rows, "metric:VIF")["step"], select_step(rows, "metric:Nabf")["step"]
    (200, 100)
    """
    from .metrics import PROFILES

    rows = [r for r in rows if all(np.isfinite(v) for k, v in r.items() if k != "step")]
    if not rows:
        raise ValueError("the run has no validation rows with finite scores (val.csv): train it with "
                         "val_fraction > 0")
    if rule == "goal":
        if reference is None:
            raise ValueError("the rule 'goal' needs the released checkpoint's validation scores (reference=)")
        return max(rows, key=lambda r: (sum(goal_met(r, reference).values()), r["VIF"], -r["step"]))
    if not rule.startswith("metric:"):
        raise ValueError(f"rule must be 'goal' or 'metric:NAME', got {rule!r}")
    name = rule.split(":", 1)[1]
    if name not in rows[0]:
        raise ValueError(f"{name!r} is not a column of val.csv; columns: {sorted(rows[0])}")
    metric = PROFILES["standard"].get(name) or PROFILES["paper"].get(name)
    if metric is None and not name.startswith("val_"):
        raise ValueError(f"the direction of {name!r} is unknown: select on a metric or a val_* loss")
    higher = metric is not None and metric.higher_is_better
    sign = 1.0 if higher else -1.0
    return max(rows, key=lambda r: (sign * r[name], -r["step"]))


def _pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    from unrolled.training.data import find_pairs

    return [(p.name, p.ir, p.vi) for p in find_pairs(folder)]


def score_folder(weights, folder: Path, *, progress: bool = True) -> dict[str, dict[str, float]]:
    """Per-pair paper-profile scores of ``llrr.fuse(ir, vi, method="lrrnet", weights=weights)`` on a test folder."""

    from .fuse import fuse
    from .io import read_image
    from .metrics import compute

    out = {}
    for name, ir_path, vi_path in tqdm(_pairs(folder), desc=f"scoring {folder.name}", disable=not progress):
        ir, vi = read_image(ir_path), read_image(vi_path)
        out[name] = compute(fuse(ir, vi, method="lrrnet", weights=weights), ir, vi, profile="paper")
    return out


def means(per_pair: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: float(np.mean([s[m] for s in per_pair.values()])) for m in PAPER}


def reference_validation(config) -> dict[str, float]:
    """The released checkpoint's paper-profile means on ``config``'s validation split (fused as in training)."""
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs
    from unrolled.weights import load_official_checkpoint

    from .training import MetricValidator

    data = PairDataset(config.data, min_size=config.crop)
    _, val = split_pairs(data.names(), config.val_fraction)
    return MetricValidator(data.subset(val).images, profile="paper", per_source=True)(
        load_official_checkpoint(OFFICIAL))


def study(configs: list[Path], rule: str, *, progress: bool = True) -> dict:
    """Selected step, validation scores and test-set means of each run, and the released checkpoint's."""
    from unrolled.training.config import TrainConfig
    from unrolled.training.log import read_log
    from unrolled.training.loop import VAL_LOG, VALIDATED

    runs, references = {}, {}
    tests = {d.resolve() for d in TEST_SETS.values()}
    for path in configs:
        config = TrainConfig.from_toml(path)
        out = Path(config.out_dir)
        leaked = [d for d in config.data if Path(d).resolve() in tests]
        if leaked:
            raise ValueError(f"{path} trains on a test set ({leaked}): the study never trains or selects on them")
        if not (out / VAL_LOG).is_file():
            raise FileNotFoundError(f"{out / VAL_LOG} not found: run `llrr train --config {path}` first")
        key = (config.data, config.val_fraction, config.crop)
        if key not in references:
            references[key] = reference_validation(config)
        reference = references[key]
        rows = read_log(out / VAL_LOG)
        row = select_step(rows, rule, reference)
        weights = out / VALIDATED / f"step_{row['step']:06d}.pt"
        scores = {k: means(score_folder(weights, d, progress=progress)) for k, d in TEST_SETS.items()}
        runs[Path(path).stem] = {"config": str(path), "steps": rows[-1]["step"], "row": row, "tests": scores,
                                 "reference": reference}
    released = {k: means(score_folder(OFFICIAL, d, progress=progress)) for k, d in TEST_SETS.items()}
    return {"rule": rule, "runs": runs, "released": {"validation": reference, "tests": released}}


def ship(config, step: int, dest, *, rule: str = "goal", reference: dict[str, float] | None = None) -> Path:
    """Write a run's validated checkpoint ``step`` as shipped weights: ``dest`` (float32 state dict) and its sidecar
    ``dest.with_suffix(".json")`` (config, data, steps, validation scores, the released checkpoint's on the same pairs,
    the selection rule), both atomically; returns ``dest``.

    Parameters
    ----------
    config : TrainConfig
        The run's config (its ``out_dir`` holds ``val.csv`` and ``validated/``).
    step : int
        A validated step (a row of ``val.csv``).
    dest : path
        Where the weights go, e.g. ``unrolled/weights_data/lrrnet_default.pt``.
    rule : str
        The selection rule that chose ``step`` (recorded).
    reference : dict, optional
        The released checkpoint's validation scores (recorded); default :func:`reference_validation`.
    """
    import json

    import torch

    from unrolled._atomic import atomic_torch_save, atomic_write_text, safe_torch_load, sha256_file
    from unrolled.training.log import read_log
    from unrolled.training.loop import VAL_LOG, VALIDATED

    out, dest = Path(config.out_dir), Path(dest)
    rows = {r["step"]: r for r in read_log(out / VAL_LOG)}
    if step not in rows:
        raise ValueError(f"step {step} was not validated in {out / VAL_LOG}; validated steps: {sorted(rows)}")
    state = safe_torch_load(out / VALIDATED / f"step_{step:06d}.pt")
    state = {k: v.to(torch.float32).contiguous() for k, v in state.items()}
    reference = reference_validation(config) if reference is None else reference  # all that can fail, before writing
    val_names = _validation_names(config)
    atomic_torch_save(state, dest)
    sidecar = {
        "format": "llrr-lrrnet-weights", "file": dest.name, "sha256": sha256_file(dest),
        "architecture": dict(config.to_dict()["model"]), "parameters": sum(v.numel() for v in state.values()),
        "steps": step, "run": str(out), "selection": {"rule": rule, "on": f"validation split ({len(val_names)} pairs)"},
        "data": {"dirs": list(config.data), "val_fraction": config.val_fraction, "val_pairs": val_names},
        "validation": {k: v for k, v in rows[step].items() if k != "step"},
        "released_checkpoint_validation": reference, "train_config": config.to_dict(),
    }
    atomic_write_text(dest.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return dest


def _validation_names(config) -> list[str]:
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs

    names = PairDataset(config.data, min_size=config.crop, progress=False).names()
    return [names[i] for i in split_pairs(names, config.val_fraction)[1]]


def render(res: dict) -> str:
    """A Markdown table: each run's selected step and its paper-profile means on validation, tno21 and vifb."""
    head = ["run", "steps", "selected step"] + [f"{s} {m}" for s in ("val", "tno21", "vifb") for m in
                                                   ("En", "SD", "MI", "VIF", "Nabf")]
    lines = [f"Selection rule: `{res['rule']}` on validation scores only (`python -m llrr.study`).", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    ref = res["released"]
    for name, r in [*res["runs"].items(), ("released checkpoint", None)]:
        scores = [r["row"] if r else ref["validation"], *(r["tests"] if r else ref["tests"]).values()]
        cells = [f"{s[m]:.4g}" for s in scores for m in ("En", "SD", "MI", "VIF", "Nabf")]
        lines.append("| " + " | ".join([name, str(r["steps"]) if r else "", str(r["row"]["step"]) if r else ""]
                                       + cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    from .io import atomic_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="+", type=Path, help="study run configs (configs/study/*.toml), already run; "
                    "with --mix-sweep: one config with init = 'algorithm1'")
    ap.add_argument("--mix-sweep", action="store_true", help="score the Algorithm-1 initialisation's decoder shares "
                    "on validation (mix_sweep) and write a CSV")
    ap.add_argument("--ship", type=Path, metavar="DEST.pt", help="write the selected step of the one config given "
                    "(--rule) as shipped weights DEST.pt + DEST.json (ship), instead of the table")
    ap.add_argument("--inspect", nargs="+", metavar="LABEL=WEIGHTS", help="per-source VIF of these models on the "
                    "validation pairs of the one config given (per_source_vif; --figure draws some of them), as CSV")
    ap.add_argument("--figure", type=Path, help="with --inspect: PNG of validation pairs fused by each model")
    ap.add_argument("--shares", nargs="+", type=float, default=[0.5, 0.6, 0.7, 0.8, 0.9],
                    help="visible shares for --mix-sweep (default: %(default)s)")
    ap.add_argument("--seeds", nargs="+", type=int, help="score the initial network of the one config given for each "
                    "of these seeds on validation (seed_sweep) and write a CSV")
    ap.add_argument("--mixes", nargs="+", metavar="LOW_IR,LOW_VI,SPARSE_IR,SPARSE_VI", help="score the Algorithm-1 "
                    "initialisation with these decoder weights on validation (mix_grid) and write a CSV")
    ap.add_argument("--rule", default="goal", help="selection rule: goal or metric:NAME (default: %(default)s)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here (default: print it)")
    args = ap.parse_args(argv)
    if args.ship is not None:
        from unrolled.training.config import TrainConfig
        from unrolled.training.log import read_log
        from unrolled.training.loop import VAL_LOG

        if len(args.configs) != 1:
            ap.error("--ship takes exactly one config")
        config = TrainConfig.from_toml(args.configs[0])
        reference = reference_validation(config)
        row = select_step(read_log(Path(config.out_dir) / VAL_LOG), args.rule, reference)
        print(f"wrote {ship(config, row['step'], args.ship, rule=args.rule, reference=reference)} (step {row['step']})")
        return
    if args.inspect:
        from unrolled.training.config import TrainConfig

        if len(args.configs) != 1 or any("=" not in m for m in args.inspect):
            ap.error("--inspect takes one config and models as LABEL=WEIGHTS")
        models = dict(m.split("=", 1) for m in args.inspect)
        rows = per_source_vif(TrainConfig.from_toml(args.configs[0]), models, figure=args.figure)
        text = "\n".join([",".join(rows[0])] + [",".join([r["model"]] + [f"{v:.6g}" for v in list(r.values())[1:]])
                                                 for r in rows]) + "\n"
    elif args.seeds:
        from unrolled.training.config import TrainConfig

        if len(args.configs) != 1:
            ap.error("--seeds takes exactly one config")
        rows = seed_sweep(TrainConfig.from_toml(args.configs[0]), args.seeds)
        text = "\n".join([",".join(rows[0])] + [",".join(f"{v:.6g}" for v in r.values()) for r in rows]) + "\n"
    elif args.mixes:
        from unrolled.training.config import TrainConfig

        try:
            mixes = [tuple(float(v) for v in m.split(",")) for m in args.mixes]
        except ValueError:
            ap.error(f"--mixes takes LOW_IR,LOW_VI,SPARSE_IR,SPARSE_VI numbers, got {args.mixes}")
        if len(args.configs) != 1 or any(len(m) != 4 for m in mixes):
            ap.error("--mixes takes one config and mixes of four numbers LOW_IR,LOW_VI,SPARSE_IR,SPARSE_VI")
        rows = mix_grid(TrainConfig.from_toml(args.configs[0]), [(m[:2], m[2:]) for m in mixes])
        text = "\n".join([",".join(rows[0])] + [",".join(f"{v:.6g}" for v in r.values()) for r in rows]) + "\n"
    elif args.mix_sweep:
        from unrolled.training.config import TrainConfig

        if len(args.configs) != 1:
            ap.error("--mix-sweep takes exactly one config")
        rows = mix_sweep(TrainConfig.from_toml(args.configs[0]), args.shares)
        text = "\n".join([",".join(rows[0])] + [",".join(f"{v:.6g}" for v in r.values()) for r in rows]) + "\n"
    else:
        text = render(study(args.configs, args.rule))
    if args.out is None:
        print(text)
        return
    with atomic_path(args.out) as tmp:
        tmp.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
