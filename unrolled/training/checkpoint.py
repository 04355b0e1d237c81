"""Training checkpoints: reading one, checking that a config may resume it, the RNG states it carries, and its
tensors kept on the CPU (:mod:`unrolled.training.loop` writes them)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from .._atomic import safe_torch_load
from .config import TrainConfig
from .data import CropSampler
from .log import LATER_TERMS

__all__ = ["load_checkpoint", "with_later_terms", "CHECKPOINT"]

CHECKPOINT = "checkpoint.pt"
_FORMAT, _VERSION = "llrr-train-checkpoint", 1
# settings a resumed run may change (they do not alter what the remaining steps compute, or only by float rounding)
_RESUMABLE_CHANGES = {"steps", "checkpoint_every", "out_dir", "threads", "fast", "data"}
_RESUMABLE_CHANGES |= {"feature_cache_mb"}  # the feature cache: speed only
_RESUMABLE_CHANGES |= {"device", "precision"}  # where and in which float format the remaining steps run


def _rng_state(sampler: CropSampler) -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the global state, for code that uses it)
    return {"torch": torch.get_rng_state(), "numpy": (kind, keys.tolist(), pos, has_gauss, gauss),
            "python": random.getstate(), "sampler": sampler.state_dict()}


def _set_rng_state(state: dict, sampler: CropSampler) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    random.setstate(_tuples(state["python"]))
    sampler.load_state_dict(state["sampler"])


def _on_cpu(x):
    """A state dict (nested dicts, lists, tensors) with every tensor on the CPU: a checkpoint of a GPU run loads
    anywhere, and resumes on any device."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, dict):
        return {k: _on_cpu(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_on_cpu(v) for v in x)
    return x


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def load_checkpoint(path) -> dict:
    """Read a training checkpoint (``weights_only``: no code runs); ``path`` may be a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = safe_torch_load(path, "a training checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an llrr training checkpoint (no format={_FORMAT!r} entry)")
    if ckpt.get("version") != _VERSION:
        raise ValueError(f"{path} is a version {ckpt.get('version')} checkpoint; this llrr reads version {_VERSION}")
    ckpt["path"] = path
    return ckpt


def _check_resumable(ckpt: dict, config: TrainConfig, names: list[str], val_names: list[str]) -> None:
    saved = TrainConfig.from_dict(ckpt["config"], source=f"config saved in {ckpt['path']}")
    mine, theirs = config.to_dict(), saved.to_dict()
    differ = sorted(k for k in mine if k not in _RESUMABLE_CHANGES and mine[k] != theirs[k])
    if differ:
        raise ValueError(f"cannot resume {ckpt['path']}: the config differs in "
                         + "; ".join(f"{k} (saved {theirs[k]!r}, now {mine[k]!r})" for k in differ))
    if ckpt["pairs"] != names:
        raise ValueError(f"cannot resume {ckpt['path']}: it was trained on {len(ckpt['pairs'])} pairs, the data "
                         f"folders {list(config.data)} now hold {len(names)} pairs, or others")
    if ckpt.get("val_pairs", val_names) != val_names:
        raise ValueError(f"cannot resume {ckpt['path']}: it validated on {len(ckpt['val_pairs'])} pairs, the data "
                         f"folders now give {len(val_names)} validation pairs, or others")


def with_later_terms(row: dict) -> dict:
    """A validation row of a run checkpointed before a loss term existed, with that term's ``val_`` column (0: it was
    not in the loss) where the validator now puts it, just before ``val_total``."""
    missing = [f"val_{t}" for t in LATER_TERMS if f"val_{t}" not in row]
    if not missing or "val_total" not in row:
        return dict(row)
    out = {}
    for key, value in row.items():
        if key == "val_total":
            out.update(dict.fromkeys(missing, 0.0))
        out[key] = value
    return out
