"""Validation during training: a held-out split of the training pairs, the validation loss, keeping the best model.

The split (:func:`split_pairs`) is drawn from the *training* data, never from a test set: a pair is held out when the
sha256 of its name ranks among the first ``round(fraction * N)``. It depends on the names only, not on their order,
the seed or the other folders' contents' order, so every run of a study (other seeds, other recipes) validates on the
same pairs, and a resumed run on the same ones.

A validator is a callable ``validator(model) -> dict[str, float]`` with an attribute ``higher_is_better`` (name ->
bool) for each name it returns. :class:`LossValidator` (this module) scores the Eq. 10 loss of the validation pairs,
each resized to the training crop as the "resize" sampling draws it, without flips: ``val_loss``, lower is better.
The application adds the fusion metrics (:class:`llrr.training.MetricValidator`: each validation pair fused at its
native size as ``llrr fuse`` would and scored with a metric profile), which :mod:`unrolled` cannot import.

:class:`Selection` keeps the best score of one named quantity, counts the validations without improvement (early
stopping), and saves and restores its state with the checkpoint.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .data import PairDataset, minmax01, resize_bilinear

__all__ = ["split_pairs", "LossValidator", "Selection", "combine_validators"]


def split_pairs(names: Sequence[str], fraction: float) -> tuple[list[int], list[int]]:
    """Indices ``(train, validation)`` of a deterministic held-out split of pairs named ``names``.

    Parameters
    ----------
    names : sequence of str
        Pair names (repeated names are told apart by their occurrence: the second ``"01"`` is ``"01#1"``).
    fraction : float
        Share of the pairs held out, in [0, 1); ``round(fraction * N)`` pairs, at least 1 when ``fraction > 0``,
        and at least one pair is left for training.

    Returns
    -------
    (list of int, list of int)
        Sorted indices into ``names`` of the training and the validation pairs.

    Examples
    --------
    >>> train, val = split_pairs([f"{k:02d}" for k in range(10)], 0.2)
    >>> len(train), len(val)
    (8, 2)
    >>> split_pairs([f"{k:02d}" for k in reversed(range(10))], 0.2)[1] == [9 - i for i in reversed(val)]  # by name
    True
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    n = len(names)
    if fraction == 0 or n == 0:
        return list(range(n)), []
    if n < 2:
        raise ValueError(f"a validation split needs at least 2 pairs (one to train on), got {n}")
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        keys.append(hashlib.sha256(f"{name}#{k}".encode() if k else name.encode()).hexdigest())
    n_val = min(max(1, round(fraction * n)), n - 1)
    val = sorted(sorted(range(n), key=keys.__getitem__)[:n_val])
    held = set(val)
    return [i for i in range(n) if i not in held], val


class LossValidator:
    """The Eq. 10 loss terms on validation pairs resized to ``crop x crop`` (no flips): ``val_<term>``, lower is
    better.

    Parameters
    ----------
    dataset : PairDataset
        The validation pairs (raw grey images on [0, 255]).
    loss_fn : FusionLoss
    forward : callable
        ``forward(model, ir01, vi01)``: the training forward (fast or eager), run without a graph.
    crop : int
        Side of the resized samples (the training crop).
    batch : int
        Samples per forward.
    """

    def __init__(self, dataset: PairDataset, loss_fn, forward: Callable, *, crop: int, batch: int = 8):
        if len(dataset) == 0:
            raise ValueError("the validation split holds no pairs")
        ir = np.stack([resize_bilinear(a, crop) for a, _ in dataset.images])[:, None]
        vi = np.stack([resize_bilinear(b, crop) for _, b in dataset.images])[:, None]
        self._ir255, self._vi255 = torch.from_numpy(ir), torch.from_numpy(vi)
        self._ir01, self._vi01 = torch.from_numpy(minmax01(ir)), torch.from_numpy(minmax01(vi))
        self.loss_fn, self.forward, self.batch = loss_fn, forward, int(batch)
        self.higher_is_better: dict[str, bool] = {}

    def __call__(self, model) -> dict[str, float]:
        sums: dict[str, float] = {}
        n = len(self._ir01)
        device = next(model.parameters()).device
        with torch.no_grad():
            for a in range(0, n, self.batch):
                s = slice(a, a + self.batch)
                ir01, vi01, ir255, vi255 = (t[s].to(device) for t in (self._ir01, self._vi01, self._ir255, self._vi255))
                fused = self.forward(model, ir01, vi01)
                terms = self.loss_fn(fused, ir255, vi255)
                for name, value in terms.items():  # every term is a mean over its batch: weight by the batch size
                    sums[f"val_{name}"] = sums.get(f"val_{name}", 0.0) + float(value) * len(fused)
        out = {k: v / n for k, v in sums.items()}
        self.higher_is_better = {k: False for k in out}
        return out


def combine_validators(*validators) -> Callable:
    """One validator returning the union of the given validators' scores (names must not repeat)."""

    def validate(model) -> dict[str, float]:
        scores: dict[str, float] = {}
        for v in validators:
            got = v(model)
            clash = sorted(set(got) & set(scores))
            if clash:
                raise ValueError(f"validators return the same score name(s) {clash}")
            scores.update(got)
        validate.higher_is_better = {k: h for v in validators for k, h in v.higher_is_better.items()}
        return scores

    validate.higher_is_better = {}
    return validate


class Selection:
    """The best value of the score ``metric`` so far, and how many validations have passed without improving it.

    Parameters
    ----------
    metric : str
        The score to select on (a name a validator returns).
    patience : int
        Stop (``should_stop``) after this many validations without improvement; 0: never.

    Examples
    --------
    >>> s = Selection("VIF", patience=2)
    >>> [s.update(step, {"VIF": v}, {"VIF": True}) for step, v in ((10, 0.5), (20, 0.6), (30, 0.55), (40, 0.58))]
    [True, True, False, False]
    >>> s.best, s.best_step, s.should_stop
    (0.6, 20, True)
    """

    def __init__(self, metric: str, patience: int = 0):
        self.metric, self.patience = metric, int(patience)
        self.best: float | None = None
        self.best_step: int | None = None
        self.stale = 0

    def update(self, step: int, scores: dict[str, float], higher_is_better: dict[str, bool]) -> bool:
        """Record the scores of a validation at ``step``; True when ``metric`` improved on the best so far."""
        if self.metric not in scores:
            raise ValueError(f"val_metric {self.metric!r} is not a validation score; the validators return "
                             f"{sorted(scores)}")
        value = float(scores[self.metric])
        if not math.isfinite(value):
            improved = False
        elif self.best is None:
            improved = True
        else:
            improved = value > self.best if higher_is_better[self.metric] else value < self.best
        if improved:
            self.best, self.best_step, self.stale = value, int(step), 0
        else:
            self.stale += 1
        return improved

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience

    def state_dict(self) -> dict:
        return {"metric": self.metric, "best": self.best, "best_step": self.best_step, "stale": self.stale}

    def load_state_dict(self, state: dict) -> None:
        if state["metric"] != self.metric:
            raise ValueError(f"the saved selection is on {state['metric']!r}, the config selects on {self.metric!r}")
        self.best, self.best_step, self.stale = state["best"], state["best_step"], int(state["stale"])
