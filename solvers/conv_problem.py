"""The convolutional dictionary model of Algorithm 1's Eq. 7-8 form: operators and :class:`ConvProblem`.

Synthesis ``C1 * Z`` (true 2-D convolution of each map with its atom, summed) and analysis (correlation with every
atom), with "zero" or "reflect" boundaries, by FFT or directly; the objective and its Lipschitz constant. The
iteration itself and the mathematics of the boundaries are documented in :mod:`solvers.convolutional`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import fftconvolve
from scipy.sparse.linalg import LinearOperator, eigsh

from ._validation import check_array, check_int, check_scalar, common_float_dtype

__all__ = ["ConvProblem", "patch_dictionary_to_filters", "BOUNDARIES", "METHODS"]

BOUNDARIES = ("zero", "reflect")
METHODS = ("auto", "fft", "direct")
_DIRECT_MAX_SIZE = 9


def _pad(a: np.ndarray, c: int, boundary: str) -> np.ndarray:
    """Pad the last two axes by c on each side (zeros or reflection)."""
    if c == 0:
        return a
    widths = [(0, 0)] * (a.ndim - 2) + [(c, c), (c, c)]
    return np.pad(a, widths, mode="constant" if boundary == "zero" else "reflect")


def _synthesis(Z: np.ndarray, filters: np.ndarray, boundary: str, method: str) -> np.ndarray:
    """``sum_k d_k (*) z_k``, Z (K, H, W) -> (H, W); arrays already validated and of one dtype."""
    K, s = filters.shape[:2]
    c = s // 2
    H, W = Z.shape[1:]
    if method == "fft" or (method == "auto" and s > _DIRECT_MAX_SIZE):
        return fftconvolve(_pad(Z, c, boundary), filters, mode="valid", axes=(1, 2)).sum(axis=0)
    # P[(u, v)] = sum_k d_k(u, v) z_k (padding commutes with this pixelwise sum); y(i, j) = sum_uv P_uv(i-u+c, j-v+c)
    P = _pad((filters.reshape(K, s * s).T @ Z.reshape(K, H * W)).reshape(s * s, H, W), c, boundary)
    out = np.zeros((H, W), dtype=Z.dtype)
    for u in range(s):
        for v in range(s):
            out += P[u * s + v, 2 * c - u : 2 * c - u + H, 2 * c - v : 2 * c - v + W]
    return out


def _analysis(R: np.ndarray, filters: np.ndarray, boundary: str, method: str) -> np.ndarray:
    """``(d_k correlated with R)_k``, R (H, W) -> (K, H, W)."""
    K, s = filters.shape[:2]
    c = s // 2
    H, W = R.shape
    Rp = _pad(R, c, boundary)
    if method == "fft" or (method == "auto" and s > _DIRECT_MAX_SIZE):
        return fftconvolve(Rp[None], filters[:, ::-1, ::-1], mode="valid", axes=(1, 2))
    cols = np.empty((s * s, H, W), dtype=R.dtype)  # im2col: cols[(u, v)](i, j) = Rp(i + u, j + v)
    for u in range(s):
        for v in range(s):
            cols[u * s + v] = Rp[u : u + H, v : v + W]
    return (filters.reshape(K, s * s) @ cols.reshape(s * s, H * W)).reshape(K, H, W)


def patch_dictionary_to_filters(D, size: int) -> np.ndarray:
    """Atoms of a patch dictionary as convolution filters.

    Parameters
    ----------
    D : ndarray of shape (size * size, n_atoms)
        One atom per column, vectorised row-major (entry ``u * size + v`` is pixel (u, v)), as
        :func:`solvers.extract_patches` builds patches.
    size : int
        Atom side s.

    Returns
    -------
    ndarray of shape (n_atoms, size, size)

    Examples
    --------
    >>> import numpy as np
    >>> patch_dictionary_to_filters(np.arange(8.0).reshape(4, 2), 2)[1]
    array([[1., 3.],
           [5., 7.]])
    """
    size = check_int(size, "size", low=1)
    D = check_array(D, "D", ndim=2)
    if D.shape[0] != size * size:
        raise ValueError(f"D must have size * size = {size * size} rows (one atom per column), got shape {D.shape}")
    return np.ascontiguousarray(D.T.reshape(D.shape[1], size, size))


@dataclass(eq=False)
class ConvProblem:
    r"""Convolutional dictionary, weights and boundary of Eq. 8, and every formula built on them.

    Parameters
    ----------
    filters : ndarray of shape (n_atoms, s, s)
        Atoms :math:`d_k`, s odd; the first ``n_low`` are the base atoms.
    n_low : int
        Number of base (low-rank block) atoms, ``0 <= n_low <= n_atoms``.
    lam1, lam2 : float
        Weights (``>= 0``) of the l1 penalties on the base maps Z_L and the salient maps Z_S.
    lam3 : float, default 0
        :math:`\hat\lambda_3 = 1 - \lambda_3` multiplies :math:`Z_{t-1}` (a ridge :math:`\lambda_3/\mu` on Z).
    mu : float, optional
        Step; default ``1 / lipschitz(image.shape)``.
    boundary : {"reflect", "zero"}, default "reflect"
        Padding of the maps and of the residual (module docstring).
    method : {"auto", "fft", "direct"}, default "auto"
        Engine computing the convolutions.

    Examples
    --------
    >>> import numpy as np
    >>> prob = ConvProblem(np.ones((2, 3, 3)) / 9, n_low=1, lam1=0.1, lam2=0.1, boundary="zero")
    >>> prob.synthesis(np.ones((2, 4, 4)))[0]  # a corner pixel sees 4 of the 9 taps of each atom
    array([0.88888889, 1.33333333, 1.33333333, 0.88888889])
    """

    filters: np.ndarray
    n_low: int
    lam1: float
    lam2: float
    lam3: float = 0.0
    mu: float | None = None
    boundary: str = "reflect"
    method: str = "auto"
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        f = check_array(self.filters, "filters", ndim=3)
        if f.shape[1] != f.shape[2] or f.shape[1] % 2 == 0:
            raise ValueError(
                f"filters must have shape (n_atoms, s, s) with s odd (a centred 'same' convolution), got shape "
                f"{f.shape}; pad even atoms with a zero row and column"
            )
        self.filters = np.ascontiguousarray(f)
        self.n_low = check_int(self.n_low, "n_low", low=0)
        if self.n_low > f.shape[0]:
            raise ValueError(f"n_low must be <= n_atoms = {f.shape[0]} (filters shape {f.shape}), got {self.n_low}")
        self.lam1 = check_scalar(self.lam1, "lam1", low=0.0)
        self.lam2 = check_scalar(self.lam2, "lam2", low=0.0)
        self.lam3 = check_scalar(self.lam3, "lam3", low=0.0)
        if self.mu is not None:
            self.mu = check_scalar(self.mu, "mu", low=0.0, low_inclusive=False)
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")

    @property
    def dtype(self) -> np.dtype:
        return self.filters.dtype

    @property
    def n_atoms(self) -> int:
        return self.filters.shape[0]

    @property
    def n_sparse(self) -> int:
        return self.n_atoms - self.n_low

    @property
    def size(self) -> int:
        """Atom side s."""
        return self.filters.shape[1]

    def split(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(Z_L, Z_S)``: the first ``n_low`` maps and the other ``n_sparse`` maps."""
        return Z[: self.n_low], Z[self.n_low :]

    def thresholds(self, mu: float) -> np.ndarray:
        r"""Per-map thresholds :math:`\theta = \mu(\lambda_1; \lambda_2)`, shape (n_atoms,)."""
        return np.r_[np.full(self.n_low, mu * self.lam1), np.full(self.n_sparse, mu * self.lam2)].astype(self.dtype)

    def astype(self, dtype) -> ConvProblem:
        """The same problem with filters in ``dtype`` (self if already)."""
        return self if np.dtype(dtype) == self.dtype else self.replace(filters=self.filters.astype(dtype))

    def replace(self, **changes) -> ConvProblem:
        """A copy with some fields changed."""
        f = dict(filters=self.filters, n_low=self.n_low, lam1=self.lam1, lam2=self.lam2, lam3=self.lam3, mu=self.mu,
                 boundary=self.boundary, method=self.method)
        f.update(changes)
        return ConvProblem(**f)

    # ---------------------------------------------------------------- input checks
    def check_image(self, image, name: str = "image") -> np.ndarray:
        """Validate a grey image (2-D, finite, at least s x s); keep float32 as float32."""
        x = check_array(image, name, ndim=2)
        if min(x.shape) < self.size:
            raise ValueError(f"{name} of shape {x.shape} is smaller than the filters ({self.size} x {self.size})")
        return x

    def check_Z(self, Z, shape: tuple[int, int], name: str = "Z") -> np.ndarray:
        """Validate coefficient maps of shape (n_atoms, H, W)."""
        Z = check_array(Z, name, ndim=3)
        if Z.shape != (self.n_atoms, *shape):
            raise ValueError(f"{name} must have shape {(self.n_atoms, *shape)} (n_atoms, H, W), got {Z.shape}")
        return Z

    def _cast(self, *arrays):
        dtype = common_float_dtype(*arrays, self.filters)
        return [a.astype(dtype, copy=False) for a in arrays] + [self.filters.astype(dtype, copy=False)]

    # ---------------------------------------------------------------- operators
    def synthesis(self, Z) -> np.ndarray:
        """:math:`C_1 * Z = \\sum_k d_k * z_k`: Z of shape (n_atoms, H, W) -> image of shape (H, W)."""
        Z = check_array(Z, "Z", ndim=3)
        if Z.shape[0] != self.n_atoms or min(Z.shape[1:]) < self.size:
            raise ValueError(f"Z must have shape (n_atoms={self.n_atoms}, H >= {self.size}, W >= {self.size}), "
                             f"got {Z.shape}")
        Z, f = self._cast(Z)
        return _synthesis(Z, f, self.boundary, self.method)

    def analysis(self, R) -> np.ndarray:
        """:math:`D^T R` (C2 without mu): correlation of an image R (H, W) with every atom -> (n_atoms, H, W)."""
        R, f = self._cast(self.check_image(R, "R"))
        return _analysis(R, f, self.boundary, self.method)

    def low_rank_image(self, Z) -> np.ndarray:
        """:math:`P_l`, the synthesis from the base maps only: Z (n_atoms, H, W) -> (H, W)."""
        return self._partial_synthesis(Z, slice(0, self.n_low))

    def sparse_image(self, Z) -> np.ndarray:
        """:math:`P_s`, the synthesis from the salient maps only: Z (n_atoms, H, W) -> (H, W)."""
        return self._partial_synthesis(Z, slice(self.n_low, self.n_atoms))

    def _partial_synthesis(self, Z, atoms: slice) -> np.ndarray:
        Z = check_array(Z, "Z", ndim=3)
        if Z.shape[0] != self.n_atoms:
            raise ValueError(f"Z must have shape (n_atoms={self.n_atoms}, H, W), got {Z.shape}")
        Z, f = self._cast(Z)
        if atoms.stop == atoms.start:
            return np.zeros(Z.shape[1:], dtype=Z.dtype)
        return _synthesis(np.ascontiguousarray(Z[atoms]), f[atoms], self.boundary, self.method)

    def lipschitz(self, shape: tuple[int, int], *, method: str = "auto", tol: float = 1e-8) -> float:
        r""":math:`\|C_1\|_2^2`, the Lipschitz constant of the zero-boundary data term on (H, W) images (cached).

        Parameters
        ----------
        shape : (int, int)
            Image shape (H, W), each ``>= s``.
        method : {"auto", "lanczos", "bound"}
            "lanczos": the largest eigenvalue of the actual operator :math:`C_1 C_1^T` (image -> image) by Lanczos
            iteration (:func:`scipy.sparse.linalg.eigsh`, a Krylov-accelerated power iteration; dense eigenvalues
            below 100 pixels), in float64 to relative accuracy ``tol``; a Ritz value, so never above the true value.
            "bound": :meth:`lipschitz_bound`, instant and never below the true value (its relative excess shrinks
            with the image: 30% on 8 x 8 images with 7 x 7 atoms, 0.7% on 64 x 64, 1e-4 on 512 x 512).
            "auto": "lanczos" up to 128 x 128 pixels (a fraction of a second to a few seconds), else "bound".
        tol : float
            Relative tolerance of "lanczos".
        """
        shape = (check_int(shape[0], "shape[0]", low=self.size), check_int(shape[1], "shape[1]", low=self.size))
        if method not in ("auto", "lanczos", "bound"):
            raise ValueError(f"method must be 'auto', 'lanczos' or 'bound', got {method!r}")
        if method == "auto":
            method = "lanczos" if shape[0] * shape[1] <= 128 * 128 else "bound"
        if method == "bound":
            return self.lipschitz_bound(shape)
        key = ("lanczos", shape, tol)
        if key not in self._cache:
            f = self.filters.astype(np.float64)
            n = shape[0] * shape[1]

            def matvec(r):
                return _synthesis(_analysis(r.reshape(shape), f, "zero", self.method), f, "zero", self.method).ravel()

            if n < 100:
                lam = np.linalg.eigvalsh(np.stack([matvec(e) for e in np.eye(n)], axis=1))[-1]
            else:
                op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
                v0 = np.random.default_rng(0).standard_normal(n)
                lam = eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0]
            self._cache[key] = max(float(lam), 0.0)
        return self._cache[key]

    def lipschitz_bound(self, shape: tuple[int, int]) -> float:
        r"""An upper bound of :meth:`lipschitz`: :math:`\max_\omega \sum_k |\hat d_k(\omega)|^2` on the
        (H + s - 1) x (W + s - 1) DFT grid (the zero-boundary operator is a restriction of that circular one)."""
        grid = (shape[0] + self.size - 1, shape[1] + self.size - 1)
        spec = np.fft.rfft2(self.filters.astype(np.float64), s=grid)
        return float((np.abs(spec) ** 2).sum(axis=0).max())

    def step(self, shape: tuple[int, int]) -> float:
        """The step mu: the value given, else ``1 / lipschitz(shape)``."""
        return self.mu if self.mu is not None else 1.0 / self.lipschitz(shape)

    def objective(self, x, Z, mu: float | None = None) -> float:
        r""":math:`G(Z) = \tfrac12\|x - C_1 * Z\|^2 + \tfrac{\lambda_3}{2\mu}\|Z\|^2 + \lambda_1\|Z_L\|_1 +
        \lambda_2\|Z_S\|_1` (module docstring), accumulated in float64; mu defaults to :meth:`step`."""
        x = self.check_image(x, "x")
        Z = self.check_Z(Z, x.shape)
        return self._objective(x, Z, self.step(x.shape) if mu is None else mu)

    def _objective(self, x, Z, mu):
        x, Z, f = self._cast(x, Z)
        r = (x - _synthesis(Z, f, self.boundary, self.method)).astype(np.float64, copy=False)
        val = 0.5 * float(np.vdot(r, r))
        if self.lam3:
            Z64 = Z.astype(np.float64, copy=False)
            val += 0.5 * self.lam3 / mu * float(np.vdot(Z64, Z64))
        L, S = self.split(Z)
        return val + self.lam1 * float(np.abs(L).sum(dtype=np.float64)) + self.lam2 * float(
            np.abs(S).sum(dtype=np.float64))
