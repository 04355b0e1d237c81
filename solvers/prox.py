r"""Proximal operators of the penalties of Eq. 2/5.

* :func:`soft_threshold` is the prox of :math:`\theta\|\cdot\|_1` and the activation :math:`h_\theta` of Eq. 9,
  :math:`h_\theta(x) = \mathrm{sign}(x)\max(|x| - \theta, 0)`, applied exactly as written, also for a negative
  :math:`\theta` (a learned threshold can become negative; then it expands instead of shrinking) and for one threshold
  per row (per block of Z in Algorithm 1: :math:`\theta = \mu(\lambda_1; \lambda_2)`). Two engines: a numpy reference
  and a parallel numba kernel, equal to the last bit.
* :func:`svt`, singular value thresholding, is the prox of :math:`\tau\|\cdot\|_*`:
  :math:`U\,\mathrm{diag}(\max(\sigma - \tau, 0))\,V^T`.

Both are also available as small prox objects (:class:`L1Prox`, :class:`NuclearProx`) with ``__call__`` (value of
the penalty) and ``prox(x, step)``, as in pyproximal.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._linalg import SMALL
from ._validation import check_array, check_scalar

__all__ = [
    "soft_threshold",
    "soft_threshold_numpy",
    "svt",
    "L1Prox",
    "NuclearProx",
    "ENGINES",
]

ENGINES = ("numba", "numpy")


def _theta_array(theta, x: np.ndarray):
    """Normalise ``theta`` to a scalar of x's dtype, a per-row vector or an elementwise array."""
    t = np.asarray(theta)
    if t.dtype.kind not in "fiu":
        raise TypeError(f"theta must be real, got dtype {t.dtype}")
    if not np.isfinite(t).all():
        raise ValueError("theta contains non-finite values")
    if t.ndim == 0:
        return "scalar", x.dtype.type(t)
    if x.ndim == 2 and t.shape in ((x.shape[0],), (x.shape[0], 1)):
        return "rows", np.ascontiguousarray(t.reshape(-1), dtype=x.dtype)
    if t.shape == x.shape:
        return "elementwise", np.ascontiguousarray(t, dtype=x.dtype)
    raise ValueError(
        f"theta must be a scalar, one value per row (shape ({x.shape[0]},) or ({x.shape[0]}, 1)) or have the "
        f"shape of x {x.shape}; got shape {t.shape}"
    )


def soft_threshold_numpy(x: np.ndarray, theta, out: np.ndarray | None = None) -> np.ndarray:
    """Reference soft threshold ``sign(x) * max(|x| - theta, 0)`` in numpy (see :func:`soft_threshold`)."""
    kind, t = _theta_array(theta, x)
    if kind == "rows":
        t = t.reshape((-1,) + (1,) * (x.ndim - 1))
    res = np.sign(x) * np.maximum(np.abs(x) - t, x.dtype.type(0))
    if out is None:
        return res
    out[...] = res
    return out


def soft_threshold(x, theta, out: np.ndarray | None = None, *, engine: str = "numba") -> np.ndarray:
    r"""Soft threshold :math:`h_\theta(x) = \mathrm{sign}(x)\max(|x| - \theta, 0)` (Eq. 9).

    Parameters
    ----------
    x : ndarray
        float32 or float64 input of any shape.
    theta : float or ndarray
        Threshold: a scalar, one value per row of a 2-D ``x`` (shape ``(n_rows,)`` or ``(n_rows, 1)``), or an array of
        ``x``'s shape. Negative values are allowed and applied by the same formula (``|x| + |theta|`` with x's sign;
        zero stays zero). NaN in ``x`` is not an error here: it propagates (``sign(NaN) = NaN``), and the solvers
        report it with the iteration where it appeared.
    out : ndarray, optional
        Output array of ``x``'s shape and dtype; ``out=x`` works in place.
    engine : {"numba", "numpy"}
        The parallel numba kernel (default; arrays under 16,384 entries go to numpy, whose start-up is cheaper) or
        the numpy reference. They agree exactly.

    Returns
    -------
    ndarray
        ``out`` if given, else a new array.

    Notes
    -----
    This is :math:`\operatorname{prox}_{\theta\|\cdot\|_1}`. The threshold is cast to ``x``'s dtype first, so
    float32 stays float32 and both engines round identically.

    Examples
    --------
    >>> import numpy as np
    >>> soft_threshold(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0)
    array([-1., -0.,  0.,  0.,  1.])
    >>> soft_threshold(np.array([-1.0, 0.0, 1.0]), -0.5)  # a negative threshold expands
    array([-1.5,  0. ,  1.5])
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        x = check_array(x, "x", finite=False)
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
            got = (getattr(out, "shape", None), getattr(out, "dtype", None))
            raise ValueError(f"out must have x's shape {x.shape} and dtype {x.dtype}, got {got}")
    if engine == "numpy" or x.size < SMALL:  # small arrays: the kernel's start-up costs more than the work
        return soft_threshold_numpy(x, theta, out)
    kind, t = _theta_array(theta, x)
    if out is None:
        out = np.empty_like(x)
    if kind == "rows":
        _kernels.soft_threshold_rows(x, t, out)
    elif x.flags.c_contiguous and out.flags.c_contiguous:
        xf, of = x.reshape(-1), out.reshape(-1)
        if kind == "scalar":
            _kernels.soft_threshold_scalar(xf, t, of)
        else:
            _kernels.soft_threshold_elementwise(xf, t.reshape(-1), of)
    else:  # non-contiguous views: the numpy reference
        soft_threshold_numpy(x, theta, out)
    return out


def _svd_wide_gram(M: np.ndarray):
    """Left singular vectors and values of a wide matrix from the eigenpairs of M M^T.

    The Gram matrix is formed in M's dtype (one BLAS product, no copy of M) and decomposed in float64.
    """
    G = (M @ M.T).astype(np.float64)
    w, U = np.linalg.eigh(G)
    return U, np.sqrt(np.clip(w, 0.0, None))


def svt(M, tau: float, *, method: str = "auto", return_rank: bool = False, out: np.ndarray | None = None):
    r"""Singular value thresholding :math:`U\,\mathrm{diag}(\max(\sigma_i - \tau, 0))\,V^T`.

    The prox of :math:`\tau\|\cdot\|_*` (nuclear norm), used by ISTA/FISTA/ADMM on the low-rank block L.

    Parameters
    ----------
    M : ndarray of shape (m, n)
    tau : float
        Threshold, ``tau >= 0``.
    method : {"auto", "svd", "gram"}
        "svd": LAPACK's thin SVD. "gram": for a wide or tall matrix, the eigen-decomposition of the small Gram
        matrix (computed in float64), then one matrix product:
        ``svt(M) = U diag(max(s - tau, 0) / s) U^T M``; much faster when ``min(m, n) << max(m, n)`` (patch
        problems: 64 rows, 62,001 columns). "auto" picks "gram" when the aspect ratio is at least 8.
    return_rank : bool
        Also return the number of singular values above ``tau``.
    out : ndarray of shape (m, n), optional
        Write the result here (M's dtype, must not overlap M); saves an allocation in iterative solvers.

    Returns
    -------
    ndarray of shape (m, n) [, int]

    Examples
    --------
    >>> import numpy as np
    >>> M = np.diag([3.0, 1.0, 0.5])
    >>> svt(M, 0.75)
    array([[2.25, 0.  , 0.  ],
           [0.  , 0.25, 0.  ],
           [0.  , 0.  , 0.  ]])
    """
    if method not in ("auto", "svd", "gram"):
        raise ValueError(f"method must be 'auto', 'svd' or 'gram', got {method!r}")
    M = check_array(M, "M", ndim=2)  # ndim and finiteness: cheap next to the decomposition
    tau = check_scalar(tau, "tau", low=0.0)
    m, n = M.shape
    if method == "auto":
        method = "gram" if max(m, n) >= 8 * min(m, n) else "svd"
    if method == "svd":
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
        s_new = np.maximum(s - tau, 0.0)
        rank = int(np.count_nonzero(s_new))
        res = (U[:, :rank] * s_new[:rank].astype(M.dtype)) @ Vt[:rank]
    else:
        wide = m <= n
        A = M if wide else M.T
        U, s = _svd_wide_gram(A)
        keep = s > tau
        rank = int(np.count_nonzero(keep))
        scale = np.zeros_like(s)
        scale[keep] = (s[keep] - tau) / s[keep]
        P = ((U * scale) @ U.T).astype(M.dtype)
        if wide and out is not None and out.shape == M.shape and out.dtype == M.dtype and out.flags.c_contiguous:
            res = np.matmul(P, A, out=out)
        else:
            res = P @ A if wide else (P @ A).T
    if out is not None and res is not out:
        if out.shape != M.shape:
            raise ValueError(f"out must have M's shape {M.shape}, got {out.shape}")
        out[...] = res
        res = out
    return (res, rank) if return_rank else res


class L1Prox:
    r"""The penalty :math:`\lambda\|x\|_1` as a prox object."""

    def __init__(self, lam: float, *, engine: str = "numba"):
        self.lam = check_scalar(lam, "lam", low=0.0)
        self.engine = engine

    def __call__(self, x) -> float:
        return float(self.lam * np.abs(x).sum())

    def prox(self, x, step: float, out=None):
        """:math:`\\operatorname{prox}_{step\\cdot\\lambda\\|\\cdot\\|_1}(x)`."""
        return soft_threshold(x, step * self.lam, out, engine=self.engine)


class NuclearProx:
    r"""The penalty :math:`\lambda\|X\|_*` (sum of singular values) as a prox object."""

    def __init__(self, lam: float, *, method: str = "auto"):
        self.lam = check_scalar(lam, "lam", low=0.0)
        self.method = method

    def __call__(self, x) -> float:
        return float(self.lam * np.linalg.svd(np.asarray(x, dtype=np.float64), compute_uv=False).sum())

    def prox(self, x, step: float):
        """:math:`\\operatorname{prox}_{step\\cdot\\lambda\\|\\cdot\\|_*}(x)` by singular value thresholding."""
        return svt(x, step * self.lam, method=self.method)
