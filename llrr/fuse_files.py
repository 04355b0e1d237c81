"""Fusing files: one pair, or two folders paired by file name, with a comparison figure (``llrr fuse``)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solvers._cpus import part_bounds
from solvers._files import IMAGE_SUFFIXES, images_by_stem

from .fuse import fuse
from .io import one_line, read_image, write_image

__all__ = ["IMAGE_SUFFIXES", "BatchReport", "pair_folders", "fuse_pair", "fuse_folders", "merge_reports",
           "plot_compare"]



@dataclass
class BatchReport:
    """What a folder run did: files written, pairs whose output already existed (``skip_existing``), the images
    skipped (no partner) and the pairs that failed (a bad file), each with the reason; ``total`` is the number of
    pairs found. Filled in as pairs complete, so that a caller that catches an interrupt knows what was done."""

    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    total: int = 0

    @property
    def done(self) -> int:
        """Pairs whose output is in place (written now or found)."""
        return len(self.written) + len(self.existing)


def _images(folder: Path, what: str) -> dict[str, Path]:
    if not folder.exists():
        raise FileNotFoundError(f"{what} directory not found: {folder}")
    if not folder.is_dir():
        raise ValueError(f"{what} must be a directory, got the file {folder}")
    return images_by_stem(folder, what)


def pair_folders(ir_dir, vi_dir) -> tuple[list[tuple[str, Path, Path]], dict[str, str]]:
    """Pairs ``(name, ir, vi)`` matched by file stem, and the unmatched names with the reason."""
    ir, vi = _images(Path(ir_dir), "ir"), _images(Path(vi_dir), "vi")
    if not ir and not vi:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {ir_dir} or {vi_dir}")
    pairs = [(name, ir[name], vi[name]) for name in sorted(set(ir) & set(vi))]
    missing = {name: f"{ir[name]} has no partner in {vi_dir}" for name in sorted(set(ir) - set(vi))}
    missing |= {name: f"{vi[name]} has no partner in {ir_dir}" for name in sorted(set(vi) - set(ir))}
    return pairs, missing


def fuse_pair(ir, vi, out, *, method: str | None = None, compare=None, progress: bool = False, **options) -> Path:
    """Fuse two files into ``out`` (written atomically); optionally write the IR | VI | fused figure."""
    fused = fuse(ir, vi, method=method, progress=progress, **options)
    path = write_image(fused, out)
    if compare is not None:
        plot_compare([(Path(ir).stem, read_image(ir), read_image(vi), fused)], compare)
    return path


@contextmanager
def deferred_interrupts(signals=(signal.SIGINT, signal.SIGTERM)):
    """Hold SIGINT and SIGTERM back until the block is done, then deliver them to the handlers that were in place.

    Used around "write this output and record it", so that an interrupt never separates the two. Only the main
    thread can set handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread() or any(signal.getsignal(s) is None for s in signals):
        yield  # handlers can only be set (and restored) from the main thread, and only Python-level ones
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and make sure a file can be created in it, before any work is done."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write into the output folder {folder}: {exc.strerror or exc}") from None


def fuse_folders(ir_dir, vi_dir, out_dir, *, method: str | None = None, compare=None, progress: bool = True,
                 skip_existing: bool = False, report: BatchReport | None = None, part: tuple[int, int] | None = None,
                 **options) -> BatchReport:
    """Fuse every pair of two folders into ``out_dir/<name>.png``; unpaired images are skipped and reported, and a
    pair that cannot be fused (an unreadable file, a size mismatch) is recorded in ``report.failed`` with the reason.

    Each output is written atomically (an interrupt leaves no partial or temporary file). With ``skip_existing``,
    pairs whose output exists are not fused again, so a re-run continues where an interrupted one stopped.
    ``report`` (optional) is filled in as pairs complete and returned.

    ``part=(k, n)`` fuses only part k of n of the pairs sorted by name (contiguous parts whose sizes differ by at most
    one, :func:`solvers._cpus.part_bounds`): the share of process k of n (``llrr fuse`` under torchrun). The report
    then counts that part (``total``), and the unpaired images only in part 0, so that the parts' reports add up.
    """
    from tqdm.auto import tqdm

    from .fuse import DEFAULT_METHOD, check_options

    check_options(method or DEFAULT_METHOD, options)  # a bad option fails here, not once per pair
    pairs, report_missing = pair_folders(ir_dir, vi_dir)
    report = BatchReport() if report is None else report
    if part is not None:
        k, n = part
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or not isinstance(k, int) or not 0 <= k < n:
            raise ValueError(f"part must be (k, n) with 0 <= k < n, got {part!r}")
        start, stop = part_bounds(len(pairs), k, n)
        pairs = pairs[start:stop]
        if k:
            report_missing = {}
    report.skipped.update(report_missing)
    report.total = len(pairs)
    out_dir = Path(out_dir)
    _check_writable(out_dir)
    shown = []
    for name, ir, vi in tqdm(pairs, desc=f"fusing ({method or 'default method'})", disable=not progress):
        out = out_dir / f"{name}.png"
        if skip_existing and out.is_file():
            report.existing.append(out)
            continue
        try:
            fused = fuse(ir, vi, method=method, **options)
            with deferred_interrupts():  # the file and the report agree, whenever Ctrl-C comes
                report.written.append(write_image(fused, out))
        except (ValueError, TypeError, OSError) as exc:  # a bad pair is reported, the others are still fused
            report.failed[name] = one_line(exc)
            continue
        if compare is not None and len(shown) < 6:
            shown.append((name, read_image(ir), read_image(vi), fused))
    if compare is not None and shown:
        plot_compare(shown, compare)
    return report


def merge_reports(reports) -> BatchReport:
    """One :class:`BatchReport` from the reports of the parts of a run, in part order."""
    out = BatchReport()
    for r in reports:
        out.written += r.written
        out.existing += r.existing
        out.skipped.update(r.skipped)
        out.failed.update(r.failed)
        out.total += r.total
    return out


def plot_compare(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path) -> Path:
    """A grid with one row per image: infrared | visible | fused."""
    from matplotlib.figure import Figure

    from .io import save_figure

    fig = Figure(figsize=(11, 3.3 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), 3))
    for r, (name, ir, vi, fused) in enumerate(rows):
        for c, (img, title) in enumerate([(ir, "infrared"), (vi, "visible"), (fused, "fused")]):
            ax = axes[r, c]
            ax.imshow(img, cmap=None if img.ndim == 3 else "gray")
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.axis("off")
    return save_figure(fig, path)
