"""Training LRRNet with the detail-to-semantic loss: :func:`train` runs a
:class:`~unrolled.training.config.TrainConfig`.

One step: a batch of random crops (:class:`~unrolled.training.data.CropSampler`), the network on the min-max normalised
inputs (the fast path of :mod:`unrolled.fast.train` where it supports the model, else eager torch), the loss of
Eq. 10-14 (:class:`~unrolled.training.losses.FusionLoss`) against the raw [0, 255] crops, one Adam step.

A run writes into ``config.out_dir``:

``log.csv``
    one row per step: every weighted loss term, the total and the step's wall time (:mod:`unrolled.training.log`);
``losses.png``
    the curves of Fig. 10, redrawn at every checkpoint and at the end;
``checkpoint.pt``
    every ``checkpoint_every`` steps and at the end, written atomically: model, Adam state, the torch / numpy /
    python RNG states, the data sampler's state, the step, the config and the loss history. ``train(config,
    resume=...)`` continues from it exactly: a run killed after a checkpoint and resumed ends with the same weights
    and the same log as an uninterrupted run (steps logged after the last checkpoint are dropped and redone);
``lrrnet.pt`` + ``lrrnet.json``
    at the end: the LRRNet's own float32 state_dict (load it with ``LRRNet(config).load_state_dict``) and a sidecar
    with its sha256, the architecture, the training config, the data and the final losses;
``val.csv``, ``best.pt`` + ``best.json``
    with a validation split (``config.val_fraction``, :mod:`unrolled.training.validation`): before the first step and
    every ``val_every`` steps (so a run extended with ``--resume`` validates at the steps an uninterrupted one does),
    the validation scores (rewritten atomically each time), and the weights of the step with the best ``val_metric`` so
    far (their sidecar adds that step and its scores). ``val_patience`` stops a run early; ``lrrnet.pt`` then holds
    the last step's weights, ``best.pt`` the selected ones.
``validated/step_NNNNNN.pt``
    the weights (float32 state_dict, 200 KB for the released architecture) at every validation, so that a checkpoint
    can be selected afterwards by any rule on ``val.csv``.

:func:`train` seeds the global torch, numpy and python generators with ``config.seed`` (the initial weights come
from torch's); the data stream has its own generator.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_torch_save, atomic_write_text, sha256_file
from .._threads import set_threads
from ..nets.lrrnet import LRRNet
from .checkpoint import (
    _FORMAT,
    _VERSION,
    _check_resumable,
    _on_cpu,
    _rng_state,
    _set_rng_state,
    load_checkpoint,
    with_later_terms,
)
from .config import TrainConfig, trainable_parameters
from .data import CropSampler, PairDataset
from .log import LATER_TERMS, TERMS, NullLog, TrainLog, finite_row, plot_losses, write_rows
from .validation import LossValidator, Selection, combine_validators, split_pairs

__all__ = ["train", "initial_model", "TrainSummary", "load_checkpoint", "CHECKPOINT", "WEIGHTS", "SIDECAR", "LOG",
           "PLOT"]

CHECKPOINT, WEIGHTS, SIDECAR, LOG, PLOT = "checkpoint.pt", "lrrnet.pt", "lrrnet.json", "log.csv", "losses.png"
VAL_LOG, BEST, BEST_SIDECAR, VALIDATED = "val.csv", "best.pt", "best.json", "validated"


@dataclass(frozen=True)
class TrainSummary:
    """What :func:`train` did. ``first``/``final``: the first and last rows of the log (the loss terms)."""

    steps: int
    start_step: int
    first: dict
    final: dict
    mean_step_seconds: float
    fast: bool
    fast_reason: str | None
    out_dir: Path
    log: Path
    plot: Path
    checkpoint: Path
    weights: Path
    sidecar: Path
    validation: tuple = ()
    best_step: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    rank: int = 0
    world: int = 1


def _vgg(config: TrainConfig):
    from .losses import DEFAULT_VGG_WEIGHTS, uses_vgg, vgg16_features

    if config.vgg_weights == "random" or not uses_vgg(config.loss):
        return vgg16_features(None, convention=config.vgg_convention, seed=config.seed)
    path = DEFAULT_VGG_WEIGHTS if config.vgg_weights == "default" else Path(config.vgg_weights)
    return vgg16_features(path, convention=config.vgg_convention)


def _forward(model: LRRNet, use_fast: bool):
    """The training forward ``f(model, ir01, vi01)``, whether it is the fast path, and why not if not."""
    if not use_fast:
        return _eager_forward, False, "fast = false in the config"
    from ..fast.train import fast_train_forward, fast_train_unsupported_reason

    reason = fast_train_unsupported_reason(model)
    if reason is not None:
        return _eager_forward, False, reason
    return fast_train_forward, True, None


def initial_model(config: TrainConfig, dataset: PairDataset) -> LRRNet:
    """The network before the first step: random (torch's generator, seeded) or Algorithm 1 (``config.init``)."""
    if config.init == "random":
        return LRRNet(config.model).to(torch.float32)
    from .data import resize_bilinear
    from .init import lrrnet_from_training_data

    def as_sampled(image):
        x = np.asarray(image, np.float32) / 255.0
        return resize_bilinear(x, config.crop) if config.sampling == "resize" else x

    m = config.model
    model = lrrnet_from_training_data([as_sampled(a) for a, _ in dataset.images],
                                      [as_sampled(b) for _, b in dataset.images], n_low=m.n, n_sparse=m.n_sparse,
                                      kernel_size=m.kernel_size, blocks=m.blocks, fusion=m.fusion,
                                      image_shape=(config.crop, config.crop), seed=config.seed,
                                      low=config.init_low, sparse=config.init_sparse)
    if model.config != m:
        raise ValueError(f"init = 'algorithm1' built {model.config}, not the configured {m}")
    return model


def _eager_forward(model: LRRNet, ir01: torch.Tensor, vi01: torch.Tensor) -> torch.Tensor:
    return model(ir01, vi01)


def _save_weights(model: LRRNet, config: TrainConfig, out: Path, history: list[dict], n_pairs: int,
                  fast: bool, *, names: tuple[str, str] = (WEIGHTS, SIDECAR), extra: dict | None = None,
                  world: int | None = None) -> None:
    state = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    atomic_torch_save(state, out / names[0])
    tail = history[-min(len(history), 50):]
    sidecar = {
        "format": "llrr-lrrnet-weights", "file": names[0], "sha256": sha256_file(out / names[0]),
        "architecture": asdict(config.model), "parameters": sum(v.numel() for v in state.values()),
        "steps": history[-1]["step"] if history else 0,
        "data": {"dirs": list(config.data), "pairs": n_pairs},
        "final_loss": {t: float(np.mean([r[t] for r in tail])) for t in TERMS} if tail else None,
        "final_loss_over_steps": len(tail), "train_seconds": float(sum(r["seconds"] for r in history)),
        "fast": fast, "train_config": config.to_dict(), **({"processes": world} if world else {}), **(extra or {}),
    }
    atomic_write_text(out / names[1], json.dumps(sidecar, indent=2) + "\n")


def train(config: TrainConfig, *, resume=None, progress: bool = True, callback=None,
          validators: tuple = ()) -> TrainSummary:
    """Train an LRRNet as ``config`` says (module docstring: what is written where).

    Started by ``torchrun --nproc_per_node=N`` (its environment variables set), the N processes train one model with
    DistributedDataParallel (module docstring, "Several processes").

    Parameters
    ----------
    config : TrainConfig
    resume : path, optional
        A checkpoint (or a run folder holding ``checkpoint.pt``) to continue. Its config must equal ``config`` except
        for ``steps``, ``checkpoint_every``, ``out_dir``, ``threads``, ``fast``, ``feature_cache_mb`` and ``data``
        (the folders may move; the pairs they hold must be the same).
    progress : bool
        Show a tqdm bar with every loss term.
    callback : callable, optional
        ``callback(step, row)`` after each step (``row``: the log row, a dict), e.g. to watch a run; under torchrun
        on rank 0 only.
    validators : sequence of callable
        With a validation split, ``factory(val_dataset)`` for each, returning a validator (a callable ``v(model) ->
        dict`` of scores with a ``higher_is_better`` dict, :mod:`unrolled.training.validation`) whose scores join the
        validation loss; :func:`llrr.training.train` passes the fusion metrics this way.

    Returns
    -------
    TrainSummary

    Raises
    ------
    ValueError
        A config the data cannot serve (no pairs, images smaller than the crop), a checkpoint that does not fit, an
        ``out_dir`` that already holds a run when not resuming.
    FloatingPointError
        The loss became NaN or infinite (the step is named; the last checkpoint is intact).
    """
    from ..device import process_device
    from ..distributed import from_env, process_group

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    here = from_env()
    # the device first: a missing GPU is an error before any process group or file
    device = process_device(config.device, here.local_rank, here.local_world)
    with process_group("nccl" if device.type == "cuda" else "gloo") as dist:
        return _train(config, dist, device, resume=resume, progress=progress, callback=callback,
                      validators=validators)


def _train(config: TrainConfig, dist, device, *, resume, progress: bool, callback,
           validators: tuple) -> TrainSummary:
    from tqdm.auto import tqdm

    from ..device import autocast, fast_allowed
    from ..distributed import shard, threads_per_process
    from .feature_cache import SourceTargetCache
    from .losses import FusionLoss

    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    progress = progress and dist.main
    out = Path(config.out_dir)
    ckpt = load_checkpoint(resume) if resume is not None else None
    holds_run = (out / CHECKPOINT).exists() or (out / LOG).exists()
    if holds_run and (ckpt is None or out.resolve() != ckpt["path"].parent.resolve()):
        raise ValueError(f"out_dir {out} already holds a run ({CHECKPOINT} / {LOG}): resume it, delete it, or "
                         "choose another out_dir")
    if validators and config.val_fraction == 0:
        raise ValueError("validators were given but the config has no validation split (val_fraction = 0)")
    full = PairDataset(config.data, min_size=config.crop, progress=progress)
    train_idx, val_idx = split_pairs(full.names(), config.val_fraction)
    dataset, val_set = full.subset(train_idx), full.subset(val_idx)
    sampler = CropSampler(dataset, crop=config.crop, batch=config.batch, seed=config.seed, sampling=config.sampling)
    if ckpt is not None:
        _check_resumable(ckpt, config, dataset.names(), val_set.names())
    if config.batch < dist.world:
        raise ValueError(f"batch = {config.batch} is the global batch, shared among the {dist.world} processes: it "
                         f"must be at least {dist.world}")
    dist.barrier()  # every process has checked out_dir before rank 0 writes into it

    restore_threads = set_threads(threads_per_process(config.threads, dist))
    try:
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)  # noqa: NPY002 (seed the global state for code that uses it)
        random.seed(config.seed)
        model = initial_model(config, dataset) if ckpt is None else LRRNet(config.model).to(torch.float32)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        model = model.to(device)  # before the optimiser is built: it keeps its state beside the parameters
        optimizer = torch.optim.Adam(trainable_parameters(model, config.trainable), lr=config.lr,
                                     weight_decay=config.weight_decay)
        loss_fn = FusionLoss(_vgg(config), **asdict(config.loss)).to(device)  # (VGG unused: random, not read)
        # the feature cache: the sources' VGG targets per sample, for batches with keys ("resize")
        # each process of a machine keeps its own cache: the budget is shared among them
        cache = (SourceTargetCache(loss_fn, config.feature_cache_mb / dist.local_world)
                 if config.feature_cache_mb and loss_fn.uses_vgg else None)
        off = fast_allowed(device, config.precision)
        forward, fast, fast_reason = (_forward(model, config.fast) if off is None or not config.fast
                                      else (_eager_forward, False, off))
        history: list[dict] = []
        validate, selection, val_history = None, Selection(config.val_metric, config.val_patience), []
        if len(val_set):
            validate = combine_validators(
                LossValidator(val_set, loss_fn, forward, crop=config.crop, batch=config.batch),
                *(factory(val_set) for factory in validators))
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            _set_rng_state(ckpt["rng"], sampler)
            history = [{**dict.fromkeys(LATER_TERMS, 0.0), **r} for r in ckpt["history"]]  # older runs: 0
            val_history = [with_later_terms(r) for r in ckpt.get("val_history", [])]
            if "selection" in ckpt:
                selection.load_state_dict(ckpt["selection"])
        start = ckpt["step"] if ckpt is not None else 0
        if dist.active:  # after the weights are loaded: DDP starts every process from rank 0's parameters
            from torch.nn.parallel import DistributedDataParallel

            from ..distributed import StepModule

            step_forward = DistributedDataParallel(StepModule(model, forward),
                                                   device_ids=[device.index] if device.type == "cuda" else None)
        else:
            def step_forward(ir01, vi01):
                return forward(model, ir01, vi01)
        if dist.main:
            out.mkdir(parents=True, exist_ok=True)
        title = f"LRRNet training: {', '.join(Path(d).name for d in config.data)}"

        def save_checkpoint(step: int) -> None:
            if not dist.main:
                return
            atomic_torch_save({"format": _FORMAT, "version": _VERSION, "step": step, "config": config.to_dict(),
                               "model": _on_cpu(model.state_dict()), "optimizer": _on_cpu(optimizer.state_dict()),
                               "rng": _rng_state(sampler), "history": history, "pairs": dataset.names(),
                               "val_pairs": val_set.names(),
                               "val_history": val_history, "selection": selection.state_dict()},
                              out / CHECKPOINT)
            if history:
                plot_losses(history, out / PLOT, title=title)

        val_info = {"pairs": val_set.names(), "metric": config.val_metric}

        def validation(step: int) -> dict:
            scores = validate(model)
            val_history.append({"step": step, **scores})
            atomic_torch_save({k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()},
                              out / VALIDATED / f"step_{step:06d}.pt")  # any rule can select from val.csv later
            write_rows(out / VAL_LOG, val_history)
            if selection.update(step, scores, validate.higher_is_better):
                _save_weights(model, config, out, history, len(dataset), fast, names=(BEST, BEST_SIDECAR),
                              extra={"validation": {**val_info, "step": step, "scores": scores}})
            return scores

        seconds = []
        stopped = validate is not None and selection.should_stop  # a resumed run that had stopped early stays so
        bar = tqdm(total=config.steps, initial=min(start, config.steps), desc="training", unit="step",
                   disable=not progress, dynamic_ncols=True)
        with TrainLog(out / LOG, history) if dist.main else NullLog() as log, bar:
            model.train()
            if validate is not None and start == 0 and dist.main:
                validation(0)  # the initial network too: a run may end up selecting where it started
            for step in range(start + 1, (start if stopped else config.steps) + 1):
                t0 = time.perf_counter()
                batch = sampler.next_batch()  # the global batch: every process draws the same one
                if dist.active:
                    batch, whole = batch.part(shard(len(batch), dist.rank, dist.world)), len(batch)
                batch = batch.to(device)
                cached = cache is not None and batch.keys is not None
                with autocast(device, config.precision):
                    targets = cache.targets(batch.keys, batch.ir255, batch.vi255) if cached else None
                    terms = loss_fn(step_forward(batch.ir01, batch.vi01), batch.ir255, batch.vi255, targets=targets)
                if dist.active:
                    # every term is a mean over the samples: the global batch's is the share-weighted sum
                    share = len(batch) / whole
                    totals = dist.all_sum([share * float(terms[t].detach()) for t in TERMS])
                    row = {"step": step, **dict(zip(TERMS, totals, strict=True))}
                else:
                    row = {"step": step, **{t: float(terms[t].detach()) for t in TERMS}}
                if not finite_row(row):
                    raise FloatingPointError(f"step {step}: the loss is not finite ({row}); {out / CHECKPOINT} "
                                             "holds the last good state (lower lr and resume)")
                optimizer.zero_grad(set_to_none=True)
                if dist.active:
                    # DDP averages the processes' gradients: scaled by share * world, the average is the gradient
                    # of the global batch's mean, whatever the split
                    (terms["total"] * (share * dist.world)).backward()
                else:
                    terms["total"].backward()
                optimizer.step()
                row["seconds"] = time.perf_counter() - t0
                seconds.append(row["seconds"])
                history.append(row)
                log.append(row)
                bar.set_postfix({t: f"{row[t]:.4g}" for t in TERMS}, refresh=False)
                if validate is not None and step % config.val_every == 0:
                    if dist.main:  # rank 0 validates; the others wait for its decision to stop or go on
                        scores = validation(step)
                        bar.set_postfix({"total": f"{row['total']:.4g}",
                                         config.val_metric: f"{scores.get(config.val_metric, float('nan')):.4g}",
                                         "best": f"{selection.best}@{selection.best_step}"}, refresh=False)
                        stopped = selection.should_stop
                    stopped = dist.broadcast(stopped)
                bar.update(1)
                if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
                    save_checkpoint(step)
                if callback is not None and dist.main:
                    callback(step, dict(row))
                if stopped:
                    break
        last = history[-1]["step"] if stopped else max(start, config.steps)
        save_checkpoint(last)
        extra = {"validation": {**val_info, "best_step": selection.best_step, "best": selection.best,
                                "last": val_history[-1] if val_history else None}} if validate else None
        if dist.main:
            _save_weights(model, config, out, history, len(dataset), fast, extra=extra,
                          world=dist.world if dist.active else None)
        dist.barrier()  # the files are written before any process returns
    finally:
        restore_threads()
    return TrainSummary(
        steps=last, start_step=start, first=history[0] if history else {}, final=history[-1] if history else {},
        mean_step_seconds=float(np.mean(seconds)) if seconds else float("nan"), fast=fast, fast_reason=fast_reason,
        out_dir=out, log=out / LOG, plot=out / PLOT, checkpoint=out / CHECKPOINT, weights=out / WEIGHTS,
        sidecar=out / SIDECAR, validation=tuple(val_history), best_step=selection.best_step,
        best_value=selection.best, stopped_early=stopped, rank=dist.rank, world=dist.world)

