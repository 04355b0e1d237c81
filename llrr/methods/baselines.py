"""Baselines that every table should include, so that a method's numbers have a floor to be compared with."""

from __future__ import annotations

import numpy as np

__all__ = ["average", "maximum"]


def average(ir: np.ndarray, vi: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """``(IR + VI) / 2`` pixel by pixel."""
    return 0.5 * (ir + vi)


def maximum(ir: np.ndarray, vi: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """``max(IR, VI)`` pixel by pixel."""
    return np.maximum(ir, vi)
