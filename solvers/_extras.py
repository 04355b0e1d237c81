"""The error for an optional extra that is not installed (onnx, onnxruntime, PyAV)."""

from __future__ import annotations

__all__ = ["MissingExtra"]


class MissingExtra(ImportError):
    """An optional dependency is missing; the message names the extra that brings it. The ``llrr`` command reports it
    in one line (any other ImportError is a bug and keeps its traceback)."""
