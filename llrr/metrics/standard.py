"""Conventional definitions ("standard" profile): quantities that mean what their names say."""

from __future__ import annotations

import numpy as np

__all__ = ["sd", "mutual_information", "mi"]


def sd(fused: np.ndarray) -> float:
    """Population standard deviation of the 8-bit image on the [0, 255] scale."""
    return float(np.std(fused.astype(np.float64)))


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(A; B) in bits from the 256 x 256 joint histogram of two 8-bit images."""
    joint = np.bincount(a.ravel().astype(np.int64) * 256 + b.ravel(), minlength=65536).reshape(256, 256)
    p = joint / a.size
    pa, pb = p.sum(1), p.sum(0)
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / np.outer(pa, pb)[nz])))


def mi(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """``I(IR; F) + I(VI; F)`` in bits (summed over the two sources, as in Qu et al. 2002)."""
    return mutual_information(ir, fused) + mutual_information(vi, fused)
