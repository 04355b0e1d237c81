"""The ``llrr`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from solvers._extras import MissingExtra

__all__ = ["main"]


def _cmd_decompose(args: argparse.Namespace) -> int:
    from .decompose import DecompositionConfig, decompose, plot_decomposition
    from .io import DEMO_IR, load_grey

    image_path = Path(args.image) if args.image else DEMO_IR
    image = load_grey(image_path)
    config = DecompositionConfig(size=args.size, stride=args.stride, lam1=args.lam1, lam2=args.lam2,
                                 algorithm1_iter=args.iterations, fista_iter=args.iterations)
    dec = decompose(image, config, progress=not args.quiet)
    out = plot_decomposition(dec, Path(args.out))
    print(f"decomposed {image_path} ({image.shape[1]}x{image.shape[0]}, {config.size}x{config.size} patches, "
          f"stride {config.stride})")
    for name, res in dec.results.items():
        obj = res.history["objective"]
        rel = float(np.linalg.norm(dec.image - dec.low_rank[name] - dec.sparse[name]) / np.linalg.norm(dec.image))
        print(f"  {name:<22} {res.n_iter:4d} iterations  final objective {obj[-1]:.6g}  "
              f"relative reconstruction error {rel:.4f}  {res.history['time'][-1]:.2f} s")
    print(f"figure written to {out.resolve()}")
    return 0


def _method_dirs(specs: list[str]) -> dict[str, Path]:
    """``["NAME=DIR", ...]`` -> ``{NAME: DIR}``; a bad item or a repeated name is an error naming it."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        name, folder = name.strip(), folder.strip()
        if not sep or not name or not folder:
            raise ValueError(f"--fused takes NAME=DIR items (e.g. lrrnet=outputs/lrrnet), got {spec!r}")
        if name in out:
            raise ValueError(f"--fused: method name {name!r} given twice ({out[name]} and {folder})")
        out[name] = Path(folder)
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    fused = _method_dirs(args.fused)
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    if plot.resolve() == out.resolve():
        raise ValueError(f"--plot and --out name the same file {out}")
    result = evaluate(args.ir, args.vi, fused, profile=args.profile, metrics=args.metrics, progress=not args.quiet,
                      workers=args.workers)
    result.to_csv(out)
    result.plot(plot)
    print(f"mean over {len(result.images)} image(s), {result.profile} profile (bold: best of each column)\n")
    print(result.to_markdown())
    print(f"\nper-image scores written to {out.resolve()}")
    print(f"bar chart written to {plot.resolve()}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from unrolled.training.config import TrainConfig
    from unrolled.training.log import TERMS

    from .training import train

    config = TrainConfig.from_toml(args.config)
    changes = {k: v for k, v in (("out_dir", args.out_dir), ("steps", args.steps), ("device", args.device),
                                 ("precision", args.precision)) if v is not None}
    config = replace(config, **changes)
    resume = None
    if args.resume is not None:
        resume = Path(config.out_dir) if args.resume == "" else Path(args.resume)
    summary = train(config, resume=resume, progress=not args.quiet)
    if summary.rank != 0:  # under torchrun, rank 0 reports for every process
        return 0
    first, final = summary.first, summary.final
    pace = f"{summary.mean_step_seconds:.3g} s per step, " if summary.steps > summary.start_step else ""
    procs = f", {summary.world} processes" if summary.world > 1 else ""
    print(f"trained {summary.steps} steps ({summary.steps - summary.start_step} in this run, {pace}"
          f"{'fast path' if summary.fast else 'eager torch: ' + str(summary.fast_reason)}{procs})")
    if first:
        print("loss at step {:>6}: {}".format(first["step"], "  ".join(f"{k} {first[k]:.5g}" for k in TERMS)))
        print("loss at step {:>6}: {}".format(final["step"], "  ".join(f"{k} {final[k]:.5g}" for k in TERMS)))
    if summary.validation:
        last = summary.validation[-1]
        scores = "  ".join(f"{k} {v:.5g}" for k, v in last.items() if k != "step")
        print(f"validation at step {last['step']}: {scores}")
        best = "none (no finite score)" if summary.best_value is None else f"{summary.best_value:.5g}"
        print(f"best {config.val_metric} {best} at step {summary.best_step}: "
              f"{(summary.out_dir / 'best.pt').resolve()}" + ("; stopped early" if summary.stopped_early else ""))
    print(f"weights written to {summary.weights.resolve()} (+ {summary.sidecar.name})")
    print(f"log {summary.log.resolve()}, plot {summary.plot.resolve()}, checkpoint {summary.checkpoint.resolve()}")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import shlex

    from ._dist import distributed
    from .benchmark import benchmark

    options = {"lrrnet": {"weights": args.weights}} if args.weights else {}
    command = "llrr benchmark " + " ".join(shlex.quote(a) for a in args.argv)
    with distributed() as dist:
        res = benchmark(args.datasets, args.out_dir, methods=args.methods, stored=args.stored or (),
                        profiles=args.profiles, colour=args.colour, options=options, progress=not args.quiet,
                        command=command, workers=args.workers, dist=dist)
    if res is None:  # under torchrun, rank 0 scores and reports
        return 0
    print(res.leaderboard.read_text())
    print(f"{res.written} image(s) fused, {res.reused} reused; leaderboard: {res.leaderboard.resolve()}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export, report_lines

    report = export(args.weights, args.out, opset=args.opset)
    print("\n".join(report_lines(report)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llrr", description="Learned low-rank representation: decomposition and fusion.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decompose", help="split a grey image into low-rank and sparse parts (Algorithm 1 and FISTA)")
    d.add_argument("image", nargs="?", help="image file (default: the bundled TNO demo infrared image)")
    d.add_argument("-o", "--out", default="outputs/decomposition.png", help="figure path (default: %(default)s)")
    d.add_argument("--size", type=int, default=8, help="patch side (default: %(default)s)")
    d.add_argument("--stride", type=int, default=3, help="patch stride (default: %(default)s)")
    d.add_argument("--lam1", type=float, default=0.02, help="low-rank weight (default: %(default)s)")
    d.add_argument("--lam2", type=float, default=0.02, help="sparse weight (default: %(default)s)")
    d.add_argument("--iterations", type=int, default=400, help="iterations per solver (default: %(default)s)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_decompose)
    e = sub.add_parser("evaluate", help="score fused images against their sources: per-image CSV, mean table, chart",
                       description="Pair images by file name (stem) across --ir, --vi and each --fused folder, "
                                   "compute the metrics of each method on each pair, write a per-image CSV and a "
                                   "bar chart, and print the mean table as Markdown.")
    e.add_argument("--ir", required=True, metavar="DIR", help="folder of infrared images (png, jpg, bmp, tif)")
    e.add_argument("--vi", required=True, metavar="DIR", help="folder of visible images, same file names")
    e.add_argument("--fused", required=True, nargs="+", metavar="NAME=DIR",
                   help="one folder of fused images per method, e.g. lrrnet=outputs/lrrnet densefuse=results/df")
    e.add_argument("--profile", default="paper", help="metric profile: paper, standard, vifb or cddfuse "
                   "(default: %(default)s)")
    e.add_argument("--metrics", nargs="+", metavar="M", help="metrics to compute (default: all of the profile)")
    e.add_argument("-o", "--out", default="outputs/evaluation.csv", help="per-image CSV (default: %(default)s)")
    e.add_argument("--plot", metavar="PATH", help="bar chart path (default: the CSV path with .png)")
    e.add_argument("-j", "--workers", type=int, default=0, metavar="N",
                   help="scoring processes (default: 0, one per CPU; 1: no extra process)")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_evaluate)
    t = sub.add_parser("train", help="train an LRRNet with the detail-to-semantic loss from a TOML config",
                       description="Train LRRNet as a TOML config says (configs/default.toml is the default recipe; "
                                   "relative paths in a config are relative to its folder). Writes log.csv, "
                                   "losses.png, checkpoint.pt and the final lrrnet.pt + lrrnet.json into out_dir; with "
                                   "val_fraction > 0 also val.csv (validation loss and metrics) and best.pt + "
                                   "best.json (the best val_metric).")
    t.add_argument("--config", required=True, metavar="FILE.toml", help="training config")
    t.add_argument("--resume", nargs="?", const="", metavar="CKPT",
                   help="continue a run from CKPT (a checkpoint or a run folder; default: out_dir's checkpoint.pt)")
    t.add_argument("--out-dir", metavar="DIR", help="override out_dir of the config (relative to the current folder)")
    t.add_argument("--steps", type=int, metavar="N", help="override steps of the config (e.g. to extend a run)")
    t.add_argument("--device", help="override device of the config: cpu (fast path), cuda or cuda:N (eager autograd "
                   "on the GPU; under torchrun, cuda is each process's own GPU)")
    t.add_argument("--precision", choices=["float32", "bfloat16"], help="override precision of the config "
                   "(bfloat16: torch.autocast, eager path)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)
    b = sub.add_parser("benchmark", help="every method on every dataset, scored by every profile: CSVs, charts and "
                       "a Markdown leaderboard", description="Fuse every pair of each dataset (a folder with ir/ and "
                       "vi/, or a name under ../shared/data) with each method, score them and any stored outputs "
                       "(<dataset>/fused/<method>/) with each metric profile, and write per-image CSVs, charts and "
                       "leaderboard.md into --out-dir. Everything is checked before anything is written; a rerun "
                       "reuses the fused images already there.")
    b.add_argument("--datasets", nargs="+", required=True, metavar="D", help="dataset folders or names (tno21 vifb)")
    b.add_argument("--methods", nargs="*", default=["all"], metavar="M",
                   help="methods (default: all registered; none: score stored outputs only)")
    b.add_argument("--stored", nargs="+", metavar="S", help="stored outputs to score: folder names under "
                   "<dataset>/fused, or all")
    b.add_argument("--profiles", nargs="+", default=["paper"], metavar="P",
                   help="metric profiles (default: %(default)s)")
    b.add_argument("--colour", choices=["luminance", "channels"], default="luminance",
                   help="colour visible images: fuse the luminance or each channel as VIFB does (default: "
                        "%(default)s)")
    b.add_argument("--weights", help="LRRNet weights for the lrrnet method (default: the shipped default)")
    b.add_argument("--out-dir", required=True, metavar="DIR", help="output folder")
    b.add_argument("-j", "--workers", type=int, default=0, metavar="N",
                   help="scoring processes (default: 0, one per CPU; 1: no extra process)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_benchmark)
    x = sub.add_parser("export", help="write LRRNet as an ONNX graph (dynamic size), checked against llrr fuse",
                       description="Export the LRRNet of --weights to ONNX: inputs ir and vi, float32 (N, 1, H, W) "
                                   "grey images on any scale (min-max scaled inside the graph), output fused on "
                                   "[0, 1]. The file is run with ONNX Runtime on the demo pair at two sizes and must "
                                   "match llrr fuse within one grey level, or nothing is written. Needs pip install "
                                   "'llrr[deploy]'.")
    x.add_argument("--weights", default="default", help="registry name or checkpoint path (default: %(default)s)")
    x.add_argument("-o", "--out", required=True, help="ONNX file to write (a sidecar OUT.json goes beside it)")
    x.add_argument("--opset", type=int, help="ONNX opset, 13 to 20 (default 17)")
    x.set_defaults(func=_cmd_export)
    from .cli_fuse import add_fuse_commands

    add_fuse_commands(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean-up runs (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def main(argv=None) -> int:
    """Run the ``llrr`` command line; returns the exit status.

    0 on success, 2 for bad input (a one-line message naming the file or parameter), 130 after Ctrl-C and 143
    after SIGTERM (128 + the signal's number; outputs already written stay, no temporary file is left).
    """
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        print(f"llrr {args.command}: stopped by {signal.Signals(signum).name}", file=sys.stderr)
        return 128 + int(signum)
    except (ValueError, TypeError, OSError, MissingExtra) as exc:  # MissingExtra: an optional extra not installed
        from .io import one_line

        print(f"llrr {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
