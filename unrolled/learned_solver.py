r"""The learned LLRR solver (the LISTA idea of Sections 2.1 and 3.2): Algorithm 1 with T = 4, trained on patches.

:class:`~unrolled.nets.llrr.PatchLLRRNet` built by ``from_problem`` *is* Algorithm 1 with T iterations. Here its encoder
``C0`` (:math:`W_e`), the matrices ``G`` of its blocks (:math:`H - \hat\lambda_3 I`), its thresholds ``theta`` and
``lam3`` are trained so that its T = 4 output codes Z reach a low objective of Eq. 5 on real image patches: the
network becomes a 4-step solver that is better than 4 steps of any fixed iteration.

Choices (each with its reason)
------------------------------
* **Loss: the objective of Eq. 5 itself**, with the factorisation optimised out (Eq. 3), i.e. the coding objective
  of :meth:`solvers.LowRankSparseProblem.objective` with the nuclear norm on L:

  .. math:: F(Z) = \tfrac12\|X - DZ\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1 .

  This is the model of the paper, and it needs no solver run to make targets (regressing the FISTA minimiser would,
  and would only reproduce the minimiser of this same F). Its l1 variant is what Algorithm 1 minimises; we train on
  the real model instead, so the learned network may (and does) leave the untrained one's fixed point.
  :func:`eq5_objective` computes F in torch; the nuclear norm is ``torch.linalg.svdvals`` of L, whose gradient is
  :math:`UV^T` (distinct singular values, which real patch sets have).
* **The patch set of F is one crop.** The nuclear norm couples all patches of a set, so F depends on which patches
  are coded together. Training and evaluation both use square crops of ``crop`` pixels (default 64: 29 x 29 = 841
  patches of 8 x 8 at stride 2); the loss is the batch mean of F / n_patches over the crops. On whole images (more
  patches per set) the nuclear term weighs relatively less, and the learned network is not tuned for that.
* **Dictionaries fixed: overcomplete 2-D DCT**, 32 lowest frequencies in D1, 96 in D2, :math:`\lambda_1 = \lambda_2
  = 0.05` on 8 x 8 patches at stride 2: the problem of ``benchmarks/iterative.py``, so both comparisons code the same
  model. The DCT depends on no data, so nothing of the held-out images reaches the model through D. The decoder of
  the network (D1, D2) is frozen at the problem's D; the loss uses D directly.
* **Untied blocks** (one G per block, as LISTA): in a trial of 150 steps (trained on crops of the demo infrared
  image, evaluated on the visible one) they ended 7 % above the minimum of F against 10 % with one shared G; the
  weights stay small (330 KB in float32).
* **Training data**: random ``crop`` x ``crop`` crops with random horizontal flips of the grey ([0, 1]) IR and VI
  images of ../shared/data/tno_train and ../shared/data/roadscene (without ../shared: the infrared image of the
  bundled demo pair, whose visible image is then the held-out one). tno21 (the evaluation set) is never used for
  training; its crops are the held-out patches. Adam with a linear warm-up and cosine decay, fixed seed, float32,
  one thread: the shipped recipe (300 steps of 32 crops, lr 1e-3) trains in under 3 minutes; lr 3e-3 ended worse
  (held-out F 0.00971 against 0.00925 per patch).

Result (docs/learned_solver.md): on 84 held-out tno21 crops the trained T = 4 network ends 7 % above the minimum of F,
Algorithm 1 with k = 4 (the untrained network) 822 % above (and 89 % after 500 iterations, as it minimises the l1
variant); FISTA needs about 100 iterations and ISTA about 500 to reach the trained network's objective.

``python -m benchmarks.learned_solver train --out unrolled/weights_data/llrr_solver_t4.pt`` trains and writes the
weights with a JSON sidecar (sha256, config, training data, held-out objective); ``python -m
benchmarks.learned_solver compare --out docs/learned_solver.md --figure docs/learned_solver.png`` writes the
comparison with Algorithm 1, ISTA and FISTA (both commands live in ``benchmarks/``: they produce the shipped weights
and docs, not library behaviour). :func:`load_learned_solver` returns the shipped network and its problem,
:func:`heldout_crops` the held-out patches of the comparison.

References
----------
K. Gregor, Y. LeCun, "Learning fast approximations of sparse coding", ICML 2010 (LISTA). H. Li et al., "LRRNet",
IEEE TPAMI 45(9), 2023, Sections 2.1, 3.2, Eq. 3 and 5, Algorithm 1.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from solvers import LowRankSparseProblem
from solvers._files import SHARED
from solvers._images import read_grey
from solvers.dictionary import dct_atoms

from ._atomic import atomic_torch_save, atomic_write_text, safe_torch_load, sha256_file
from .nets.llrr import PatchLLRRNet
from .weights import WEIGHTS_DIR, verify_file

__all__ = ["LearnedSolverConfig", "eq5_objective", "patch_objective", "load_images", "random_crops",
           "training_dirs", "train_learned_solver", "save_learned_solver", "load_learned_solver", "heldout_crops",
           "DEFAULT_WEIGHTS"]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = WEIGHTS_DIR / "llrr_solver_t4.pt"
"""The shipped learned solver (registry name "llrr_solver_t4" of :data:`unrolled.weights.WEIGHTS`)."""
DEMO_PAIR = (REPO / "llrr" / "data" / "demo_ir.png", REPO / "llrr" / "data" / "demo_vi.png")


@dataclass(frozen=True)
class LearnedSolverConfig:
    """The problem, the network and the training recipe (module docstring); frozen, stored in the sidecar.

    Parameters
    ----------
    patch, stride : int
        Patch geometry (8, 2).
    n_low, n_atoms : int
        Atoms of D1 and of D = (D1, D2) (overcomplete DCT, the lowest frequencies in D1).
    lam1, lam2 : float
        Weights of the nuclear norm of L and the l1 norm of S.
    blocks : int
        T, iterations after Z_0.
    tied : bool
        One G shared by all blocks, or one per block.
    crop : int
        Side of the square crops whose patches form one set (``(crop - patch) % stride == 0``).
    batch, steps, lr, warmup, seed : int, int, float, int, int
        Crops per step, Adam steps, peak learning rate, warm-up steps, seed of torch and of the crop sampler.
    """

    patch: int = 8
    stride: int = 2
    n_low: int = 32
    n_atoms: int = 128
    lam1: float = 0.05
    lam2: float = 0.05
    blocks: int = 4
    tied: bool = False
    crop: int = 64
    batch: int = 32
    steps: int = 300
    lr: float = 1e-3
    warmup: int = 10
    seed: int = 0

    def __post_init__(self):
        for name in ("patch", "stride", "n_low", "n_atoms", "blocks", "crop", "batch", "steps", "seed", "warmup"):
            value = getattr(self, name)
            low = 0 if name in ("steps", "seed", "warmup") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0 < self.n_low < self.n_atoms:
            raise ValueError(f"n_low must be between 1 and n_atoms - 1 = {self.n_atoms - 1}, got {self.n_low}")
        if self.stride > self.patch:
            raise ValueError(f"stride must be <= patch = {self.patch}, got {self.stride}")
        if self.crop < self.patch or (self.crop - self.patch) % self.stride:
            raise ValueError(f"crop must be >= patch = {self.patch} with (crop - patch) divisible by stride = "
                             f"{self.stride} (a regular patch grid), got {self.crop}")
        for name in ("lam1", "lam2", "lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def problem(self) -> LowRankSparseProblem:
        """The fixed coding problem (float32): DCT dictionaries, lam1 on the nuclear norm, lam2 on the l1 norm."""
        D = dct_atoms(self.patch * self.patch, self.n_atoms).astype(np.float32)
        return LowRankSparseProblem(D[:, : self.n_low], D[:, self.n_low :], lam1=self.lam1, lam2=self.lam2)

    def untrained(self, dtype=np.float32) -> tuple[PatchLLRRNet, LowRankSparseProblem]:
        """The network equal to Algorithm 1 with T = ``blocks`` on :meth:`problem`, and that problem."""
        prob = self.problem().astype(dtype)
        return PatchLLRRNet.from_problem(prob, self.patch, self.stride, blocks=self.blocks, tied=self.tied), prob


# ---------------------------------------------------------------------------------------------- the objective
def eq5_objective(X: torch.Tensor, Z: torch.Tensor, D: torch.Tensor, n_low: int, lam1: float,
                  lam2: float) -> torch.Tensor:
    r"""Eq. 5 with L = AB optimised out, :math:`\tfrac12\|X - DZ\|_F^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1`, per set.

    Parameters
    ----------
    X : Tensor of shape (B, n_features, n_patches)
        B patch sets (patches as columns, as :func:`solvers.extract_patches`).
    Z : Tensor of shape (B, n_atoms, n_patches)
        Codes (L; S), L the first ``n_low`` rows.
    D : Tensor of shape (n_features, n_atoms)
    n_low : int
    lam1, lam2 : float

    Returns
    -------
    Tensor of shape (B,)
        The objective of each set; differentiable in Z (the nuclear norm through ``torch.linalg.svdvals``).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from solvers import LowRankSparseProblem
    >>> rng = np.random.default_rng(0)
    >>> D, X, Z = rng.standard_normal((9, 6)), rng.standard_normal((9, 20)), rng.standard_normal((6, 20))
    >>> prob = LowRankSparseProblem(D[:, :2], D[:, 2:], lam1=0.3, lam2=0.1)
    >>> f = eq5_objective(torch.from_numpy(X)[None], torch.from_numpy(Z)[None], torch.from_numpy(D), 2, 0.3, 0.1)
    >>> bool(np.isclose(f.item(), prob.objective(X, Z)))
    True
    """
    if X.dim() != 3 or Z.dim() != 3 or X.shape[0] != Z.shape[0] or X.shape[2] != Z.shape[2]:
        raise ValueError(f"X (B, n_features, n_patches) and Z (B, n_atoms, n_patches) must agree, got "
                         f"{tuple(X.shape)} and {tuple(Z.shape)}")
    if D.shape != (X.shape[1], Z.shape[1]):
        raise ValueError(f"D must have shape {(X.shape[1], Z.shape[1])} (n_features, n_atoms), got {tuple(D.shape)}")
    residual = X - D @ Z
    L, S = Z[:, :n_low], Z[:, n_low:]
    nuclear = torch.linalg.svdvals(L).sum(-1)
    return 0.5 * residual.square().sum((1, 2)) + lam1 * nuclear + lam2 * S.abs().sum((1, 2))


def patch_objective(net: PatchLLRRNet, problem: LowRankSparseProblem, crops: torch.Tensor) -> torch.Tensor:
    """F / n_patches of the network's output codes for each crop of ``crops`` (B, 1, H, W), a regular patch grid."""
    if crops.dim() != 4 or crops.shape[1] != 1:
        raise ValueError(f"crops must have shape (B, 1, H, W), got {tuple(crops.shape)}")
    h, w = crops.shape[-2:]
    if (h - net.size) % net.stride or (w - net.size) % net.stride:
        raise ValueError(f"crops of {h}x{w} do not give a regular grid of {net.size}x{net.size} patches at stride "
                         f"{net.stride}")
    X = F.unfold(crops, net.size, stride=net.stride)  # (B, size*size, P): the order of solvers.extract_patches
    z = net.iterates(crops)[-1]
    Z = z.reshape(z.shape[0], z.shape[1], -1)
    D = torch.from_numpy(problem.D).to(Z.dtype)
    return eq5_objective(X, Z, D, problem.n_low, problem.lam1, problem.lam2) / Z.shape[-1]


# ---------------------------------------------------------------------------------------------- data
def training_dirs() -> list[Path]:
    """The IR and VI folders of ../shared/data/tno_train and roadscene that exist (tno21 never)."""
    dirs = [SHARED / "data" / s / m for s in ("tno_train", "roadscene") for m in ("ir", "vi")]
    return [d for d in dirs if d.is_dir()]


def load_images(paths) -> list[np.ndarray]:
    """Grey images on the 8-bit scale (:func:`solvers._images.read_grey`: uint8 for 8-bit files, colour to
    luminance) from files and folders (every file in a folder, sorted)."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no image file or folder at {p}")
    if not files:
        raise ValueError(f"no image files in {[str(p) for p in paths]}")
    return [read_grey(f) for f in files]


def random_crops(images: list[np.ndarray], n: int, crop: int, rng: np.random.Generator,
                 flip: bool = True) -> torch.Tensor:
    """``n`` random crops (image uniform, then position uniform, then a horizontal flip with probability 1/2), as
    float32 in [0, 1] of shape (n, 1, crop, crop)."""
    usable = [im for im in images if min(im.shape) >= crop]
    if not usable:
        raise ValueError(f"no image is at least {crop}x{crop} (crop={crop})")
    out = np.empty((n, crop, crop), dtype=np.float32)
    for k in range(n):
        im = usable[rng.integers(len(usable))]
        i, j = rng.integers(im.shape[0] - crop + 1), rng.integers(im.shape[1] - crop + 1)
        c = im[i : i + crop, j : j + crop]
        out[k] = (c[:, ::-1] if flip and rng.random() < 0.5 else c) / np.float32(255)
    return torch.from_numpy(out)[:, None]


# ---------------------------------------------------------------------------------------------- training
def train_learned_solver(images: list[np.ndarray], config: LearnedSolverConfig = LearnedSolverConfig(), *,
                         progress: bool = True) -> tuple[PatchLLRRNet, dict]:
    """Train the T-block network from Algorithm 1 to minimise Eq. 5 on random crops of ``images`` (grey on the 8-bit
    scale, as :func:`load_images` reads them).

    Returns
    -------
    net : PatchLLRRNet
        float32, in eval mode; the decoder is the problem's D.
    history : dict
        ``loss`` (per step: the batch mean of F / n_patches), ``seconds`` (training time).
    """
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net, prob = config.untrained()
    for p in (net.d1.weight, net.d2.weight):
        p.requires_grad_(False)  # tied to the D of the objective
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 5 % of the peak
        if step < config.warmup:
            return (step + 1) / (config.warmup + 1)
        frac = (step - config.warmup) / max(config.steps - config.warmup, 1)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    losses, t0 = [], time.perf_counter()
    bar = tqdm(range(config.steps), desc="learned LLRR solver", disable=not progress)
    net.train()
    for _ in bar:
        loss = patch_objective(net, prob, random_crops(images, config.batch, config.crop, rng)).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {len(losses) + 1}: lower lr "
                                     f"(now {config.lr})")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(eq5=f"{losses[-1]:.5f}")
    return net.eval(), {"loss": losses, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------- weights
def save_learned_solver(net: PatchLLRRNet, config: LearnedSolverConfig, path, *, training_data: dict,
                        metrics: dict) -> Path:
    """Write the float32 state_dict to ``path`` and a JSON sidecar (``path`` with suffix .json): file name, sha256,
    config, training data and metrics. Both written atomically."""
    path = Path(path)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in net.state_dict().items()}
    atomic_torch_save(state, path)
    meta = {"name": path.stem, "kind": "learned-solver", "file": path.name, "sha256": sha256_file(path),
            "architecture": "unrolled.PatchLLRRNet",
            "config": asdict(config), "training_data": training_data, "metrics": metrics,
            "torch": torch.__version__}
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return path


def read_sidecar(path=None) -> dict:
    """The JSON sidecar of a weights file (default: the shipped one)."""
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    side = path.with_suffix(".json")
    if not side.is_file():
        raise FileNotFoundError(f"no sidecar {side} beside the weights {path} (written by save_learned_solver)")
    return json.loads(side.read_text())


def load_learned_solver(path=None) -> tuple[PatchLLRRNet, LowRankSparseProblem]:
    """The trained network (float32, eval mode) and its problem, checked against the sidecar's sha256, loaded strictly.

    Parameters
    ----------
    path : str or Path, optional
        A ``.pt`` written by :func:`save_learned_solver`; default the shipped ``weights_data/llrr_solver_t4.pt``.

    Examples
    --------
    >>> net, prob = load_learned_solver()
    >>> net.n_blocks, prob.n_low, prob.n_sparse
    (4, 32, 96)
    """
    path = Path(DEFAULT_WEIGHTS if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path} (train them with `python -m benchmarks.learned_solver "
                                "train --out PATH`)")
    meta = read_sidecar(path)
    verify_file(path, meta.get("sha256"), "learned solver weights (corrupt, or not the file the sidecar describes)")
    config = LearnedSolverConfig(**meta["config"])
    net, prob = config.untrained()
    state = safe_torch_load(path)
    net.load_state_dict(state, strict=True)
    for name, D in (("d1", prob.D1), ("d2", prob.D2)):
        if not np.allclose(getattr(net, name).weight.detach().reshape(D.shape[1], -1).T.numpy(), D, atol=1e-6):
            raise ValueError(f"the decoder {name} of {path} is not the problem's dictionary")
    return net.eval(), prob



def heldout_crops(crop: int, *, per_image: int = 2, seed: int = 1, fast: bool = False) -> tuple[np.ndarray, str]:
    """``per_image`` random crops of every tno21 image (IR and VI) or, with ``fast`` or without ../shared, of the
    visible image of the demo pair (the fallback training uses its infrared image only); float32 in [0, 1], shape
    (n, crop, crop), and a description."""
    tno21 = SHARED / "data" / "tno21"
    if fast or not tno21.is_dir():
        paths, name = [DEMO_PAIR[1]], "the visible image of the demo pair"
    else:
        paths, name = [tno21 / "ir", tno21 / "vi"], "tno21 (21 pairs, IR and VI)"
    images = load_images(paths)
    rng = np.random.default_rng(seed)
    crops = np.concatenate([random_crops([im], per_image, crop, rng, flip=False)[:, 0].numpy() for im in images])
    return crops, f"{len(crops)} crops {crop}x{crop} ({per_image} per image) of {name}"


if __name__ == "__main__":  # deprecated entry point, kept for one release
    import warnings

    warnings.warn("`python -m unrolled.learned_solver` is deprecated: use `python -m benchmarks.learned_solver` "
                  "(from a source checkout)", DeprecationWarning, stacklevel=1)
    from benchmarks.learned_solver import main

    main()
