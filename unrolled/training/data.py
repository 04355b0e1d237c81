"""Training data for LRRNet: infrared/visible pairs from folders, random crops and flips from a seeded stream.

A data folder holds its pairs in one of two layouts, found automatically:

* ``DIR/ir/NAME.EXT`` and ``DIR/vi/NAME.EXT``: the two images of a pair have the same file stem (the extensions may
  differ), as in ``../shared/data/roadscene`` and ``../shared/data/tno_train``;
* ``DIR/NAME_ir.EXT`` and ``DIR/NAME_vi.EXT`` side by side (as the bundled demo pair ``llrr/data/demo_{ir,vi}.png``).

Every image is read as grey on the [0, 255] scale: 8-bit grey as it is, colour (RGB, palette, with or without alpha)
converted to luma with the ITU-R 601-2 weights ``L = 0.299 R + 0.587 G + 0.114 B`` rounded to 8 bits (Pillow's "L"
mode, the same conversion as :func:`llrr.io.load_grey`), 16-bit grey divided by 257 (65535 -> 255). All pairs are
read once into memory (8-bit images as uint8: the 287 training pairs here take about 100 MB).

:class:`CropSampler` draws batches: pairs are visited in a random order that is reshuffled at every epoch; each draw
takes a ``crop x crop`` window at a uniformly random position, the same in both images, and flips it horizontally
and vertically with probability 1/2 each. Images smaller than the crop are rejected when the data is loaded (an error
naming the file): padding would teach the network reflection artefacts, and every image here is at least 161 pixels
on its short side. The sampler owns its ``numpy.random.Generator`` (PCG64 seeded by ``seed``); its
:meth:`~CropSampler.state_dict` captures the stream exactly, so a resumed run draws the same batches as an
uninterrupted one.

Network inputs are min-max normalised per crop, ``(x - min) / (max - min + 1e-5)`` (the authors' eps), and the loss
targets are the raw crops on [0, 255], as in the authors' training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from solvers._files import IMAGE_SUFFIXES, images_by_stem
from solvers._images import read_grey

from ..inference import MINMAX_EPS, minmax01

__all__ = ["ImagePair", "Batch", "find_pairs", "read_grey", "PairDataset", "CropSampler", "minmax01", "resize_bilinear",
           "IMAGE_SUFFIXES", "MINMAX_EPS", "SAMPLINGS"]

SAMPLINGS = ("crop", "resize", "scale")


@dataclass(frozen=True)
class ImagePair:
    """One infrared/visible pair: its name (the shared file stem) and the two paths (None for in-memory pairs)."""

    name: str
    ir: Path | None
    vi: Path | None


@dataclass(frozen=True)
class Batch:
    """One training batch, every tensor float32 of shape (B, 1, crop, crop).

    ``ir01``/``vi01`` are the network inputs (per-crop min-max to [0, 1]); ``ir255``/``vi255`` the raw crops on
    [0, 255] (the loss targets). ``keys``: with ``sampling="resize"``, one ``(pair index, flip_v, flip_h)`` per
    sample, which determines it (equal keys of one sampler: equal samples), so that what depends on the sample
    alone can be cached (:mod:`unrolled.training.feature_cache`); None for random windows ("crop", "scale").
    """

    ir01: torch.Tensor
    vi01: torch.Tensor
    ir255: torch.Tensor
    vi255: torch.Tensor
    keys: tuple[tuple[int, bool, bool], ...] | None = None

    def __len__(self) -> int:
        return int(self.ir01.shape[0])

    def to(self, device) -> Batch:
        """The batch with its tensors on ``device`` (itself where they are there already)."""
        if self.ir01.device == torch.device(device):
            return self
        return Batch(*(t.to(device) for t in (self.ir01, self.vi01, self.ir255, self.vi255)), self.keys)

    def part(self, index: range) -> Batch:
        """The samples ``index`` (a contiguous range) of the batch: one process's share of a global batch in a
        distributed run (:func:`unrolled.distributed.shard`)."""
        sl = slice(index.start, index.stop)
        return Batch(self.ir01[sl], self.vi01[sl], self.ir255[sl], self.vi255[sl],
                     None if self.keys is None else self.keys[sl])


def _flat_layout(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    ir: dict[str, Path] = {}
    vi: dict[str, Path] = {}
    for stem, p in images_by_stem(folder, "data").items():
        for suffix, side in (("_ir", ir), ("_vi", vi)):
            if stem.endswith(suffix) and len(stem) > len(suffix):
                name = stem[: -len(suffix)]
                if name in side:
                    raise ValueError(f"two images for pair {name!r} in {folder}: {side[name].name} and {p.name}")
                side[name] = p
    return ir, vi


def find_pairs(directory) -> list[ImagePair]:
    """The infrared/visible pairs of one data folder, sorted by name (layouts in the module docstring).

    Raises
    ------
    FileNotFoundError
        ``directory`` is not a folder.
    ValueError
        No pairs, or an image without its partner (both are named).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"data directory not found: {folder}")
    if (folder / "ir").is_dir() and (folder / "vi").is_dir():
        ir, vi = images_by_stem(folder / "ir", "ir"), images_by_stem(folder / "vi", "vi")
        layout = f"{folder}/ir/NAME and {folder}/vi/NAME"
    else:
        ir, vi = _flat_layout(folder)
        layout = f"{folder}/NAME_ir.EXT and {folder}/NAME_vi.EXT"
    if not ir and not vi:
        raise ValueError(f"no IR/VI pairs found in {folder}: expected ir/ and vi/ subfolders holding images with the "
                         f"same file names, or files NAME_ir.EXT and NAME_vi.EXT (EXT one of {IMAGE_SUFFIXES})")
    lonely = sorted(str(p) for k, p in ir.items() if k not in vi) + sorted(str(p) for k, p in vi.items() if k not in ir)
    if lonely:
        more = f" and {len(lonely) - 5} more" if len(lonely) > 5 else ""
        raise ValueError(f"images without a partner in {folder} (pairs are {layout}): {', '.join(lonely[:5])}{more}")
    return [ImagePair(name, ir[name], vi[name]) for name in sorted(ir)]


class PairDataset:
    """Every pair of the given data folders, read into memory as grey [0, 255] arrays.

    Parameters
    ----------
    directories : sequence of path
        Data folders (layouts in the module docstring); at least one.
    min_size : int, optional
        Reject (ValueError naming the file) any image whose height or width is below this (the crop size).
    progress : bool
        Show a tqdm bar while reading.

    Attributes
    ----------
    pairs : list of ImagePair
    images : list of (ir, vi) arrays of shape (H, W), equal shapes within a pair
    """

    def __init__(self, directories: Sequence, *, min_size: int | None = None, progress: bool = False):
        from tqdm.auto import tqdm

        if isinstance(directories, (str, Path)) or len(directories) == 0:
            raise ValueError(f"directories must be a non-empty list of data folders, got {directories!r}")
        self.directories = tuple(Path(d) for d in directories)
        self.pairs = [pair for d in self.directories for pair in find_pairs(d)]
        self.images: list[tuple[np.ndarray, np.ndarray]] = []
        for pair in tqdm(self.pairs, desc="reading pairs", unit="pair", disable=not progress, leave=False):
            ir, vi = read_grey(pair.ir), read_grey(pair.vi)
            if ir.shape != vi.shape:
                raise ValueError(f"pair {pair.name!r}: {pair.ir} is {ir.shape[1]}x{ir.shape[0]} but {pair.vi} is "
                                 f"{vi.shape[1]}x{vi.shape[0]} (width x height); the two images must be registered")
            if min_size is not None and min(ir.shape) < min_size:
                raise ValueError(f"{pair.ir} (and its partner) is {ir.shape[1]}x{ir.shape[0]}, smaller than the "
                                 f"{min_size}x{min_size} crop; remove the pair or lower the crop size")
            self.images.append((ir, vi))

    @classmethod
    def from_arrays(cls, images: Sequence[tuple[np.ndarray, np.ndarray]], *, min_size: int | None = None
                    ) -> PairDataset:
        """A dataset of in-memory (ir, vi) grey images on [0, 255] (uint8, or floats kept as float32).

        Pairs are named ``"0"``, ``"1"``, ...; their paths are None.
        """
        self = cls.__new__(cls)
        self.directories, self.pairs, self.images = (), [], []
        for i, (ir, vi) in enumerate(images):
            ir, vi = (a if a.dtype == np.uint8 else a.astype(np.float32) for a in map(np.asarray, (ir, vi)))
            if ir.ndim != 2 or ir.shape != vi.shape:
                raise ValueError(f"pair {i}: ir and vi must be 2-D grey images of one shape, got {ir.shape} and "
                                 f"{vi.shape}")
            if min_size is not None and min(ir.shape) < min_size:
                raise ValueError(f"pair {i} is {ir.shape[1]}x{ir.shape[0]}, smaller than the {min_size}x{min_size} "
                                 "crop")
            self.pairs.append(ImagePair(str(i), None, None))
            self.images.append((ir, vi))
        return self

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[i]

    def names(self) -> list[str]:
        """The name of every pair, in order (a resumed run checks that it reads the same data)."""
        return [p.name for p in self.pairs]

    def subset(self, indices) -> PairDataset:
        """A dataset of the pairs at ``indices`` (in that order), sharing their arrays with this one."""
        out = type(self).__new__(type(self))
        out.directories = self.directories
        out.pairs = [self.pairs[i] for i in indices]
        out.images = [self.images[i] for i in indices]
        return out


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """A 2-D image resized to ``size x size`` by bilinear interpolation, float32 on the input's scale.

    Pixel centres are aligned (``align_corners=False``, no antialiasing): the sampling of OpenCV's
    ``cv2.resize(..., INTER_LINEAR)`` used by the authors' training code.

    Examples
    --------
    >>> resize_bilinear(np.array([[0, 100], [100, 200]], np.uint8), 4).round(1)
    array([[  0.,  25.,  75., 100.],
           [ 25.,  50., 100., 125.],
           [ 75., 100., 150., 175.],
           [100., 125., 175., 200.]], dtype=float32)
    """
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


class CropSampler:
    """A reproducible, resumable stream of batches of random crops and flips of a :class:`PairDataset`.

    Parameters
    ----------
    dataset : PairDataset
    crop : int
        Side of the square crops (every image must be at least this large).
    batch : int
        Crops per batch.
    seed : int
        Seed of the sampler's own PCG64 generator (no global random state is used).
    flips : bool
        Random horizontal and vertical flips (probability 1/2 each).
    sampling : {"crop", "resize", "scale"}
        How a pair becomes a ``crop x crop`` sample:

        * ``"crop"``: a window of ``crop x crop`` pixels at a uniformly random position (native resolution);
        * ``"resize"``: the whole image resized to ``crop x crop`` (bilinear, :func:`resize_bilinear`), as the
          authors' training code does with KAIST (``cv2.resize``): the aspect ratio is not kept, the scene is seen
          whole at a coarser scale;
        * ``"scale"``: a square window whose side is drawn uniformly from ``crop`` .. the short side, at a random
          position, resized to ``crop x crop``: scales between the two above.

        Flips apply after, in every mode.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ir, vi = rng.integers(0, 256, (2, 40, 50), dtype=np.uint8)
    >>> sampler = CropSampler(PairDataset.from_arrays([(ir, vi)]), crop=32, batch=2, seed=0)
    >>> batch = sampler.next_batch()
    >>> batch.ir01.shape, float(batch.ir01.amin()), float(batch.vi255.amax())
    (torch.Size([2, 1, 32, 32]), 0.0, 255.0)
    >>> state = sampler.state_dict()  # resumable: the same batches follow after load_state_dict(state)
    """

    def __init__(self, dataset: PairDataset, *, crop: int = 128, batch: int = 8, seed: int = 0, flips: bool = True,
                 sampling: str = "crop"):
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        for name, value in (("crop", crop), ("batch", batch)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if len(dataset) == 0:
            raise ValueError("the dataset holds no pairs")
        small = [p for p, (ir, _) in zip(dataset.pairs, dataset.images, strict=True) if min(ir.shape) < crop]
        if small:
            where = small[0].ir if small[0].ir is not None else f"pair {small[0].name!r}"
            raise ValueError(f"{where} is smaller than the {crop}x{crop} crop ({len(small)} such pair(s))")
        self.dataset, self.crop, self.batch, self.flips = dataset, int(crop), int(batch), bool(flips)
        self.sampling = sampling
        self._rng = np.random.Generator(np.random.PCG64(int(seed)))
        self._order: list[int] = []
        self._position = 0
        self.epoch = 0

    def _next_index(self) -> int:
        if self._position >= len(self._order):
            self._order = self._rng.permutation(len(self.dataset)).tolist()
            self._position = 0
            self.epoch += 1
        i = self._order[self._position]
        self._position += 1
        return i

    def next_crops(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch as raw float32 arrays ``(ir255, vi255)`` of shape (B, 1, crop, crop)."""
        return self._draw()[:2]

    def _draw(self) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        c = self.crop
        ir_out = np.empty((self.batch, 1, c, c), np.float32)
        vi_out = np.empty_like(ir_out)
        keys = []
        for b in range(self.batch):
            index = self._next_index()
            ir, vi = self.dataset[index]
            if self.sampling == "resize":
                ir, vi = resize_bilinear(ir, c), resize_bilinear(vi, c)
                side = c
            elif self.sampling == "scale":
                side = int(self._rng.integers(c, min(ir.shape) + 1))
            else:
                side = c
            y = int(self._rng.integers(0, ir.shape[0] - side + 1))
            x = int(self._rng.integers(0, ir.shape[1] - side + 1))
            flip_v, flip_h = (self._rng.random(2) < 0.5) & self.flips
            keys.append((index, bool(flip_v), bool(flip_h)))
            for src, out in ((ir, ir_out), (vi, vi_out)):
                window = src[y : y + side, x : x + side]
                window = resize_bilinear(window, c) if side != c else window
                window = window[::-1] if flip_v else window
                out[b, 0] = window[:, ::-1] if flip_h else window
        return ir_out, vi_out, tuple(keys) if self.sampling == "resize" else None  # resize: (y, x) = (0, 0)

    def next_batch(self) -> Batch:
        """The next :class:`Batch` (network inputs min-max to [0, 1], targets on [0, 255], keys for "resize")."""
        ir, vi, keys = self._draw()
        return Batch(torch.from_numpy(minmax01(ir)), torch.from_numpy(minmax01(vi)),
                     torch.from_numpy(ir), torch.from_numpy(vi), keys)

    def state_dict(self) -> dict:
        """Everything that determines the rest of the stream (plain Python types: safe for ``torch.load``)."""
        return {"bit_generator": self._rng.bit_generator.state, "order": list(self._order),
                "position": self._position, "epoch": self.epoch, "pairs": len(self.dataset),
                "crop": self.crop, "batch": self.batch, "flips": self.flips, "sampling": self.sampling}

    def load_state_dict(self, state: dict) -> None:
        """Continue the stream saved by :meth:`state_dict` (same dataset size, crop, batch and flips)."""
        mine = {"pairs": len(self.dataset), "crop": self.crop, "batch": self.batch, "flips": self.flips,
                "sampling": self.sampling}
        saved = {"sampling": "crop", **state}  # states written before "sampling" existed are "crop"
        differ = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
        if differ:
            raise ValueError("the sampler state was saved for different data or settings (saved, now): "
                             + ", ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in differ.items()))
        self._rng.bit_generator.state = state["bit_generator"]
        self._order = [int(i) for i in state["order"]]
        self._position = int(state["position"])
        self.epoch = int(state["epoch"])
