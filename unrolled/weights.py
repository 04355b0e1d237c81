"""Weights: the registry of the project's own weights, and strict loading of checkpoints (the authors' released
LRRNet file included) into :class:`~unrolled.nets.lrrnet.LRRNet`.

The registry (:data:`WEIGHTS`, :func:`list_weights`, :func:`resolve_weights`) names small weight files shipped inside
the package (``unrolled/weights_data/``), each with its sha256 and metadata, as torchvision does. Only the project's
own weights ship; the authors' checkpoint is read from a path the user gives.

The released file (hli1221/imagefusion-LRRNet, ``final_lrr_net_..._block_4.model``) is a plain state_dict with keys
``get_ls1.*`` (the branch fed the infrared image), ``get_ls2.*`` (visible) and ``decoder.*``. :func:`official_to_ours`
renames them to this package's modules; nothing is copied from the authors' code.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from ._atomic import safe_torch_load, sha256_file
from .nets.lrrnet import LRRNet, LRRNetConfig

__all__ = ["lrrnet", "cached_model", "official_to_ours", "load_official_checkpoint", "OFFICIAL_SHA256",
           "WeightsEntry", "WEIGHTS", "list_weights", "read_registry", "resolve_weights", "sha256_of", "verify_file"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights_data"


@dataclass(frozen=True)
class WeightsEntry:
    """One shipped weight file, as its sidecar describes it: registry ``name``, ``kind`` ("lrrnet" or
    "learned-solver"), ``file`` (inside ``unrolled/weights_data``), its sha256, a description and the whole sidecar
    (``meta``: config, data, steps, scores)."""

    name: str
    file: str
    sha256: str
    description: str
    kind: str = "lrrnet"
    meta: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def read_registry(folder: Path | None = None) -> dict[str, WeightsEntry]:
    """The shipped weights of ``folder`` (default ``unrolled/weights_data``): one entry per JSON sidecar that names
    itself (``"name"``: its registry name), sorted by name. Sidecars without a name are not registered; a named one
    without ``file`` or ``sha256``, or a name used twice, is an error naming the sidecar."""
    folder = WEIGHTS_DIR if folder is None else Path(folder)
    entries = {}
    for side in sorted(folder.glob("*.json")):
        meta = json.loads(side.read_text())
        if "name" not in meta:
            continue
        missing = [k for k in ("file", "sha256") if k not in meta]
        if missing:
            raise ValueError(f"weights sidecar {side} lacks {missing}")
        if meta["name"] in entries:
            raise ValueError(f"weights sidecar {side} repeats the registry name {meta['name']!r}")
        entries[meta["name"]] = WeightsEntry(meta["name"], meta["file"], meta["sha256"], meta.get("description", ""),
                                             meta.get("kind", "lrrnet"), meta)
    return dict(sorted(entries.items()))


WEIGHTS: dict[str, WeightsEntry] = read_registry()
"""Named weights shipped with the package, read from the sidecars in ``unrolled/weights_data``."""


def list_weights(kind: str = "lrrnet") -> list[str]:
    """Names of the shipped weights of one kind ("lrrnet": for :func:`lrrnet` and ``llrr fuse``; "learned-solver")."""
    return [name for name, entry in WEIGHTS.items() if entry.kind == kind]


def sha256_of(path) -> str:
    """The sha256 of a file (hex)."""
    return sha256_file(path)


_VERIFIED: dict[tuple[Path, str], tuple[int, int, int]] = {}
"""(shipped file, registry sha256) pairs that matched, with the :func:`_state` the file had then."""


def _state(path: Path) -> tuple[int, int, int]:
    """What tells a file's versions apart without reading it: modification time, size and inode (an atomic rewrite,
    as every writer here does, gets a new inode even within one timestamp tick)."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def verify_file(path: Path, sha256: str, what: str) -> Path:
    """``path`` if its sha256 is ``sha256`` (hashed once per process and state of the file: modification time, size
    and inode), else ValueError naming ``what``; the one check every shipped weight goes through."""
    state = _state(path)
    if _VERIFIED.get((path, sha256)) != state:
        digest = sha256_of(path)
        if digest != sha256:
            raise ValueError(f"{what}: {path} has sha256 {digest}, its sidecar says {sha256}")
        _VERIFIED[(path, sha256)] = state
    return path


def resolve_weights(weights) -> Path:
    """The file for ``weights``: a registry name of kind "lrrnet" (its sha256 checked by :func:`verify_file`) or an
    existing checkpoint path."""
    if isinstance(weights, str) and weights in list_weights():
        entry = WEIGHTS[weights]
        if not entry.path.is_file():
            raise FileNotFoundError(f"weights {weights!r}: shipped file {entry.path} is missing (broken install?)")
        return verify_file(entry.path, entry.sha256, f"weights {weights!r}")
    path = Path(weights)
    if path.is_file():
        return path
    names = list_weights()
    if isinstance(weights, str) and not path.suffix and "/" not in weights:
        shipped = f"shipped weights: {names}" if names else "no weights are shipped yet (the training issue adds them)"
        raise ValueError(f"unknown weights name {weights!r}; {shipped}; or pass the path of a checkpoint file")
    raise FileNotFoundError(f"checkpoint not found: {path}")


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int, inode: int) -> LRRNet:
    return load_official_checkpoint(path)


def cached_model(weights) -> LRRNet:
    """The LRRNet of ``weights`` (as :func:`lrrnet`), loaded once per process and state of its file (path,
    modification time, size, inode; a rewritten file is read again), in eval mode.

    The model is shared by every caller: use it, do not change it (:func:`lrrnet` gives a model of one's own). It is
    what :func:`llrr.fuse` and ``llrr fuse`` use, so that fusing a folder resolves, hashes and loads the weights
    once.
    """
    path = resolve_weights(weights)
    return _load(str(path.resolve()), *_state(path))


# sha256 of the released file (../shared/weights/README.md); tests check the shared copy against it.
OFFICIAL_SHA256 = "1de9dd8dee9b650ce69c74ea53e3b9a6b749222f1059a689aabf28f68ee63e29"

_DECODER = {"conv_ReZx": "ir_low", "conv_ReUx": "ir_sparse", "conv_ReZy": "vi_low", "conv_ReUy": "vi_sparse",
            "conv_ReL": "fuse_low", "conv_ReH": "fuse_sparse"}
_RULES = [
    (re.compile(r"^get_ls1\."), "ir."),
    (re.compile(r"^get_ls2\."), "vi."),
    (re.compile(r"\.lamj$"), ".theta"),
    (re.compile(r"\.lamz$"), ".lam3"),
    (re.compile(r"\.conv_W00\.conv2d\."), ".c0.conv."),
    (re.compile(r"\.lrrblock(\d+)\.conv_Wdz\.conv2d\."), r".blocks.\1.c1.conv."),
    (re.compile(r"\.lrrblock(\d+)\.conv_Wdtz\.conv2d\."), r".blocks.\1.c2.conv."),
]


def official_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and reshape the thresholds (1, 2n) -> (2n,) and lam3 (1, 1) -> ()) an authors' state_dict."""
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _RULES:
            new = pattern.sub(repl, new)
        m = re.match(r"^decoder\.(conv_Re[A-Za-z]+)\.conv2d\.(weight|bias)$", new)
        if m and m.group(1) in _DECODER:
            new = f"decoder.{_DECODER[m.group(1)]}.conv.{m.group(2)}"
        if new.endswith(".theta"):
            value = value.reshape(-1)
        elif new.endswith(".lam3"):
            value = value.reshape(())
        out[new] = value
    return out


def _infer_config(state: dict[str, torch.Tensor]) -> LRRNetConfig:
    try:
        n2, channels, k, _ = state["ir.c0.conv.weight"].shape
        blocks = len({key.split(".")[2] for key in state if key.startswith("ir.blocks.")})
        fusion = "cat" if state["decoder.fuse_low.conv.weight"].shape[1] == 2 * channels else "add"
        n = state["decoder.ir_low.conv.weight"].shape[1]
        return LRRNetConfig(n=n, kernel_size=k, blocks=blocks, channels=channels, fusion=fusion, n_sparse=n2 - n)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not an LRRNet (LLRR extractor) state_dict: cannot read its architecture ({exc})") from exc


def _listed(what: str, keys: list[str], shown: int = 4) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} {what} key(s): {', '.join(keys[:shown])}{more}"


def load_official_checkpoint(path, *, map_location: str = "cpu") -> LRRNet:
    """Build an :class:`LRRNet` from the authors' released state_dict file, strictly.

    The architecture (n, kernel size, number of blocks, fusion) is read from the tensor shapes. Any key that is
    missing, unexpected or of the wrong shape is listed in the error.

    Parameters
    ----------
    path : str or Path
        The ``.model`` / ``.pth`` file.

    Returns
    -------
    LRRNet in eval mode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = safe_torch_load(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    ours = official_to_ours(state)
    try:
        config = _infer_config(ours)
    except ValueError:
        config = LRRNetConfig()  # compare with the released architecture, so that the error lists the keys
    model = LRRNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(set(ours) - set(expected))
    misshaped = sorted(f"{k}: file {tuple(ours[k].shape)} vs model {tuple(expected[k].shape)}"
                       for k in set(ours) & set(expected) if ours[k].shape != expected[k].shape)
    if missing or unexpected or misshaped:
        raise ValueError(f"{path} does not match LRRNet({config}): " + "; ".join(
            _listed(what, keys) for what, keys in (("missing", missing), ("unexpected", unexpected),
                                                    ("mis-shaped", misshaped)) if keys))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in ours.items()}, strict=True)
    return model.eval()


def lrrnet(weights=None, **config) -> LRRNet:
    """Build an LRRNet; ``weights`` may be a name of the weights registry (:func:`unrolled.weights.list_weights`) or
    the path of a checkpoint (the authors' released file, or a state_dict of this package), loaded strictly."""
    if weights is None:
        return LRRNet(**config)
    model = copy.deepcopy(cached_model(weights))
    if config and LRRNetConfig(**config) != model.config:
        raise ValueError(f"the checkpoint is the architecture {model.config}, not {LRRNetConfig(**config)}")
    return model
