"""The recipe study of LRRNet training: pick each run's checkpoint on validation scores only, then score it on the
test sets (``python -m llrr.study RUN_CONFIG.toml ... --out FILE.md``).

A run is a training config with a validation split (``configs/study/*.toml``); its ``val.csv`` and
``validated/step_NNNNNN.pt`` (:mod:`unrolled.training.loop`) hold the scores and weights of every validated step. A
selection rule picks one step from ``val.csv`` alone (:func:`select_step`):

* ``"metric:NAME"``: the best value of one score (direction from the metric registry; ``val_*`` losses: lower);
* ``"goal"``: the step meeting the most of the goal's criteria against the released checkpoint on the same
  validation pairs (En, SD, MI, VIF at least its values, Nabf at most its value + 0.02; where ``val.csv`` records
  them, also each source's VIF term ``VIF_ir`` and ``VIF_vi``: the paper's VIF averages the two, so an output that
  copies the visible image can beat the released checkpoint on all five without fusing), ties broken by VIF;
* ``"balance"``: the step whose weaker source is closest to the released checkpoint's, i.e. the highest
  ``min(VIF_ir / VIF_ir_ref, VIF_vi / VIF_vi_ref)`` (:func:`balance`), ties broken by the goal's count. An output
  that copies one source scores its other source's low term; the rule prefers outputs that keep both.

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

from .study_start import merged_log, mix_grid, mix_sweep, per_source_log, per_source_vif, seed_sweep, validation_curves

__all__ = ["GOAL_HIGHER", "NABF_SLACK", "balance", "main", "mix_grid", "mix_sweep", "per_source_log", "per_source_vif",
           "reference_validation", "rule_key", "score_folder", "seed_sweep", "select_step", "ship", "study"]

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


def balance(scores: dict[str, float], reference: dict[str, float]) -> float:
    """``min(VIF_ir / VIF_ir_ref, VIF_vi / VIF_vi_ref)``: how close the weaker of the two sources' VIF terms comes to
    the reference's (1.0: both at least the reference's).

    Examples
    --------
    >>> balance({"VIF_ir": 0.5, "VIF_vi": 2.0}, {"VIF_ir": 1.0, "VIF_vi": 1.0})
    0.5
    """
    missing = [m for m in PER_SOURCE if m not in scores or m not in reference]
    if missing:
        raise ValueError(f"the rule 'balance' needs the per-source VIF terms {list(PER_SOURCE)} in val.csv and in the "
                         f"reference; missing: {missing} (runs started before they were recorded cannot use it)")
    return min(scores[m] / reference[m] for m in PER_SOURCE)


def rule_key(row: dict, rule: str, reference: dict[str, float] | None = None) -> tuple:
    """What ``rule`` maximises for one validation row (ties: the earlier step); see :func:`select_step`."""
    if rule in ("goal", "balance") and reference is None:
        raise ValueError(f"the rule {rule!r} needs the released checkpoint's validation scores (reference=)")
    if rule == "goal":
        return sum(goal_met(row, reference).values()), row["VIF"], -row["step"]
    if rule == "balance":
        has_goal = all(m in row for m in (*GOAL_HIGHER, "Nabf"))
        return balance(row, reference), sum(goal_met(row, reference).values()) if has_goal else 0, -row["step"]
    if not rule.startswith("metric:"):
        raise ValueError(f"rule must be 'goal', 'balance' or 'metric:NAME', got {rule!r}")
    from .metrics import PROFILES

    name = rule.split(":", 1)[1]
    if name not in row:
        raise ValueError(f"{name!r} is not a column of val.csv; columns: {sorted(row)}")
    metric = PROFILES["standard"].get(name) or PROFILES["paper"].get(name)
    if metric is None and not name.startswith("val_"):
        raise ValueError(f"the direction of {name!r} is unknown: select on a metric or a val_* loss")
    sign = 1.0 if metric is not None and metric.higher_is_better else -1.0
    return sign * row[name], -row["step"]


def select_step(rows: list[dict], rule: str, reference: dict[str, float] | None = None) -> dict:
    """The row of ``val.csv`` that ``rule`` picks (module docstring); ties go to the earlier step.

    Examples
    --------
    >>> rows = [{"step": 100, "VIF": 0.5, "Nabf": 0.2}, {"step": 200, "VIF": 0.6, "Nabf": 0.3}]
    >>> select_step(rows, "metric:VIF")["step"], select_step(rows, "metric:Nabf")["step"]
    (200, 100)
    """
    rows = [r for r in rows if all(np.isfinite(v) for k, v in r.items() if k != "step")]
    if not rows:
        raise ValueError("the run has no validation rows with finite scores (val.csv): train it with "
                         "val_fraction > 0")
    return max(rows, key=lambda r: rule_key(r, rule, reference))


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
        rows = merged_log(out)
        row = select_step(rows, rule, reference)
        weights = out / VALIDATED / f"step_{row['step']:06d}.pt"
        scores = {k: means(score_folder(weights, d, progress=progress)) for k, d in TEST_SETS.items()}
        runs[Path(path).stem] = {"config": str(path), "steps": rows[-1]["step"], "row": row, "tests": scores,
                                 "reference": reference}
    released = {k: means(score_folder(OFFICIAL, d, progress=progress)) for k, d in TEST_SETS.items()}
    # the same rule across the runs' selected steps (validation scores against the same pairs' reference)
    same = len(references) == 1
    winner = max(runs, key=lambda n: rule_key(runs[n]["row"], rule, runs[n]["reference"])) if same else None
    return {"rule": rule, "runs": runs, "winner": winner, "released": {"validation": reference, "tests": released}}


def ship(config, step: int, dest, *, rule: str = "goal", reference: dict[str, float] | None = None,
         name: str | None = None, description: str = "") -> Path:
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
    name, description : str, optional
        With ``name``, the sidecar registers the weights under that name (kind "lrrnet") when ``dest`` is in
        ``unrolled/weights_data`` (:func:`unrolled.weights.read_registry`); without it they are not registered.
    """
    import json

    import torch

    from unrolled._atomic import atomic_torch_save, atomic_write_text, safe_torch_load, sha256_file
    from unrolled.training.loop import VAL_LOG, VALIDATED

    out, dest = Path(config.out_dir), Path(dest)
    if description and not name:
        raise ValueError("a description is only recorded with a registry name (name=)")
    if name:
        for side in dest.parent.glob("*.json"):
            meta = json.loads(side.read_text())
            if side != dest.with_suffix(".json") and meta.get("name") == name:
                raise ValueError(f"{side} already registers the name {name!r}: two sidecars with one name would "
                                 "break the registry; rename or remove it first")
    else:
        old = dest.with_suffix(".json")
        if old.is_file() and json.loads(old.read_text()).get("name"):
            raise ValueError(f"{old} registers {json.loads(old.read_text())['name']!r}: shipping over it without "
                             "name= would unregister those weights; pass the name")
    rows = {r["step"]: r for r in merged_log(out)}
    if step not in rows:
        raise ValueError(f"step {step} was not validated in {out / VAL_LOG}; validated steps: {sorted(rows)}")
    state = safe_torch_load(out / VALIDATED / f"step_{step:06d}.pt")
    state = {k: v.to(torch.float32).contiguous() for k, v in state.items()}
    reference = reference_validation(config) if reference is None else reference  # all that can fail, before writing
    val_names = _validation_names(config)
    atomic_torch_save(state, dest)
    named = {"name": name, "kind": "lrrnet", "description": description} if name else {}
    sidecar = {
        **named, "format": "llrr-lrrnet-weights", "file": dest.name, "sha256": sha256_file(dest),
        "architecture": dict(config.to_dict()["model"]), "parameters": sum(v.numel() for v in state.values()),
        "steps": step, "run": _relative(out),
        "selection": {"rule": rule, "on": f"validation split ({len(val_names)} pairs)"},
        "data": {"dirs": list(config.data), "val_fraction": config.val_fraction, "val_pairs": val_names},
        "validation": {k: v for k, v in rows[step].items() if k != "step"},
        "released_checkpoint_validation": reference, "train_config": config.to_dict(),
    }
    atomic_write_text(dest.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
    return dest


def _relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (sidecars travel with the repository), else absolute."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(Path(path).resolve())


def _validation_names(config) -> list[str]:
    from unrolled.training.data import PairDataset
    from unrolled.training.validation import split_pairs

    names = PairDataset(config.data, min_size=config.crop, progress=False).names()
    return [names[i] for i in split_pairs(names, config.val_fraction)[1]]


def render(res: dict) -> str:
    """A Markdown table: each run's selected step, its validation per-source VIF terms and balance (where recorded)
    and its paper-profile means on validation, tno21 and vifb; then the rule's choice across the runs."""
    metrics = ("En", "SD", "MI", "VIF", "Nabf")
    head = (["run", "steps", "selected step", "val VIF_ir", "val VIF_vi", "val balance"]
            + [f"{s} {m}" for s in ("val", "tno21", "vifb") for m in metrics])
    lines = [f"Selection rule: `{res['rule']}` on validation scores only (`python -m llrr.study`).", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    ref = res["released"]
    for name, r in [*res["runs"].items(), ("released checkpoint", None)]:
        val = r["row"] if r else ref["validation"]
        per = [f"{val[m]:.4g}" if m in val else "" for m in PER_SOURCE]
        per.append(f"{balance(val, r['reference']):.3f}" if r and all(m in val for m in PER_SOURCE) else
                   "1" if r is None else "")
        scores = [val, *(r["tests"] if r else ref["tests"]).values()]
        cells = [f"{s[m]:.4g}" for s in scores for m in metrics]
        lines.append("| " + " | ".join([name, str(r["steps"]) if r else "", str(r["row"]["step"]) if r else ""]
                                       + per + cells) + " |")
    if res.get("winner"):
        lines += ["", f"The rule's choice across these runs: **{res['winner']}**, step "
                      f"{res['runs'][res['winner']]['row']['step']}."]
    elif len(res["runs"]) > 1:
        lines += ["", "No choice across these runs: they validate on different splits (data folders, val_fraction "
                      "or crop differ), so their scores are not comparable."]
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
    ap.add_argument("--name", help="with --ship: the registry name the sidecar gives the weights (e.g. default)")
    ap.add_argument("--description", default="", help="with --ship and --name: the registry description")
    ap.add_argument("--inspect", nargs="+", metavar="LABEL=WEIGHTS", help="per-source VIF of these models on the "
                    "validation pairs of the one config given (per_source_vif; --figure draws some of them), as CSV")
    ap.add_argument("--figure", type=Path, help="with --inspect: PNG of validation pairs fused by each model")
    ap.add_argument("--shares", nargs="+", type=float, default=[0.5, 0.6, 0.7, 0.8, 0.9],
                    help="visible shares for --mix-sweep (default: %(default)s)")
    ap.add_argument("--seeds", nargs="+", type=int, help="score the initial network of the one config given for each "
                    "of these seeds on validation (seed_sweep) and write a CSV")
    ap.add_argument("--mixes", nargs="+", metavar="LOW_IR,LOW_VI,SPARSE_IR,SPARSE_VI", help="score the Algorithm-1 "
                    "initialisation with these decoder weights on validation (mix_grid) and write a CSV")
    ap.add_argument("--per-source", action="store_true", help="score the per-source VIF terms of every validated "
                    "step of runs whose val.csv predates them (per_source_log), for the rules that use them")
    ap.add_argument("--curves", type=Path, metavar="PNG", help="plot the validation VIF terms of the configs given "
                    "against their steps, the rule's choice marked (plot_validation), instead of the table")
    ap.add_argument("--rule", default="goal", help="selection rule: goal, balance or metric:NAME "
                    "(default: %(default)s)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here (default: print it)")
    args = ap.parse_args(argv)
    if args.ship is not None:
        from unrolled.training.config import TrainConfig

        if len(args.configs) != 1:
            ap.error("--ship takes exactly one config")
        config = TrainConfig.from_toml(args.configs[0])
        reference = reference_validation(config)
        row = select_step(merged_log(config.out_dir), args.rule, reference)
        dest = ship(config, row["step"], args.ship, rule=args.rule, reference=reference, name=args.name,
                    description=args.description)
        print(f"wrote {dest} (step {row['step']})")
        return
    if args.curves is not None:
        if args.out is not None:
            ap.error("--curves writes a figure; --out (the table) does not go with it")
        print(f"wrote {validation_curves(args.configs, args.rule, args.curves)}")
        return
    if args.per_source:
        from unrolled.training.config import TrainConfig

        for path in args.configs:
            rows = per_source_log(TrainConfig.from_toml(path))
            print(f"{path}: per-source VIF of {len(rows)} validated steps")
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
