"""Training with validation metrics: the fusion metrics of :mod:`llrr.metrics` as a validator for
:func:`unrolled.training.loop.train` (which cannot import :mod:`llrr`), and :func:`train`, which wires it in.

:class:`MetricValidator` fuses every validation pair at its native size exactly as ``llrr fuse`` does with the
method "lrrnet" (each input min-max scaled, the output min-max scaled and rounded to 8 bits: the images that
``llrr evaluate`` and docs/results.md score) and returns the mean of each metric of a profile over the pairs. With
``per_source=True`` it adds ``VIF_ir`` and ``VIF_vi``, the two terms the profile's VIF averages (``vifvec(IR, F)``
and ``vifvec(VI, F)`` on the profile's scale): an output that copies one source can score a high VIF, the two terms
show what each source contributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .metrics import PROFILES, compute, list_metrics
from .metrics._common import as_uint8_grey

__all__ = ["MetricValidator", "train"]

VIF_SCALE = {"paper": 1.0, "standard": 255.0}  # the image scale of each profile's VIF (llrr.metrics)


class MetricValidator:
    """Mean fusion metrics of a model over validation pairs (a validator for :func:`unrolled.training.loop.train`).

    Parameters
    ----------
    pairs : sequence of (ir, vi)
        Raw grey images on [0, 255] (uint8 or float), e.g. ``PairDataset.images`` of the validation split.
    profile : {"paper", "standard"}
    metrics : iterable of str, optional
        A subset of the profile's metrics (default: all of them).
    per_source : bool, default False
        Also return ``VIF_ir`` and ``VIF_vi`` (higher is better).

    Attributes
    ----------
    higher_is_better : dict
        Direction of each metric (from the metric registry).

    Examples
    --------
    >>> from unrolled import LRRNet
    >>> rng = np.random.default_rng(0)
    >>> pair = (rng.integers(0, 256, (32, 40), dtype=np.uint8), rng.integers(0, 256, (32, 40), dtype=np.uint8))
    >>> scores = MetricValidator([pair], metrics=["En", "SD"])(LRRNet(n=4, blocks=1))
    >>> sorted(scores)
    ['En', 'SD']
    """

    def __init__(self, pairs: Sequence, *, profile: str = "paper", metrics: Iterable[str] | None = None,
                 per_source: bool = False):
        names = list_metrics(profile) if metrics is None else list(metrics)
        unknown = [m for m in names if m not in PROFILES[profile]]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown} for profile {profile!r}; available: "
                             f"{list_metrics(profile)}")
        if len(pairs) == 0:
            raise ValueError("the validation split holds no pairs")
        # grey on the 8-bit scale (uint8, or float32 v / 257 from 16-bit files) as the metrics read it: uint8
        self.pairs = [(as_uint8_grey(a, "validation infrared image"), as_uint8_grey(b, "validation visible image"))
                      for a, b in pairs]
        self.profile, self.metrics = profile, tuple(names)
        self.higher_is_better = {m: PROFILES[profile][m].higher_is_better for m in names}
        self.per_source = bool(per_source)
        if self.per_source:
            self.higher_is_better.update(VIF_ir=True, VIF_vi=True)

    def fuse(self, model, ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
        """The uint8 image ``llrr fuse`` writes for this pair and model."""
        from unrolled import fuse_images

        fused = fuse_images(model, ir / 255.0, vi / 255.0, normalization="minmax")
        return np.round(np.clip(fused, 0.0, 1.0) * 255.0).astype(np.uint8)

    def __call__(self, model) -> dict[str, float]:
        from .metrics.vif import vifvec

        scale = VIF_SCALE[self.profile]
        # per source, the profile's VIF is the mean of the two terms: computed once, not twice
        others = [m for m in self.metrics if not (self.per_source and m == "VIF")]
        rows = []
        for ir, vi in self.pairs:
            fused = self.fuse(model, ir, vi)
            row = compute(fused, ir, vi, profile=self.profile, metrics=others) if others else {}
            if self.per_source:
                row.update(VIF_ir=vifvec(ir, fused, scale=scale), VIF_vi=vifvec(vi, fused, scale=scale))
                if "VIF" in self.metrics:
                    row["VIF"] = (row["VIF_ir"] + row["VIF_vi"]) / 2
            rows.append(row)
        return {m: float(np.mean([r[m] for r in rows])) for m in rows[0]}


def train(config, *, resume=None, progress: bool = True, callback=None):
    """:func:`unrolled.training.loop.train` with the fusion metrics of ``config.val_profile`` on the validation split
    (``config.val_fraction``) beside the validation loss; without a validation split, the same as it."""
    from unrolled.training.loop import train as train_unrolled

    def metrics(dataset):
        return MetricValidator(dataset.images, profile=config.val_profile, per_source=True)

    return train_unrolled(config, resume=resume, progress=progress, callback=callback,
                          validators=(metrics,) if config.val_fraction > 0 else ())
