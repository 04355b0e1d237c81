"""Input validation shared by the public functions of :mod:`solvers`.

Every check raises with a message naming the parameter, what was expected and what was received, so that a user
can act on it. Validation happens once, at the public boundary; internal code trusts its inputs.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_array",
    "check_scalar",
    "check_int",
    "common_float_dtype",
]

_FLOAT_DTYPES = (np.float32, np.float64)


def _float_dtype_for(arr: np.ndarray, name: str) -> np.dtype:
    """Floating dtype an array is computed in: float32/float64 kept, integers and bools go to float64."""
    kind = arr.dtype.kind
    if arr.dtype in _FLOAT_DTYPES:
        return arr.dtype
    if kind in "ui" or kind == "b" or arr.dtype == np.float16:
        return np.dtype(np.float64)
    raise TypeError(
        f"{name} must hold real numbers (float32, float64 or integers), got dtype {arr.dtype}"
    )


def check_array(
    value,
    name: str,
    *,
    ndim: int | None = None,
    dtype: np.dtype | type | None = None,
    finite: bool = True,
    copy: bool = False,
    allow_empty: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a real floating ndarray and check it.

    Parameters
    ----------
    value : array_like
        The input.
    name : str
        Parameter name used in error messages.
    ndim : int, optional
        Required number of dimensions.
    dtype : dtype, optional
        Cast to this dtype. By default float32 and float64 are kept and integers become float64.
    finite : bool
        Raise ``ValueError`` if any entry is NaN or infinite.
    copy : bool
        Always return a new array.
    allow_empty : bool
        Accept arrays with zero entries (e.g. an empty D1 for the pure-sparse problem).
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many types
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USVcmM":
        raise TypeError(f"{name} must hold real numbers (float32, float64 or integers), got dtype {arr.dtype}")
    target = np.dtype(dtype) if dtype is not None else _float_dtype_for(arr, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = np.array(arr, dtype=target, copy=True) if copy else np.asarray(arr, dtype=target)
    if finite and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains non-finite values (NaN or Inf), first at index {tuple(int(i) for i in bad)}"
        )
    return arr


def check_scalar(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check a real scalar lies in an interval and return it as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bracket}{low}, {high if high is not None else 'inf'}), got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low if low is not None else '-inf'}, {high}{bracket}, got {value}")
    return value


def check_int(value, name: str, *, low: int | None = None) -> int:
    """Check an integer (not a bool) is at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def common_float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The float dtype that computations on ``arrays`` run in (float32 only if all are float32)."""
    return np.result_type(*[a.dtype for a in arrays], np.float32)
