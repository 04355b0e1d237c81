r"""Train the learned LLRR solver, and compare it with Algorithm 1, ISTA and FISTA on held-out patches.

``python -m benchmarks.learned_solver train --out unrolled/weights_data/llrr_solver_t4.pt`` trains
(:func:`unrolled.learned_solver.train_learned_solver`) and writes the weights and their sidecar.

``python -m benchmarks.learned_solver compare --out docs/learned_solver.md --figure docs/learned_solver.png`` codes
the held-out crops (:func:`unrolled.learned_solver.heldout_crops`: crops of the 21 tno21 pairs, IR and VI, never seen
in training) with

* the trained network (T = 4) and the untrained one (= Algorithm 1 with k = 4), one forward pass over all crops;
* Algorithm 1, ISTA and FISTA (:func:`solvers.registry.get_solver`) after k = 1..500 iterations, one run per crop (the
  nuclear norm couples the patches of a set), timing the iterations only, set-up apart
  (:func:`benchmarks.iterative.timed_iterations`, the loop of the iterative vs feed-forward benchmark);

and records per method and k: the wall time, the objective of Eq. 5 per patch (float64) and Algorithm 1's own
(:meth:`solvers.LowRankSparseProblem.algorithm1_objective`), the gap of Eq. 5 to the minimum
(the lowest objective found: FISTA after 1000 iterations) and the relative reconstruction error
:math:`\|X - DZ\|_F / \|X\|_F` pooled over the crops. ISTA and FISTA minimise Eq. 5 (nuclear norm), Algorithm 1
its l1 variant, so its objective of Eq. 5 levels off above the minimum. Every method runs on the same number of
threads (``--threads``, default 1: the machine is shared). ``--fast`` uses two crops of the visible image of the
bundled demo pair and k <= 4 (seconds).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from solvers import LowRankSparseProblem, extract_patches
from solvers._linalg import sgemm_gflops
from unrolled import learned_solver as ls
from unrolled._atomic import atomic_target, atomic_write_text
from unrolled._threads import threads as _threads

from . import iterative

__all__ = ["Record", "compare", "markdown", "plot", "main"]

SOLVERS = ("algorithm1", "ista", "fista")
CHECKPOINTS = (1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500)
FAST_CHECKPOINTS = (1, 2, 4)
REFERENCE_ITER, FAST_REFERENCE_ITER = 1000, 100


def threads(n: int):
    """Run torch, BLAS and numba with ``n`` threads (restored afterwards): the same compute for every method."""
    return _threads(n, blas=True)


@dataclass(frozen=True)
class Record(iterative.Record):
    """:class:`benchmarks.iterative.Record` (objectives per patch, mean over the crops; the relative error pooled
    over them) and the gap ``(objective - minimum) / minimum``."""

    gap: float


def _stats(prob64: LowRankSparseProblem, Xs: list[np.ndarray], Zs: list[np.ndarray]) -> tuple[float, float, float]:
    """Mean Eq. 5 and Algorithm 1 objectives per patch, and the pooled relative reconstruction error."""
    objs, objs1, res, tot = [], [], 0.0, 0.0
    for X, Z in zip(Xs, Zs, strict=True):
        X64, Z64 = X.astype(np.float64), Z.astype(np.float64)
        objs.append(prob64.objective(X64, Z64) / X.shape[1])
        objs1.append(prob64.algorithm1_objective(X64, Z64) / X.shape[1])
        res += float(np.sum((X64 - prob64.D @ Z64) ** 2))
        tot += float(np.sum(X64**2))
    return float(np.mean(objs)), float(np.mean(objs1)), float(np.sqrt(res / tot))


def _run_solver(name, prob, Xs, checkpoints, extra: int = 0):
    """Per checkpoint k: (summed step time over the crops, codes of each crop); the summed set-up time; and the codes
    after ``max(checkpoints) + extra`` iterations."""
    iterative.warm_up(name, prob, Xs[0])
    secs, codes, setup, final = dict.fromkeys(checkpoints, 0.0), {k: [] for k in checkpoints}, 0.0, []
    for X in Xs:
        s, snaps, last = iterative.timed_iterations(name, prob, X, checkpoints, extra)
        setup += s
        for k, (elapsed, Z) in snaps.items():
            secs[k] += elapsed
            codes[k].append(Z)
        final.append(last)
    return secs, codes, setup, final


def _run_network(net, crops: np.ndarray, repeat: int, chunk: int = 4) -> tuple[float, list[np.ndarray]]:
    """Median time of a forward pass over all crops, ``chunk`` crops at a time (the maps of a few 64 x 64 crops stay
    in cache: 84 crops in chunks of 4 run 5x faster than in one batch), and the codes of each crop."""
    x = torch.from_numpy(crops)[:, None].to(next(net.parameters()).dtype)

    def forward():
        return [z for i in range(0, len(x), chunk) for z in net.iterates(x[i : i + chunk])[-1]]

    times = []
    with torch.inference_mode():
        forward()  # warm-up
        for _ in range(repeat):
            t = time.perf_counter()
            zs = forward()
            times.append(time.perf_counter() - t)
    return float(np.median(times)), [z.reshape(z.shape[0], -1).numpy() for z in zs]


def compare(weights=None, *, fast: bool = False, n_threads: int = 1,
            progress: bool = True) -> tuple[list[Record], dict]:
    """All records and a description of the set-up (module docstring), every method on ``n_threads`` threads."""
    with threads(n_threads):
        records, info = _measure_all(weights, fast, progress)
    return records, dict(info, threads=n_threads)


def _measure_all(weights, fast: bool, progress: bool) -> tuple[list[Record], dict]:
    from tqdm.auto import tqdm

    t = time.perf_counter()
    net, prob = ls.load_learned_solver(weights)
    load_s = time.perf_counter() - t
    meta = ls.read_sidecar(weights)
    config = ls.LearnedSolverConfig(**meta["config"])
    crops, desc = ls.heldout_crops(config.crop, per_image=2, fast=fast)
    Xs = [extract_patches(c, config.patch, config.stride) for c in crops]
    prob64 = prob.astype(np.float64)
    checkpoints = FAST_CHECKPOINTS if fast else CHECKPOINTS
    ref_iter = FAST_REFERENCE_ITER if fast else REFERENCE_ITER

    runs = {}
    for name in tqdm(SOLVERS, desc="iterative solvers", disable=not progress):
        extra = ref_iter - max(checkpoints) if name == "fista" else 0
        runs[name] = _run_solver(name, prob, Xs, checkpoints, extra=extra)
    fista_ref = _stats(prob64, Xs, runs["fista"][3])[0]
    measured = []
    t = time.perf_counter()
    untrained = config.untrained()[0].eval()
    nets = {"trained T=4": (net, load_s), "untrained T=4 (= Algorithm 1, k=4)": (untrained, time.perf_counter() - t)}
    for label, (model, setup) in nets.items():
        secs, Zs = _run_network(model, crops, repeat=1 if fast else 5)
        measured.append((label, config.blocks, secs, setup, *_stats(prob64, Xs, Zs)))
    for name, (secs, codes, setup, _) in runs.items():
        measured += [(name, k, secs[k], setup, *_stats(prob64, Xs, codes[k])) for k in checkpoints]
    fmin = min([fista_ref] + [m[4] for m in measured])  # FISTA's reference, unless a method went lower
    records = [Record(*m, gap=(m[4] - fmin) / fmin) for m in measured]
    info = {"heldout": desc, "patches": int(sum(X.shape[1] for X in Xs)), "min_objective": fmin,
            "min_from": f"FISTA after {ref_iter} iterations reaches {fista_ref:.6f}",
            "config": asdict(config), "training": meta, "fast": fast, "sgemm_gflops": sgemm_gflops()}
    return records, info


def _training_sgemm(metrics: dict) -> str:
    sgemm = metrics.get("sgemm_gflops")
    return f"sgemm {sgemm:.0f} GFLOP/s in that run" if sgemm else "when trained; that run's sgemm was not recorded"


def markdown(records: list[Record], info: dict, figure: str | None = None) -> str:
    c, tr = info["config"], info["training"]
    trained = records[0]
    lines = [
        "# The learned LLRR solver vs Algorithm 1, ISTA and FISTA",
        "",
        "Generated by `python -m benchmarks.learned_solver compare" + (" --fast" if info["fast"] else "") + "`; do not "
        "edit by hand. Method and choices: the docstring of `unrolled/learned_solver.py`; the measurement: the "
        "docstring of `benchmarks/learned_solver.py`.",
        "",
        f"- Problem (fixed): {c['patch']}x{c['patch']} patches at stride {c['stride']}, overcomplete DCT dictionaries "
        f"{c['n_low']} (D1) + {c['n_atoms'] - c['n_low']} (D2) atoms, lambda1 = {c['lam1']} (nuclear norm of L), "
        f"lambda2 = {c['lam2']} (l1 of S); objective of Eq. 5 = 0.5 ||X - DZ||^2 + lambda1 ||L||_* + "
        "lambda2 ||S||_1, one patch set per crop, reported per patch (mean over the crops).",
        f"- Held out (never in training): {info['heldout']}, {info['patches']} patches in all. Minimum (the lowest "
        f"objective found; {info['min_from']}): {info['min_objective']:.6f} per patch.",
        f"- Trained network: T = {c['blocks']}, {'tied' if c['tied'] else 'untied'} blocks, {c['steps']} Adam steps "
        f"of {c['batch']} crops {c['crop']}x{c['crop']} (lr {c['lr']}, seed {c['seed']}) in "
        f"{tr['metrics'].get('training_seconds', float('nan')):.0f} s ({_training_sgemm(tr['metrics'])}) on "
        f"{', '.join(tr['training_data'].get('folders', []))} ({tr['training_data'].get('images', '?')} images).",
        f"- Wall time: the iterations only, summed over the crops (one solver run per crop); the networks: one "
        f"forward pass over all crops, 4 at a time (median of 5); {info['threads']} thread(s) for every method "
        f"(torch, BLAS, numba), on {os.cpu_count()} cores whose 2048 x 2048 sgemm ran at "
        f"{info.get('sgemm_gflops', float('nan')):.0f} GFLOP/s in the same run (compare ratios across machines). "
        "Set-up (solver construction, Lipschitz constant; network build or load) apart.",
        "",
        "| method | k | wall time (ms) | set-up (ms) | Eq. 5 objective / patch | gap to min | rel. error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        lines.append(f"| {r.method} | {r.iterations} | {1e3 * r.seconds:.1f} | {1e3 * r.setup_seconds:.1f} | "
                     f"{r.objective:.6f} | {100 * r.gap:.2f} % | {r.rel_error:.4f} |")
    lines += ["", f"The trained T = 4 network reaches a gap of {100 * trained.gap:.2f} % in "
              f"{1e3 * trained.seconds:.1f} ms. To reach its objective:"]
    for name in SOLVERS:
        rs = [r for r in records if r.method == name]
        hit = next((r for r in rs if r.objective <= trained.objective), None)
        best = min(rs, key=lambda r: r.objective)
        lines.append(f"- {name}: k = {hit.iterations} iterations, {1e3 * hit.seconds:.1f} ms" if hit else
                     f"- {name}: not within k = {rs[-1].iterations} (best gap {100 * best.gap:.2f} % at k = "
                     f"{best.iterations})")
    if figure:
        lines += ["", f"![objective gap and reconstruction error against iterations and wall time]({figure})"]
    return "\n".join(lines) + "\n"


def plot(records: list[Record], info: dict, path) -> Path:
    """Three panels: the objective gap against k and against wall time, the reconstruction error against wall time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    for method in dict.fromkeys(r.method for r in records):
        rs = [r for r in records if r.method == method]
        net = "T=4" in method
        style = dict(marker="*", markersize=14, linestyle="none") if net else dict(marker="o", markersize=3)
        gaps = [max(r.gap, 1e-6) for r in rs]
        axes[0].loglog([r.iterations for r in rs], gaps, label=method, **style)
        axes[1].loglog([r.seconds for r in rs], gaps, label=method, **style)
        axes[2].semilogx([r.seconds for r in rs], [r.rel_error for r in rs], label=method, **style)
    axes[0].set(xlabel="iterations k (blocks T for the networks)", ylabel="(Eq. 5 objective - min) / min",
                title="objective gap vs iterations")
    axes[1].set(xlabel="wall time (s)", ylabel="(Eq. 5 objective - min) / min", title="objective gap vs time")
    axes[2].set(xlabel="wall time (s)", ylabel="||X - DZ|| / ||X||", title="reconstruction error vs time")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"held out: {info['heldout']}", fontsize=9)
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=100, format=path.suffix.lstrip(".") or "png")
    return path


def _train_command(args) -> None:
    config = ls.LearnedSolverConfig(steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr, seed=args.seed,
                                    tied=args.tied)
    folders = args.data or ls.training_dirs() or [ls.DEMO_PAIR[0]]
    images = ls.load_images(folders)
    with threads(args.threads):
        net, history = ls.train_learned_solver(images, config)
    crops, desc = ls.heldout_crops(config.crop)
    x = torch.from_numpy(crops)[:, None]
    with torch.no_grad():
        held = float(ls.patch_objective(net, net_prob := config.problem(), x).mean())
        base = float(ls.patch_objective(config.untrained()[0], net_prob, x).mean())
    shared = ls.SHARED.resolve()
    names = [str(Path(f).resolve().relative_to(shared)) if Path(f).resolve().is_relative_to(shared) else
             Path(f).name for f in folders]
    metrics = {"heldout": desc, "heldout_objective_per_patch": held, "untrained_heldout_objective_per_patch": base,
               "final_train_loss": float(np.mean(history["loss"][-20:])), "training_seconds": history["seconds"],
               "sgemm_gflops": sgemm_gflops(),
               "threads": args.threads}
    data = {"folders": names, "images": len(images), "crops_seen": config.steps * config.batch,
            "note": "grey [0, 1]; colour to luminance (ITU-R 601); tno21 held out"}
    ls.save_learned_solver(net, config, args.out, training_data=data, metrics=metrics)
    print(f"held-out Eq. 5 objective per patch: trained {held:.6f}, untrained (Algorithm 1, T = {config.blocks}) "
          f"{base:.6f}; weights written to {args.out}")


def _compare_command(args) -> None:
    records, info = compare(args.weights, fast=args.fast, n_threads=args.threads)
    if args.figure:
        plot(records, info, args.figure)
    fig_ref = None
    if args.figure:
        fig_ref = str(Path(args.figure).resolve().relative_to(Path(args.out).resolve().parent)) \
            if Path(args.figure).resolve().is_relative_to(Path(args.out).resolve().parent) else str(args.figure)
    text = markdown(records, info, fig_ref)
    atomic_write_text(args.out, text)
    print(text)


def main(argv=None) -> None:
    d = ls.LearnedSolverConfig()
    ap = argparse.ArgumentParser(prog="python -m benchmarks.learned_solver", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the T = 4 network and write its weights and sidecar")
    tr.add_argument("--out", type=Path, default=ls.DEFAULT_WEIGHTS, help="weights file (default: %(default)s)")
    tr.add_argument("--data", type=Path, nargs="*", help="image folders or files (default: tno_train and roadscene "
                    "IR + VI in ../shared, else the demo infrared image)")
    tr.add_argument("--steps", type=int, default=d.steps)
    tr.add_argument("--batch", type=int, default=d.batch)
    tr.add_argument("--crop", type=int, default=d.crop)
    tr.add_argument("--lr", type=float, default=d.lr)
    tr.add_argument("--seed", type=int, default=d.seed)
    tr.add_argument("--tied", action="store_true", help="one G shared by the blocks")
    tr.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    tr.set_defaults(run=_train_command)
    co = sub.add_parser("compare", help="held-out comparison with Algorithm 1 / ISTA / FISTA: Markdown and PNG")
    co.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped one)")
    co.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    co.add_argument("--figure", type=Path, default=None, help="PNG file to write")
    co.add_argument("--fast", action="store_true", help="two crops of the demo visible image, k <= 4 (seconds)")
    co.add_argument("--threads", type=int, default=1, help="threads for every method (default: %(default)s)")
    co.set_defaults(run=_compare_command)
    args = ap.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
