"""The ``llrr fuse``, ``llrr methods`` and ``llrr weights`` subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["add_fuse_commands"]


def _options(args: argparse.Namespace) -> dict:
    out = {}
    if args.weights is not None:
        out["weights"] = args.weights
    if args.tile is not None:
        out["tile"] = args.tile
    if getattr(args, "colour", None) is not None:
        out["colour"] = args.colour
    if getattr(args, "device", None) is not None:
        out["device"] = args.device
    if getattr(args, "precision", None) is not None:
        out["precision"] = args.precision
    return out


def _fuse_video(args: argparse.Namespace) -> int:
    from .video import fuse_video

    if args.ir_video is None or args.vi_video is None or args.out is None:
        raise ValueError("two clips need --ir-video, --vi-video and -o OUT")
    if args.method not in (None, "lrrnet"):
        raise ValueError(f"video fusion runs LRRNet (method lrrnet); --method {args.method} is not supported there")
    if args.tile is not None or args.colour is not None or args.compare is not None or args.skip_existing:
        raise ValueError("--tile, --colour, --compare and --skip-existing do not apply to video fusion")
    options = {k: v for k, v in (("weights", args.weights), ("device", args.device),
                                 ("precision", args.precision)) if v is not None}
    report = fuse_video(args.ir_video, args.vi_video, args.out, scaling=args.scaling or "running",
                        progress=not args.quiet,
                        **options)
    h, w = report.size
    print(f"fused {report.frames} frame(s) of {w}x{h} at {report.fps:.3g} fps into {Path(report.path).resolve()} "
          f"({report.scaling} scaling, flicker {report.flicker:.3f} grey levels, {report.seconds:.1f} s)")
    return 0


def _cmd_fuse(args: argparse.Namespace) -> int:
    from ._dist import distributed
    from .fuse import DEFAULT_METHOD
    from .fuse_files import BatchReport, fuse_folders, fuse_pair, merge_reports

    method = args.method or DEFAULT_METHOD
    status = 0
    single = args.ir is not None or args.vi is not None
    folders = args.ir_dir is not None or args.vi_dir is not None or args.out_dir is not None
    video = args.ir_video is not None or args.vi_video is not None
    if single + folders + video != 1:
        raise ValueError("give either IR VI -o OUT (one pair), --ir-dir A --vi-dir B --out-dir C (folders) or "
                         "--ir-video A --vi-video B -o OUT (two clips)")
    if video:
        if int(os.environ.get("RANK", "0") or "0") > 0:  # under torchrun one process fuses the clips
            return 0
        return _fuse_video(args)
    if args.scaling is not None:
        raise ValueError("--scaling applies to video fusion (--ir-video, --vi-video)")
    if single:
        if args.ir is None or args.vi is None or args.out is None:
            raise ValueError("one pair needs IR, VI and -o OUT")
        if int(os.environ.get("RANK", "0") or "0") > 0:  # under torchrun one process is enough for one pair
            return 0
        out = fuse_pair(args.ir, args.vi, args.out, method=method, compare=args.compare, progress=not args.quiet,
                        **_options(args))
        print(f"fused {args.ir} + {args.vi} with {method}: {Path(out).resolve()}")
    else:
        if None in (args.ir_dir, args.vi_dir, args.out_dir):
            raise ValueError("folder mode needs --ir-dir, --vi-dir and --out-dir")
        with distributed() as dist:
            report = BatchReport()
            try:
                options = _options(args)
                if dist.active and options.get("device") is not None:  # one GPU per process of this machine
                    from unrolled.device import process_device

                    options["device"] = str(process_device(options["device"], dist.local_rank, dist.local_world))
                fuse_folders(args.ir_dir, args.vi_dir, args.out_dir, method=method,
                             compare=args.compare if dist.main else None, progress=not args.quiet and dist.main,
                             skip_existing=args.skip_existing, report=report,
                             part=(dist.rank, dist.world) if dist.active else None, **options)
            except KeyboardInterrupt:  # SIGINT, or SIGTERM through llrr.cli.main: say what is done, then stop
                print(f"\ninterrupted: {report.done} of {report.total} pair(s) done ({len(report.written)} written "
                      f"in this run{dist.label}) in {Path(args.out_dir).resolve()}; no partial file left. Run again "
                      "with --skip-existing to continue.", file=sys.stderr)
                raise
            if dist.active:  # rank 0 reports for every process
                reports = dist.gather(report)
                if not dist.main:
                    return 2 if report.failed else 0
                report = merge_reports(reports)
        for name, why in report.skipped.items():
            print(f"skipped {name}: {why}", file=sys.stderr)
        for name, why in report.failed.items():
            print(f"failed {name}: {why}", file=sys.stderr)
        existing = f", {len(report.existing)} already there (--skip-existing)" if args.skip_existing else ""
        failed = f"; failed {len(report.failed)}" if report.failed else ""
        procs = f" by {dist.world} processes" if dist.active else ""
        print(f"fused {len(report.written)} pair(s) with {method} into {Path(args.out_dir).resolve()}{procs}"
              f"{existing}; skipped {len(report.skipped)}{failed}")
        status = 2 if report.failed else 0  # bad input somewhere: the run is not a success
    if args.compare:
        print(f"comparison figure: {Path(args.compare).resolve()}")
    return status


def _cmd_methods(args: argparse.Namespace) -> int:
    from .fuse import DEFAULT_METHOD
    from .methods import METHODS

    for name, m in METHODS.items():
        flag = " (default)" if name == DEFAULT_METHOD else ""
        print(f"{name}{flag}: {m.description}\n    options: {', '.join(m.options) or 'none'}")
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from unrolled.weights import WEIGHTS

    if not WEIGHTS:
        print("no weights are shipped yet; `--weights PATH` takes a checkpoint file (e.g. the authors' released "
              "lrrnet_official_tno_block4.model)")
    for name, entry in WEIGHTS.items():
        print(f"{name} ({entry.kind}): {entry.description}\n    file {entry.path} sha256 {entry.sha256}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .fuse import DEFAULT_METHOD, fuse
    from .fuse_files import plot_compare
    from .io import demo_pair, read_image, write_image
    from .metrics import compute

    method = args.method or DEFAULT_METHOD
    out_dir = Path(args.out_dir)
    ir_path, vi_path = demo_pair()
    ir, vi = read_image(ir_path), read_image(vi_path)
    parts = None
    if method == "llrr-classical":  # keep the intermediates for their figure; the same as fuse(method=...)
        from .methods.classical import classical_fusion, plot_classical

        parts = classical_fusion(ir / 255.0, vi / 255.0, progress=not args.quiet)
        fused = np.round(parts.fused * 255.0).astype(np.uint8)
    else:
        fused = fuse(ir, vi, method=method, progress=not args.quiet)
    fused_path = write_image(fused, out_dir / "demo_fused.png")
    compare = plot_compare([("TNO demo pair", ir, vi, fused)], out_dir / "demo_compare.png")
    print(f"fused the bundled TNO demo pair ({ir.shape[1]}x{ir.shape[0]}) with {method}")
    for profile in ("paper", "standard"):
        scores = compute(fused, ir, vi, profile=profile)
        print(f"  {profile} metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    print(f"fused image: {fused_path.resolve()}\ncomparison figure: {compare.resolve()}")
    if parts is not None:
        fig = plot_classical(ir / 255.0, vi / 255.0, parts, out_dir / "demo_classical.png")
        print(f"classical decomposition figure: {fig.resolve()}")
    return 0


def add_fuse_commands(sub) -> None:
    """Register ``fuse``, ``methods`` and ``weights`` on the subparsers of the ``llrr`` parser."""
    f = sub.add_parser("fuse", help="fuse an infrared and a visible image (or two folders paired by file name)",
                       description="Fuse IR VI -o OUT, or --ir-dir A --vi-dir B --out-dir C (pairs by file name; "
                                   "an image without partner is reported and skipped). The output keeps the "
                                   "visible input's precision: 16-bit PNG/TIFF for 16-bit inputs, float TIFF for "
                                   "float TIFFs. Ctrl-C or SIGTERM stops after the current pair's temporary file is "
                                   "removed (exit 130 / 143); --skip-existing continues such a run. Or --ir-video A "
                                   "--vi-video B -o OUT: two clips fused frame by frame with LRRNet (grey output; "
                                   "--scaling keeps the brightness steady).")
    f.add_argument("ir", nargs="?", help="infrared image")
    f.add_argument("vi", nargs="?", help="visible image (grey or colour)")
    f.add_argument("-o", "--out", help="fused image path (one pair; .png or .tif keep 16 bits)")
    f.add_argument("--ir-dir", help="folder of infrared images")
    f.add_argument("--vi-dir", help="folder of visible images, same file names")
    f.add_argument("--out-dir", help="folder for the fused images (NAME.png; 16-bit PNG for 16-bit inputs)")
    f.add_argument("--ir-video", help="infrared clip (frames paired by index with --vi-video; output -o OUT: .mp4 "
                   "H.264 or .mkv lossless)")
    f.add_argument("--vi-video", help="visible clip, same size and frame count")
    f.add_argument("--scaling", choices=["running", "fixed", "frame"],
                   help="video: how the inputs and the output are brought to their range: a running min/max "
                        "(default), the first frame's, or each frame's own (flickers)")
    f.add_argument("--skip-existing", action="store_true",
                   help="folder mode: leave pairs whose NAME.png exists (continue an interrupted run)")
    f.add_argument("--method", help="fusion method (see `llrr methods`; default: the library default)")
    f.add_argument("--weights", help="LRRNet weights: a registry name or a checkpoint path (method lrrnet)")
    f.add_argument("--tile", type=int, help="tile size for the eager LRRNet path (method lrrnet)")
    f.add_argument("--device", help="method lrrnet: run the eager network on this torch device (cuda, cuda:N; "
                   "default: the CPU fast path); under torchrun each process takes the GPU of its LOCAL_RANK")
    f.add_argument("--precision", choices=["float32", "bfloat16"], help="method lrrnet: bfloat16 runs the eager "
                   "network under torch.autocast (default float32)")
    f.add_argument("--colour", choices=["luminance", "channels"], help="colour visible images: fuse the luminance "
                   "(default) or each RGB channel, as VIFB runs every method")
    f.add_argument("--compare", metavar="FIG.png", help="also write an IR | VI | fused figure")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=_cmd_fuse)
    m = sub.add_parser("methods", help="list the fusion methods and their options")
    m.set_defaults(func=_cmd_methods)
    w = sub.add_parser("weights", help="list the shipped LRRNet weights")
    w.set_defaults(func=_cmd_weights)
    d = sub.add_parser("demo", help="fuse the bundled demo pair with the default method, print its metrics (make run)")
    d.add_argument("--method", help="fusion method (default: the library default)")
    d.add_argument("--out-dir", default="outputs", help="where the images go (default: %(default)s)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_demo)
