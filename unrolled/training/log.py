"""The record of a training run: the per-step CSV log and the loss plot of Fig. 10.

``log.csv`` has one row per optimiser step: ``step``, each weighted loss term, ``total`` and ``seconds`` (the wall
time of that step). Values are written with Python's shortest exact float repr, so a resumed run's log can be compared
bit for bit with an uninterrupted one (all columns but ``seconds``). When a run starts or resumes, the file is
rewritten atomically with the rows it already has (those saved in the checkpoint, so rows logged after the last
checkpoint by a killed run are dropped, not duplicated); then each step appends its row and flushes.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._atomic import atomic_target

__all__ = ["TERMS", "LATER_TERMS", "LOG_COLUMNS", "TrainLog", "NullLog", "read_log", "plot_losses", "finite_row",
           "write_rows"]

TERMS = ("pixel", "shallow", "middle", "deep", "content", "total")
LOG_COLUMNS = ("step",) + TERMS + ("seconds",)
#: Terms added after runs were logged: a row written before a term existed (a resumed run's checkpoint, an old
#: ``log.csv``) holds it as 0, the value it had (the term was not in the loss).
LATER_TERMS = ("content",)


def _cell(v) -> str:
    return str(v) if isinstance(v, int) else repr(float(v))


def _value(row: dict, column: str):
    return row.get(column, 0.0) if column in LATER_TERMS else row[column]


class TrainLog:
    """Append-only CSV log of a run (module docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, path, rows: Sequence[dict] = ()):
        self.path = Path(path)
        with atomic_target(self.path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                fh.write(",".join(LOG_COLUMNS) + "\n")
                for row in rows:
                    fh.write(",".join(_cell(_value(row, c)) for c in LOG_COLUMNS) + "\n")
        self._fh = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def append(self, row: dict) -> None:
        """Write one row (keys: :data:`LOG_COLUMNS`) and flush it."""
        self._fh.write(",".join(_cell(_value(row, c)) for c in LOG_COLUMNS) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> TrainLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullLog:
    """A :class:`TrainLog` that writes nothing (the processes other than rank 0 of a distributed run)."""

    def append(self, row: dict) -> None:
        pass

    def __enter__(self) -> NullLog:
        return self

    def __exit__(self, *exc) -> None:
        pass


def write_rows(path, rows: Sequence[dict]) -> Path:
    """Write ``rows`` (dicts with the same keys, ``step`` first) as a CSV file, atomically (e.g. ``val.csv``)."""
    columns = list(rows[0]) if rows else ["step"]
    with atomic_target(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(",".join(columns) + "\n")
            for row in rows:
                fh.write(",".join(_cell(row[c]) for c in columns) + "\n")
    return Path(path)


def read_log(path) -> list[dict]:
    """Rows of a ``log.csv`` as dicts (``step`` int, the rest float)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [{k: int(v) if k == "step" else float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    return [{**{t: 0.0 for t in LATER_TERMS if "total" in row}, **row} for row in rows]


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(window) / window
    return np.convolve(y, kernel, mode="valid")


def plot_losses(rows: Sequence[dict], path, *, title: str | None = None) -> Path:
    """Fig. 10: each weighted loss term and the total against the iterations, log y (linear for a term with negative
    values), written atomically as PNG.

    A panel per term: the per-step values (light) and their moving average over ~1/50 of the run (dark). A term
    that is zero throughout (weight 0 in an ablation) is marked as switched off.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = np.array([r["step"] for r in rows], dtype=float)
    fig = Figure(figsize=(18, 3.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(TERMS), sharex=True)
    fig.subplots_adjust(left=0.045, right=0.99, bottom=0.15, top=0.82 if title else 0.9, wspace=0.32)
    for ax, term in zip(axes, TERMS, strict=True):
        y = np.array([_value(r, term) for r in rows], dtype=float)
        ax.set_title(term)
        ax.set_xlabel("iteration")
        ax.grid(True, which="both", alpha=0.3)
        finite = np.isfinite(y)
        linear = bool((finite & (y < 0)).any())  # a term that can be negative (minus VIF): every finite value
        shown = finite if linear else finite & (y > 0)
        if not shown.any():
            ax.text(0.5, 0.5, "switched off (weight 0)" if len(y) and np.all(y == 0) else "no positive values",
                    ha="center", va="center", transform=ax.transAxes)
            continue
        if not linear:
            ax.set_yscale("log")
        ax.plot(steps[shown], y[shown], color="C0", alpha=0.35, lw=0.8, label="per step")
        window = max(1, len(y) // 50)
        if window > 1 and shown.all():
            ax.plot(steps[window - 1:], _smooth(y, window), color="C0", lw=1.8, label=f"mean of {window}")
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def finite_row(row: dict) -> bool:
    """True if every loss term of ``row`` is finite."""
    return all(math.isfinite(_value(row, t)) for t in TERMS)
