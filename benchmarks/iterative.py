r"""Iterative vs feed-forward: classical solvers run for 1..500 iterations against the unrolled network (T = 4).

All methods code the same patches with the same dictionaries and weights (one :class:`solvers.LowRankSparseProblem`,
float32). For each method and iteration count we record the wall time (the iterations only: each solver's set-up,
e.g. its Lipschitz constant, is reported apart; the network's forward pass is timed on the image, patch extraction
included), the objective of Eq. 5 reached (:math:`\tfrac12\|X-DZ\|^2 + \lambda_1\|L\|_* + \lambda_2\|S\|_1`, the
nuclear norm on L) and the relative reconstruction error :math:`\|X - DZ\|_F / \|X\|_F`. Algorithm 1 (and the
untrained network, which equals it step for step) minimises the l1 variant of Eq. 5 with a ridge (see
:func:`solvers.algorithm1`), so its Eq. 5 objective levels off above the minimum of Eq. 5; that objective is recorded
too (``objective_alg1``).

``python -m benchmarks.iterative [--out PNG]`` runs the comparison and draws the figure; the pytest-benchmark suite
``test_bench_iterative.py`` stores the same records for ``benchmarks/RESULTS.md``. ``LLRR_BENCH_SMOKE=1`` shrinks the
image and the iteration counts to a few seconds (the test suite runs it that way).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from solvers import LowRankSparseProblem, extract_patches
from solvers._files import SHARED
from solvers.dictionary import dct_atoms
from solvers.registry import get_solver

HERE = Path(__file__).resolve().parent
FIGURE = HERE / "iterative_vs_feedforward.png"

SOLVERS = ("algorithm1", "ista", "fista", "admm")
CHECKPOINTS = (1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500)
SMOKE_CHECKPOINTS = (1, 2, 4, 8)
PATCH, STRIDE, N_LOW, N_ATOMS, LAM = 8, 2, 32, 128, 0.05
BLOCKS = 4


def smoke() -> bool:
    return os.environ.get("LLRR_BENCH_SMOKE", "") not in ("", "0")


@dataclass(frozen=True)
class Record:
    method: str
    iterations: int
    seconds: float
    setup_seconds: float
    objective: float
    objective_alg1: float
    rel_error: float


def source_image() -> tuple[np.ndarray, str]:
    """A real image on [0, 1]: the visible image of TNO pair 01 when ../shared is present, else the bundled demo."""
    from llrr.io import DEMO_VI, load_grey

    path = SHARED / "data" / "tno21" / "vi" / "01.png"
    if not path.is_file():
        path = DEMO_VI
    img = load_grey(path) / 255.0
    if smoke():
        img = img[:48, :64]
    return img.astype(np.float32), f"{path.parent.parent.name}/{path.parent.name}/{path.name}"


def problem() -> LowRankSparseProblem:
    """Overcomplete 2-D DCT atoms (128 for 64 pixels): the 32 lowest frequencies form D1, the other 96 D2; lambda1 =
    lambda2 = 0.05."""
    D = dct_atoms(PATCH * PATCH, N_ATOMS).astype(np.float32)
    return LowRankSparseProblem(D[:, :N_LOW], D[:, N_LOW:], lam1=LAM, lam2=LAM)


def _measure(prob: LowRankSparseProblem, X: np.ndarray, Z: np.ndarray) -> tuple[float, float, float]:
    X64, Z64 = X.astype(np.float64), Z.astype(np.float64)
    p64 = prob.astype(np.float64)
    rel = float(np.linalg.norm(X64 - p64.D @ Z64) / np.linalg.norm(X64))
    return p64.objective(X64, Z64), p64.algorithm1_objective(X64, Z64), rel


def warm_up(name: str, prob: LowRankSparseProblem, X: np.ndarray) -> None:
    """A few untimed iterations of solver ``name`` (numba JIT, thread pools) on a slice of ``X``."""
    get_solver(name)(X[:, :256], prob, tol=0.0, max_iter=3, track_objective=False).solve()


def timed_iterations(name: str, prob: LowRankSparseProblem, X: np.ndarray, checkpoints, extra: int = 0
                     ) -> tuple[float, dict[int, tuple[float, np.ndarray]], np.ndarray]:
    """One run of ``max(checkpoints) + extra`` iterations of solver ``name`` on ``X``, timing the iterations only.

    Returns the set-up seconds (solver construction), ``{k: (seconds of iterations 1..k, Z after k)}`` for each
    checkpoint k, and Z after the last iteration."""
    t = time.perf_counter()
    kmax = max(checkpoints)
    solver = get_solver(name)(X, prob, tol=0.0, max_iter=kmax + extra, track_objective=False)
    setup = time.perf_counter() - t
    wanted, snaps, elapsed = set(checkpoints), {}, 0.0
    for k in range(1, kmax + extra + 1):
        t = time.perf_counter()
        solver.step()
        elapsed += time.perf_counter() - t
        if k in wanted:
            snaps[k] = (elapsed, solver._result(True).Z.copy())
    return setup, snaps, solver._result(True).Z.copy()


def run_solver(name: str, prob: LowRankSparseProblem, X: np.ndarray, checkpoints=CHECKPOINTS) -> list[Record]:
    """Time one run of ``max(checkpoints)`` iterations, the iterations only, snapshotting Z at the checkpoints."""
    warm_up(name, prob, X)
    setup, snaps, _ = timed_iterations(name, prob, X, checkpoints)
    return [Record(name, k, s, setup, *_measure(prob, X, Z)) for k, (s, Z) in snaps.items()]


def run_network(prob: LowRankSparseProblem, image: np.ndarray, blocks: int = BLOCKS, repeat: int = 5,
                trained: bool = False) -> Record:
    """The unrolled network (``unrolled.PatchLLRRNet``) built from the same problem, T = ``blocks``; or, with
    ``trained``, the shipped learned solver (:mod:`unrolled.learned_solver`, trained on Eq. 5 for this very problem:
    the same DCT dictionaries, lambdas and patch geometry, on 64 x 64 crops of the training sets)."""
    import torch

    from unrolled import PatchLLRRNet

    t = time.perf_counter()
    if trained:
        from unrolled.learned_solver import load_learned_solver

        net, learned_prob = load_learned_solver()
        same = (learned_prob.lam1, learned_prob.lam2, learned_prob.n_low, learned_prob.n_sparse, net.size,
                net.stride) == (prob.lam1, prob.lam2, prob.n_low, prob.n_sparse, PATCH, STRIDE)
        if not same or not np.allclose(learned_prob.D, prob.D, atol=1e-6):
            raise ValueError("the shipped learned solver was trained for another problem than this benchmark's")
        net = net.eval()
        blocks = net.n_blocks
    else:
        net = PatchLLRRNet.from_problem(prob, PATCH, STRIDE, blocks=blocks).eval()
    setup = time.perf_counter() - t
    x = torch.from_numpy(image)[None, None]
    times = []
    with torch.inference_mode():
        net.iterates(x)  # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            z = net.iterates(x)[-1]
            times.append(time.perf_counter() - t)
    Z = z[0].reshape(z.shape[1], -1).numpy()
    X = extract_patches(image, PATCH, STRIDE)
    name = f"trained T={blocks}" if trained else f"unrolled T={blocks}"
    return Record(name, blocks, float(np.median(times)), setup, *_measure(prob, X, Z))


def compare(progress: bool = True) -> tuple[list[Record], dict]:
    """All records, and a description of the set-up."""
    from tqdm.auto import tqdm

    image, name = source_image()
    prob = problem()
    X = extract_patches(image, PATCH, STRIDE)
    checkpoints = SMOKE_CHECKPOINTS if smoke() else CHECKPOINTS
    records = []
    for solver in tqdm(SOLVERS, desc="iterative solvers", disable=not progress):
        records += run_solver(solver, prob, X, checkpoints)
    records.append(run_network(prob, image))
    records.append(run_network(prob, image, trained=True))
    # reference: the minimum of Eq. 5, from a long FISTA run
    ref = get_solver("fista")(X, prob.astype(np.float64), tol=0.0, max_iter=max(checkpoints) * 4,
                              track_objective=False).solve()
    info = {"image": name, "shape": list(image.shape), "patches": int(X.shape[1]), "patch": PATCH, "stride": STRIDE,
            "atoms": [N_LOW, N_ATOMS - N_LOW], "lam": LAM, "min_objective": _measure(prob, X, ref.Z)[0]}
    return records, info


def plot(records: list[Record], info: dict, path: Path = FIGURE) -> Path:
    """Two panels: wall time against the Eq. 5 objective gap and against the reconstruction error."""
    from matplotlib.figure import Figure

    from llrr.io import save_figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    fmin = info["min_objective"]
    for method in dict.fromkeys(r.method for r in records):
        rs = [r for r in records if r.method == method]
        t = [r.seconds for r in rs]
        style = dict(marker="*", markersize=14, linestyle="none") if method.startswith(("unrolled", "trained")) \
            else dict(marker="o", markersize=3)
        ax1.loglog(t, [max(r.objective - fmin, 1e-12) / abs(fmin) for r in rs], label=method, **style)
        ax2.semilogx(t, [r.rel_error for r in rs], label=method, **style)
    ax1.set(xlabel="wall time (s)", ylabel="(Eq. 5 objective - min) / min", title="objective of Eq. 5")
    ax2.set(xlabel="wall time (s)", ylabel="||X - DZ|| / ||X||", title="reconstruction error")
    ax1.legend(fontsize=8)
    fig.suptitle(f"{info['patches']} patches {info['patch']}x{info['patch']} (stride {info['stride']}) of "
                 f"{info['image']}, DCT dictionaries {info['atoms'][0]}+{info['atoms'][1]}, lambda {info['lam']}",
                 fontsize=9)
    return save_figure(fig, path, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=FIGURE, help="figure path (default: %(default)s)")
    args = ap.parse_args(argv)
    records, info = compare()
    plot(records, info, args.out)
    for r in records:
        print({k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(r).items()})
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
