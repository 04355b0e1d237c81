"""The sources' part of the training loss, cached across steps: :class:`SourceTargetCache`.

The loss of Eq. 10-14 (:class:`~unrolled.training.losses.FusionLoss`) runs VGG-16 on the fused image (with its graph)
and on
both sources (constants). The sources' contribution, :meth:`~unrolled.training.losses.FusionLoss.source_targets`, is a
function of the sample alone: Phi1(I_vi), the middle targets ``w_ir Phik(I_ir) + w_vi Phik(I_vi)`` (k = 2, 3) and
Gram(Phi4(I_ir)). With ``sampling="resize"`` a sample is a whole pair resized and flipped, named by its key
``(pair index, flip_v, flip_h)`` (:attr:`unrolled.training.data.Batch.keys`): at most 4 per pair, each seen again every
few epochs. The cache computes a sample's targets when it is first drawn, in one VGG call with the batch's other new
samples, and then serves them from memory: a step with every sample cached runs VGG-16 on the fused image only.

Memory: per sample at crop ``c``, ``4 (64 c^2 + 128 (c/2)^2 + 256 (c/4)^2 + 512^2)`` bytes, 8 MiB at 128 x 128
(relu1_2 4 MiB, the two middle targets 3 MiB, the Gram matrix 1 MiB): the 287 training pairs x 4 flips would take
9 GiB. Beyond ``budget_mb`` the least recently used samples are dropped. Sampled uniformly (the epochs' random order
and flips), a cache holding a fraction f of the samples serves about a fraction f of the draws once warm.

Exactness: a target is computed by the same operations as :meth:`FusionLoss.forward` computes it without a cache,
with its sample in another batch; VGG-16 works on each image independently, so the values are the same unless the
convolution engine rounds differently for another batch size (measured: bit for bit, torch 2.13 CPU).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import torch

from .losses import SOURCE_TARGETS, FusionLoss

__all__ = ["SourceTargetCache", "CacheInfo"]

_MB = 1 << 20


@dataclass(frozen=True)
class CacheInfo:
    """Statistics of a :class:`SourceTargetCache`: samples served from memory (``hits``) and computed (``misses``),
    the samples held (``entries``), the bytes they take (``nbytes``) and the budget (``budget_bytes``)."""

    hits: int
    misses: int
    entries: int
    nbytes: int
    budget_bytes: int


class SourceTargetCache:
    """Per-sample cache of :meth:`FusionLoss.source_targets <unrolled.training.losses.FusionLoss.source_targets>`, LRU
    within a memory budget.

    Parameters
    ----------
    loss : FusionLoss
        The loss whose targets are cached (its VGG-16 and its ``w_ir``, ``w_vi``; they must not change afterwards).
    budget_mb : float
        Most memory the cached targets may take, in MiB (2**20 bytes); 0 caches nothing (every call computes).

    Notes
    -----
    :meth:`targets` returns the batch's targets, stacked in the layout of ``loss.source_targets`` (feature maps
    channels-last), computing in one VGG call only the samples it does not hold (a key repeated within a batch is
    computed once). Each sample's targets are stored detached, contiguous, in the loss's dtype (float32 in
    training); after a call the least recently used samples are dropped until the rest fit the budget. A key names a
    sample of one sampler (:attr:`unrolled.training.data.Batch.keys`): keys from another dataset, crop size or sampler
    would name other images, and the cache cannot tell (it refuses only a change of the sample shape).

    Examples
    --------
    >>> from unrolled.training.losses import vgg16_features
    >>> loss = FusionLoss(vgg16_features(None))
    >>> cache = SourceTargetCache(loss, budget_mb=64)
    >>> ir, vi = torch.rand(2, 1, 16, 16) * 255, torch.rand(2, 1, 16, 16) * 255
    >>> t = cache.targets([(0, False, False), (1, True, False)], ir, vi)  # two misses: computed
    >>> t = cache.targets([(1, True, False), (0, False, False)], ir.flip(0), vi.flip(0))  # two hits
    >>> info = cache.info()
    >>> info.hits, info.misses, info.entries, info.nbytes
    (2, 2, 2, 2326528)
    >>> out = loss(torch.rand(2, 1, 16, 16), ir.flip(0), vi.flip(0), targets=t)
    """

    def __init__(self, loss: FusionLoss, budget_mb: float = 2048):
        if not isinstance(loss, FusionLoss):
            raise TypeError(f"loss must be a FusionLoss, got {type(loss).__name__}")
        if isinstance(budget_mb, bool) or not isinstance(budget_mb, (int, float)) or not (
                math.isfinite(budget_mb) and budget_mb >= 0):
            raise ValueError(f"budget_mb must be a finite number >= 0 (MiB; 0 disables the cache), got {budget_mb!r}")
        self.loss = loss
        self.budget_bytes = int(budget_mb * _MB)
        self._entries: OrderedDict[Hashable, tuple[dict[str, torch.Tensor], int]] = OrderedDict()
        self._shape: tuple[int, ...] | None = None
        self.hits = self.misses = self.nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def info(self) -> CacheInfo:
        """Hits, misses, entries and bytes so far (:class:`CacheInfo`)."""
        return CacheInfo(self.hits, self.misses, len(self._entries), self.nbytes, self.budget_bytes)

    def clear(self) -> None:
        """Drop every cached sample (the statistics stay)."""
        self._entries.clear()
        self.nbytes = 0

    def targets(self, keys: Sequence[Hashable], ir255: torch.Tensor, vi255: torch.Tensor) -> dict[str, torch.Tensor]:
        """The targets of a batch, as ``loss.source_targets(ir255, vi255)`` gives them.

        Parameters
        ----------
        keys : sequence of hashable, one per sample
            What determines each sample (``batch.keys``); equal keys must mean equal sources.
        ir255, vi255 : Tensor of shape (N, 1, H, W)
            The batch's sources on [0, 255] (only the samples not cached are read).

        Returns
        -------
        dict of str to Tensor, keys :data:`unrolled.training.losses.SOURCE_TARGETS`, batch dimension N
        """
        self.loss._check_shapes(ir255=ir255, vi255=vi255)
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or len(keys) != ir255.shape[0]:
            got = len(keys) if isinstance(keys, Sequence) else type(keys).__name__
            raise ValueError(f"keys must be a sequence of one key per sample ({ir255.shape[0]}), got {got!r}")
        if self._shape is not None and tuple(ir255.shape[1:]) != self._shape:
            raise ValueError(f"this cache holds samples of shape {self._shape}, got a batch of {tuple(ir255.shape)} "
                             "(one cache serves one sampler: build another for another crop size)")
        self._shape = tuple(ir255.shape[1:])
        if self.budget_bytes == 0:
            self.misses += len(keys)
            return self.loss.source_targets(ir255, vi255)

        found: dict[Hashable, dict[str, torch.Tensor]] = {}
        missing: dict[Hashable, int] = {}  # key -> its first sample in the batch
        for i, key in enumerate(keys):
            try:
                entry = self._entries.get(key)
            except TypeError:
                raise TypeError(f"keys[{i}] = {key!r} is not hashable") from None
            if entry is not None:
                self._entries.move_to_end(key)
                found[key] = entry[0]
            elif key not in found:
                missing.setdefault(key, i)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        new = {}
        if missing:
            rows = torch.tensor(list(missing.values()))
            computed = self.loss.source_targets(ir255[rows], vi255[rows])
            for j, key in enumerate(missing):
                # clone(): a compact copy of sample j in its own layout (channels-last feature maps stay so)
                new[key] = {name: computed[name][j].clone() for name in SOURCE_TARGETS}
            found.update(new)
        if new and len(new) == len(keys):  # every sample new (and once): the batch computed is the batch asked for
            out = computed
        else:
            out = {name: _stack([found[key][name] for key in keys]) for name in SOURCE_TARGETS}
        for key, entry in new.items():
            size = sum(t.numel() * t.element_size() for t in entry.values())
            self._entries[key] = (entry, size)
            self.nbytes += size
        while self.nbytes > self.budget_bytes:
            _, (_, size) = self._entries.popitem(last=False)
            self.nbytes -= size
        return out


def _stack(samples: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-sample tensors into a batch; (C, H, W) feature maps into a channels-last (N, C, H, W), as VGG-16
    gives them (:class:`~unrolled.training.losses.VGGFeatures`), so that the loss reduces them in the same order."""
    first = samples[0]
    layout = torch.channels_last if first.dim() == 3 else torch.contiguous_format
    out = torch.empty((len(samples), *first.shape), dtype=first.dtype, memory_format=layout)
    for j, t in enumerate(samples):
        out[j].copy_(t)
    return out
