"""File helpers shared by the three packages, kept once here because ``solvers`` is the lowest layer (standard library
only, and ``import solvers`` loads nothing heavy: ``llrr`` imports these at start-up without numba or torch).

* :func:`atomic_path`, :func:`atomic_write_text`: write beside the target, then rename onto it, so that a reader (or
  an interrupted run) sees the old file or the complete new one, never a partial file;
* :func:`sha256_file`: the hex digest of a file (weights, checkpoints);
* :data:`IMAGE_SUFFIXES`, :func:`images_by_stem`: the image files of a folder, paired across folders by file stem;
* :data:`SHARED`: the folder of shared data and weights, ``$LLRR_SHARED`` or ``shared/`` beside the repository.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "SHARED", "atomic_path", "atomic_write_text", "images_by_stem", "sha256_file"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""Suffixes read as images (any case)."""

SHARED = Path(os.environ.get("LLRR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
"""The shared data and weights: ``$LLRR_SHARED``, else ``shared/`` beside the repository."""


@contextmanager
def atomic_path(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error delete it.

    Nothing already at ``path`` is lost or half-written if writing fails. The file gets the usual permissions
    (0o666 less the umask), not mkstemp's private 0o600. Missing parent folders are created.

    Raises
    ------
    OSError
        The temporary file cannot be made (a read-only folder, a file where a folder should be, a full disk); the
        message names ``path``.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix or path.suffix, dir=path.parent)
    except OSError as exc:  # name the target, not the temporary file
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_file(path) -> str:
    """The sha256 of a file's bytes (hex), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def images_by_stem(folder, what: str = "image") -> dict[str, Path]:
    """The image files of ``folder`` (:data:`IMAGE_SUFFIXES`, any case; hidden files skipped) by file stem, sorted.

    Raises
    ------
    ValueError
        Two images with one stem (``01.png`` and ``01.bmp``): which one is meant is ambiguous.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if p.stem in found:
            raise ValueError(f"{what} directory {folder} holds two images named {p.stem!r}: {found[p.stem].name} "
                             f"and {p.name}; keep one")
        found[p.stem] = p
    return found
