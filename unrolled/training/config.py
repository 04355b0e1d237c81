"""The training recipe as a frozen dataclass, read from and written to TOML.

A TOML file holds the top-level keys of :class:`TrainConfig`, then a ``[loss]`` table (:class:`LossWeights`, passed
to :class:`~unrolled.training.losses.FusionLoss`) and a ``[model]`` table (:class:`~unrolled.nets.lrrnet.LRRNetConfig`).
Keys left out take the defaults below; an unknown key or a bad value is an error naming the key, the value and the file.

Relative paths in a TOML file (``data``, ``out_dir``, ``vgg_weights``) are relative to **the folder of that file**,
so a config runs the same from any working directory: ``configs/default.toml`` names ``../../shared/data/roadscene``
for ``/work/shared/data/roadscene`` beside the repository ``/work/main``. Paths given to the dataclass directly are
relative to the working directory. :meth:`TrainConfig.from_toml` stores absolute paths.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..device import PRECISIONS
from ..nets.lrrnet import LRRNetConfig
from .data import SAMPLINGS
from .init import check_mix

__all__ = ["TrainConfig", "LossWeights", "VGG_CONVENTIONS", "trainable_parameters"]

VGG_CONVENTIONS = ("caffe-grey255", "torchvision")
INITS = ("random", "algorithm1")
VAL_PROFILES = ("paper", "standard")  # the metric profiles of llrr.metrics (not imported here: llrr is above us)
_PATH_KEYS = ("out_dir", "vgg_weights")
_VGG_SPECIAL = ("default", "random")


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_float(name: str, value, *, positive: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0 or (
            positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (Eq. 10-14); the defaults are the paper's. 0 switches a term off (ablations)."""

    gamma1: float = 10.0
    gamma2: float = 1.5
    w_vi: float = 0.5
    w_ir: float = 3.0
    beta2: float = 0.01
    beta3: float = 0.5
    gamma4: float = 2000.0
    middle_contrast: float = 0.0
    """Not a weight: > 0 rescales the middle term's sources to this standard deviation (on [0, 255]) before their
    features are mixed (:func:`unrolled.training.losses.with_contrast`, a deviation from the paper); 0: the paper."""
    gamma_int: float = 0.0
    gamma_grad: float = 0.0
    """The content term (:func:`unrolled.training.losses.content_loss`: brighter source, stronger edge), not in the
    paper; 0: off (the paper)."""
    balance_edges: float = 0.0
    """Not a weight: > 0 rescales each source's edge map to the pair's mean edge strength before the content term's
    maximum (:func:`unrolled.training.losses.content_loss`); 0: the plain maximum."""
    gamma_vif_ir: float = 0.0
    gamma_vif_vi: float = 0.0
    """Minus each source's VIF of the fused image (:func:`unrolled.training.vif_loss.vif_loss`); 0: off."""

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _check_float(f"loss.{f.name}", getattr(self, f.name)))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run of LRRNet (:func:`unrolled.training.loop.train`).

    Parameters
    ----------
    data : tuple of str
        Data folders of IR/VI pairs (:mod:`unrolled.training.data` describes the layouts).
    out_dir : str
        Where the run writes ``log.csv``, ``losses.png``, ``checkpoint.pt`` and the final ``lrrnet.pt`` +
        ``lrrnet.json``.
    crop, batch : int
        Square sample side (>= 8: the VGG loss pools three times) and samples per step.
    sampling : {"crop", "resize", "scale"}
        How a pair becomes a ``crop x crop`` sample (:class:`~unrolled.training.data.CropSampler`): a random window at
        native resolution ("crop"), the whole image resized ("resize", the authors' KAIST set-up), or a random window of
        random size resized ("scale").
    steps : int
        Optimiser steps of the whole run.
    lr, weight_decay : float
        Adam's learning rate and (coupled, L2) weight decay. Defaults: the authors' code (1e-5 and 0.9).
    seed : int
        Seeds the initial weights (torch) and the data stream (the sampler's own generator).
    init : {"random", "algorithm1"}
        The initial weights: the authors' random initialisation, or the network equal to T iterations of Algorithm 1
        with dictionaries learned on the training pairs (:func:`unrolled.training.init.lrrnet_from_training_data`,
        seeded by ``seed``; the images as the sampling draws them: resized to the crop for "resize"), its decoder
        averaging the two reconstructions. "algorithm1" needs the "llrr" extractor.
    init_low, init_sparse : (float, float)
        With ``init = "algorithm1"``: the decoder's weights (infrared, visible) of the two sources' base and salient
        parts (:func:`unrolled.training.init.lrrnet_from_problems`); default (0.5, 0.5) each, the average of the two
        reconstructions.
    trainable : tuple of str
        The parameters the optimiser changes: names of ``LRRNet.named_parameters()`` matched by any of these fnmatch
        patterns (e.g. ``["*.theta", "*.lam3"]``: the thresholds alone); the others stay at their initial values.
        Default ``["*"]``: all. A pattern that matches no parameter is an error.
    checkpoint_every : int
        Write ``checkpoint.pt`` (and redraw the loss plot) every this many steps; 0: only at the end.
    fast : bool
        Use the fast training path (:mod:`unrolled.fast.train`) where it supports the model; else eager torch.
    threads : int
        torch and numba threads; 0 leaves their defaults (under torchrun: the CPUs shared equally among the processes
        of the machine, :func:`unrolled.distributed.threads_per_process`).
    device : str
        Where the network and the loss run: "cpu" (default; the fast path where it supports the model), "cuda",
        "cuda:N" (eager autograd on that GPU; under torchrun "cuda" means each process's ``cuda:LOCAL_RANK``) or another
        torch device (:func:`unrolled.device.resolve_device`).
    precision : {"float32", "bfloat16"}
        "bfloat16": the forward and the loss under ``torch.autocast`` (eager path; the weights and Adam stay float32).
    feature_cache_mb : int
        Memory (MiB) for caching the sources' VGG-16 targets of the loss per sample, with ``sampling = "resize"``
        (:class:`~unrolled.training.feature_cache.SourceTargetCache`: 8 MiB a sample at 128 x 128, least recently used
        dropped first); 0: none. Speed only: the loss is the same.
    vgg_weights : str
        VGG-16 file for the loss; "default": :data:`unrolled.training.losses.DEFAULT_VGG_WEIGHTS` (the Caffe weights in
        ../shared/weights); "random": random weights seeded by ``seed`` (smoke tests only: the loss is meaningless).
    vgg_convention : {"caffe-grey255", "torchvision"}
        Input convention of those weights (:func:`unrolled.training.losses.vgg16_features`).
    val_fraction : float
        Share of the training pairs held out for validation (:func:`unrolled.training.validation.split_pairs`: chosen by
        the sha256 of their names, the same for every run on the same data); 0: no validation.
    val_every : int
        Validate every this many steps (>= 1 with a validation split; steps that are not a multiple of it are never
        validated, so a run extended with ``--resume`` validates as an uninterrupted one).
    val_metric : str
        The validation score that selects ``best.pt``: ``val_total`` (the Eq. 10 loss of the validation pairs, each
        resized to the crop, no flips) or ``val_<term>``, or with ``llrr train`` a metric of ``val_profile``
        (``"VIF"``, ``"En"``, ...; its direction comes from the metric registry).
    val_patience : int
        Stop after this many validations without improving ``val_metric`` (early stopping); 0: never.
    val_profile : {"paper", "standard"}
        Metric profile that ``llrr train`` scores the validation pairs with (fused as ``llrr fuse`` does).
    loss : LossWeights
    model : LRRNetConfig
        The architecture (``blocks`` and ``extractor`` for the ablations of Section 5.2).

    Examples
    --------
    >>> config = TrainConfig(data=["data/pairs"], steps=600, model=LRRNetConfig(blocks=6))
    >>> print(config.to_toml().splitlines()[0])
    data = ["data/pairs"]
    >>> TrainConfig.from_dict(config.to_dict()) == config
    True
    >>> TrainConfig(data=["data/pairs"], crop=4)
    Traceback (most recent call last):
    ValueError: crop must be an integer >= 8, got 4
    """

    data: tuple[str, ...]
    out_dir: str = "runs/train"
    crop: int = 128
    sampling: str = "crop"
    batch: int = 8
    steps: int = 10_000
    lr: float = 1e-5
    weight_decay: float = 0.9
    seed: int = 0
    init: str = "random"
    init_low: tuple[float, float] = (0.5, 0.5)
    init_sparse: tuple[float, float] = (0.5, 0.5)
    checkpoint_every: int = 100
    fast: bool = True
    threads: int = 0
    device: str = "cpu"
    precision: str = "float32"
    feature_cache_mb: int = 2048
    vgg_weights: str = "default"
    vgg_convention: str = "caffe-grey255"
    val_fraction: float = 0.0
    trainable: tuple[str, ...] = ("*",)
    val_every: int = 100
    val_metric: str = "val_total"
    val_patience: int = 0
    val_profile: str = "paper"
    loss: LossWeights = field(default_factory=LossWeights)
    model: LRRNetConfig = field(default_factory=LRRNetConfig)

    def __post_init__(self):
        data = self.data
        if isinstance(data, (str, Path)) or not isinstance(data, (list, tuple)) or len(data) == 0 or not all(
                isinstance(d, (str, Path)) and str(d) for d in data):
            raise ValueError(f"data must be a non-empty list of data folders, got {data!r}")
        object.__setattr__(self, "data", tuple(str(d) for d in data))
        for name in _PATH_KEYS:
            value = getattr(self, name)
            if not isinstance(value, (str, Path)) or not str(value):
                raise ValueError(f"{name} must be a path, got {value!r}")
            object.__setattr__(self, name, str(value))
        _check_int("crop", self.crop, 8)
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        for name in ("batch", "steps"):
            _check_int(name, getattr(self, name), 1)
        for name in ("seed", "checkpoint_every", "threads", "val_patience"):
            _check_int(name, getattr(self, name), 0)
        _check_int("val_every", self.val_every, 1)
        patterns = self.trainable
        if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)) or not patterns or not all(
                isinstance(q, str) and q for q in patterns):
            raise ValueError(f"trainable must be a non-empty list of parameter name patterns (fnmatch, e.g. "
                             f"['*.theta']), got {patterns!r}")
        object.__setattr__(self, "trainable", tuple(patterns))
        fraction = self.val_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ValueError(f"val_fraction must be a number in [0, 1), got {fraction!r}")
        object.__setattr__(self, "val_fraction", float(fraction))
        if not isinstance(self.val_metric, str) or not self.val_metric:
            raise ValueError(f"val_metric must be the name of a validation score, got {self.val_metric!r}")
        if self.val_profile not in VAL_PROFILES:
            raise ValueError(f"val_profile must be one of {VAL_PROFILES}, got {self.val_profile!r}")
        _check_int("feature_cache_mb", self.feature_cache_mb, 0)  # the feature cache (issue 14)
        object.__setattr__(self, "lr", _check_float("lr", self.lr, positive=True))
        object.__setattr__(self, "weight_decay", _check_float("weight_decay", self.weight_decay))
        if not isinstance(self.fast, bool):
            raise ValueError(f"fast must be true or false, got {self.fast!r}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"device must be a torch device name ('cpu', 'cuda', 'cuda:1'), got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.vgg_convention not in VGG_CONVENTIONS:
            raise ValueError(f"vgg_convention must be one of {VGG_CONVENTIONS}, got {self.vgg_convention!r}")
        if not isinstance(self.loss, LossWeights):
            raise TypeError(f"loss must be a LossWeights, got {type(self.loss).__name__}")
        if (self.loss.gamma_vif_ir > 0 or self.loss.gamma_vif_vi > 0) and self.crop < 72:  # vif_loss.MIN_SIZE
            raise ValueError(f"loss.gamma_vif_ir/gamma_vif_vi need crop >= 72 (VIF's pyramid), got crop {self.crop}")
        if not isinstance(self.model, LRRNetConfig):
            raise TypeError(f"model must be an LRRNetConfig, got {type(self.model).__name__}")
        if self.model.channels != 1:
            raise ValueError(f"model.channels must be 1 (training fuses grey images), got {self.model.channels}")
        if self.init == "algorithm1" and self.model.extractor != "llrr":
            raise ValueError(f"init = 'algorithm1' builds the 'llrr' extractor; model.extractor is "
                             f"{self.model.extractor!r}")
        for name in ("init_low", "init_sparse"):
            object.__setattr__(self, name, check_mix(getattr(self, name), name, self.model.fusion))
            if self.init != "algorithm1" and getattr(self, name) != (0.5, 0.5):
                raise ValueError(f"{name} sets the decoder of init = 'algorithm1'; init is {self.init!r}")

    # ---- dictionaries ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain nested dict (lists for tuples), as in the TOML file."""
        d = asdict(self)
        d["data"] = list(self.data)
        d["trainable"] = list(self.trainable)
        return d

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "config") -> TrainConfig:
        """Build from a nested dict (as :meth:`to_dict` gives); errors name ``source`` (e.g. the file)."""
        if not isinstance(d, dict):
            raise TypeError(f"{source}: a config is a table of keys, got {type(d).__name__}")
        top = {f.name for f in fields(cls)}
        tables = {"loss": LossWeights, "model": LRRNetConfig}
        unknown = sorted(set(d) - top)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(top)}")
        if "data" not in d:
            raise ValueError(f"{source}: the key 'data' (list of data folders) is required")
        kwargs = dict(d)
        for name, kind in tables.items():
            sub = kwargs.get(name, {})
            if isinstance(sub, kind):
                continue
            if not isinstance(sub, dict):
                raise ValueError(f"{source}: [{name}] must be a table of keys, got {sub!r}")
            known = {f.name for f in fields(kind)}
            bad = sorted(set(sub) - known)
            if bad:
                raise ValueError(f"{source}: unknown key(s) {[f'{name}.{k}' for k in bad]}; known keys in "
                                 f"[{name}]: {sorted(known)}")
            try:
                kwargs[name] = kind(**sub)
            except (TypeError, ValueError) as exc:
                msg = str(exc) if str(exc).startswith(f"{name}.") else f"{name}.{exc}"
                raise ValueError(f"{source}: {msg}") from None
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    # ---- TOML -----------------------------------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, path) -> TrainConfig:
        """Read a TOML file; relative paths in it are relative to its folder (stored absolute).

        A top-level ``base = "OTHER.toml"`` (relative to this file) starts from that file's settings: this file's
        keys replace the base's, key by key inside ``[loss]`` and ``[model]`` (the ablation configs are written so).
        """
        return cls.from_dict(_read_toml(Path(path), ()), source=str(path))

    def to_toml(self, path=None) -> str:
        """The config as TOML text; also written (atomically) to ``path`` when given."""
        d = self.to_dict()
        lines = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
        for name in ("loss", "model"):
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in d[name].items()]
        text = "\n".join(lines) + "\n"
        if path is not None:
            from .._atomic import atomic_write_text

            atomic_write_text(path, text)
        return text


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict:
    """The settings of ``path`` merged onto those of its ``base`` (recursively), paths made absolute."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    if not path.is_file():
        via = f" (the base of {chain[-1]})" if chain else ""
        raise FileNotFoundError(f"config file not found: {path}{via}")
    if path.resolve() in chain:
        raise ValueError(f"{path}: circular base chain: {' -> '.join(str(p) for p in (*chain, path.resolve()))}")
    try:
        with path.open("rb") as fh:
            d = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    folder = path.resolve().parent
    if isinstance(d.get("data"), list):
        d["data"] = [_join(folder, p) for p in d["data"]]
    for name in _PATH_KEYS:
        if name in d and not (name == "vgg_weights" and d[name] in _VGG_SPECIAL):
            d[name] = _join(folder, d[name])
    base = d.pop("base", None)
    if base is None:
        return d
    if not isinstance(base, str) or not base:
        raise ValueError(f"{path}: base must be the path of another config file, got {base!r}")
    merged = _read_toml(folder / base, (*chain, path.resolve()))
    for key, value in d.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _join(base: Path, p) -> str:
    if not isinstance(p, (str, Path)):
        return p  # the dataclass names the bad value
    p = Path(p).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return json.dumps(v).replace("\x7f", "\\u007f")  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def trainable_parameters(model, patterns) -> list:
    """The parameters of ``model`` whose names match one of the fnmatch ``patterns`` (``TrainConfig.trainable``); the
    others are frozen (``requires_grad`` False). A pattern that matches nothing is an error naming it."""
    from fnmatch import fnmatchcase

    named = list(model.named_parameters())
    unused = [q for q in patterns if not any(fnmatchcase(n, q) for n, _ in named)]
    if unused:
        raise ValueError(f"trainable: pattern(s) {unused} match no parameter of the model; its parameters are named "
                         f"like {[n for n, _ in named[:3]]} ... {named[-1][0]!r}")
    chosen = []
    for name, p in named:
        p.requires_grad_(any(fnmatchcase(name, q) for q in patterns))
        if p.requires_grad:
            chosen.append(p)
    return chosen
