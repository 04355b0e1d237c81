r"""Algorithm 1 in convolutional form (Section 3.2, Eq. 7-8) on whole images.

The patch matrices of Algorithm 1 become convolutions with K atoms :math:`d_k` of odd size s x s, split into
``n_low`` base atoms (block L, threshold :math:`\mu\lambda_1`) and ``n_sparse`` salient atoms (block S, threshold
:math:`\mu\lambda_2`). A grey image x of shape (H, W) is coded by K "same"-size coefficient maps Z of shape (K, H, W):

.. code-block:: text

    C1 * Z = sum_k d_k (*) z_k              synthesis: true 2-D convolution, maps -> image   (D Z)
    C2 * R = mu (d_k (x) R)_k               analysis: correlation with every atom, image -> maps  (mu D^T R)
    Z_0 = h_theta(C2 * X)
    Z_t = h_theta(C2 * (X - C1 * Z_{t-1}) + (1 - lam3) Z_{t-1}),   theta = mu (lam1 1_L; lam2 1_S)   (Eq. 7-8)
    P_l = sum_{k in L} d_k (*) z_k,   P_s = sum_{k in S} d_k (*) z_k

Eq. 8 as printed has :math:`\lambda_3 Z_{t-1}`; Eq. 7, from which it is derived, has :math:`\hat\lambda_3 = 1 -
\lambda_3`, which is what this module uses (it reduces to Algorithm 1). With atoms taken from a patch dictionary
(:func:`patch_dictionary_to_filters`), analysis at pixel (i, j) is the inner product of each atom with the s x s patch
centred at (i, j), and synthesis adds every atom times its coefficient back at its patch: the stride-1 patch model
with overlapping patches summed (not averaged).

Boundaries (``boundary=``), applied as padding by c = (s - 1) / 2 before a "valid" convolution:

* ``"zero"``: zero padding. Correlation is then exactly the adjoint of the convolution, so the iteration is proximal
  gradient with step mu on

  .. math:: G(Z) = \tfrac12\|x - \textstyle\sum_k d_k * z_k\|_2^2 + \tfrac{\lambda_3}{2\mu}\|Z\|_2^2
            + \lambda_1\|Z_L\|_1 + \lambda_2\|Z_S\|_1

  (:meth:`ConvProblem.objective`): its fixed points minimise G, G never increases when :math:`\mu\,\mathrm{Lip} +
  \lambda_3 < 2` (in particular for the default :math:`\mu = 1/\mathrm{Lip}`, :math:`\lambda_3 < 1`), where
  :math:`\mathrm{Lip} = \|C_1\|_2^2` depends on the image shape (:meth:`ConvProblem.lipschitz`).
* ``"reflect"``: reflection padding of the maps before synthesis and of the residual before analysis (numpy's
  ``np.pad(mode="reflect")``, the same as torch's ``ReflectionPad2d``). The two operators are then not adjoint, so
  the update is an iteration but not a gradient method of a known objective; :meth:`ConvProblem.objective` is still
  evaluated (with reflecting synthesis) but nothing guarantees it decreases. This is the boundary of the LLRR blocks:
  a torch ``Conv2d`` computes a correlation, so C1's weight is the flipped atom ``d_k[::-1, ::-1]`` and C2's weight is
  ``mu d_k``.

Two engines compute the same operators: ``"fft"`` (:func:`scipy.signal.fftconvolve` over axes (1, 2) of the padded
arrays, mode "valid") and ``"direct"`` (one matrix product with the atoms and s*s shifted slices, faster for small
atoms); ``"auto"`` takes "direct" for s <= 9.

References
----------
H. Li, T. Xu, X.-J. Wu, J. Lu, J. Kittler, "LRRNet: A novel representation learning guided fusion network for
infrared and visible images", IEEE TPAMI 45(9), 2023, Section 3.2. H. Sreter, R. Giryes, "Learned convolutional
sparse coding", ICASSP 2018.
"""

from __future__ import annotations

import numpy as np

from ._validation import common_float_dtype
from .base import IterativeSolver, SolverResult
from .conv_problem import ConvProblem, _analysis, _synthesis, patch_dictionary_to_filters
from .prox import soft_threshold

__all__ = ["ConvProblem", "ConvAlgorithm1", "ConvSolverResult", "conv_algorithm1", "patch_dictionary_to_filters"]


class ConvSolverResult(SolverResult):
    """:class:`~solvers.base.SolverResult` of the convolutional solver: Z of shape (n_atoms, H, W), maps and images.

    ``L`` / ``S`` are the base / salient maps, ``low_rank`` / ``sparse`` the images :math:`P_l`, :math:`P_s` (H, W),
    ``reconstruction`` their sum :math:`C_1 * Z`; ``extras["mu"]`` is the step used.
    """

    @property
    def low_rank(self) -> np.ndarray:
        return self.problem.low_rank_image(self.Z)

    @property
    def sparse(self) -> np.ndarray:
        return self.problem.sparse_image(self.Z)

    @property
    def reconstruction(self) -> np.ndarray:
        return self.problem.synthesis(self.Z)


class ConvAlgorithm1(IterativeSolver):
    """Eq. 7-8 on a whole image, in the solver template (update and objective in the module docstring).

    ``step()`` and ``solve()`` are :class:`~solvers.base.IterativeSolver`'s; only the constructor differs (an image
    and a :class:`ConvProblem` instead of a patch matrix and a LowRankSparseProblem).

    Parameters
    ----------
    image : ndarray of shape (H, W)
    problem : ConvProblem
    tol : float, default 0
        0 runs exactly ``max_iter`` iterations after Z_0; > 0 stops on the relative change of Z.
    max_iter : int, default 4
        T.
    Z0 : ndarray of shape (n_atoms, H, W), optional
        Warm start replacing ``h_theta(C2 * X)``.
    track_objective : bool, default True
        Record :meth:`ConvProblem.objective` every iteration (one extra synthesis).
    return_iterates : bool, default False
        Keep copies of Z_0 .. Z_T in ``result.iterates``.

    Attributes
    ----------
    mu : float
    theta : ndarray of shape (n_atoms,)
    """

    name = "conv_algorithm1"
    problem_type = ConvProblem

    def __init__(self, image, problem, *, tol=0.0, max_iter=4, Z0=None, track_objective=True, return_iterates=False):
        self.return_iterates = bool(return_iterates)
        super().__init__(image, problem, tol=tol, max_iter=max_iter, Z0=Z0, track_objective=track_objective)
        self.iterates = [self.Z.copy()] if self.return_iterates else None

    def _validate(self, image, problem):
        x = problem.check_image(image)
        dtype = common_float_dtype(x, problem.filters)
        return np.ascontiguousarray(x, dtype=dtype), problem.astype(dtype), dtype

    def _check_start(self, Z0):
        return self.problem.check_Z(Z0, self.X.shape, "Z0")

    def _setup(self):
        p = self.problem
        self.mu = p.step(self.X.shape)
        self.theta = p.thresholds(self.mu)
        self._mu = self.dtype.type(self.mu)
        self._keep = self.dtype.type(1.0 - p.lam3)

    def _threshold(self, V):
        K = self.problem.n_atoms
        soft_threshold(V.reshape(K, -1), self.theta, out=V.reshape(K, -1))
        return V

    def _analysis(self, R):
        p = self.problem
        return _analysis(R, p.filters, p.boundary, p.method)

    def _initial(self):
        return self._threshold(self._mu * self._analysis(self.X))

    def _iterate(self):
        p = self.problem
        R = self.X - _synthesis(self.Z, p.filters, p.boundary, p.method)
        V = self._mu * self._analysis(R)
        V += self._keep * self.Z
        Z_prev, self.Z = self.Z, self._threshold(V)
        if self.return_iterates:
            self.iterates.append(self.Z.copy())
        return Z_prev

    def _objective(self):
        return self.problem._objective(self.X, self.Z, self.mu)

    def _advice(self):
        p = self.problem
        if p.boundary == "reflect":
            return "; with boundary='reflect' the iteration is not a gradient method and need not converge"
        bound = self.mu * p.lipschitz(self.X.shape) + p.lam3
        return f"; mu*Lip + lam3 = {bound:.3g} >= 2, so the iteration diverges: use mu <= 1/lipschitz" \
            if bound >= 2 else ""

    def _result(self, converged):
        return ConvSolverResult(
            Z=self.Z, n_iter=self.n_iter, converged=converged, problem=self.problem, iterates=self.iterates,
            history={k: np.asarray(v, dtype=np.float64) for k, v in self._history.items()}, extras={"mu": self.mu},
        )


def conv_algorithm1(
    image, filters, n_low: int, *, lam1: float, lam2: float, lam3: float = 0.0, mu: float | None = None,
    n_iter: int = 4, boundary: str = "reflect", return_iterates: bool = False, tol: float = 0.0,
    track_objective: bool = True, method: str = "auto",
) -> ConvSolverResult:
    r"""Run the convolutional Algorithm 1 (Eq. 7-8) on a grey image.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Grey image, H, W >= s.
    filters : ndarray of shape (n_atoms, s, s)
        Atoms, s odd; the first ``n_low`` are base atoms (see :func:`patch_dictionary_to_filters`).
    n_low : int
        Number of base atoms.
    lam1, lam2, lam3 : float
        Weights; thresholds ``mu * lam1`` (base maps), ``mu * lam2`` (salient maps), ``1 - lam3`` on Z_{t-1}.
    mu : float, optional
        Step; default ``1 / ConvProblem.lipschitz(image.shape)``.
    n_iter : int, default 4
        T, iterations after Z_0.
    boundary : {"reflect", "zero"}, default "reflect"
        Padding (module docstring: "zero" is proximal gradient on a known objective, "reflect" is the LLRR blocks').
    return_iterates : bool, default False
        Return Z_0 .. Z_T in ``result.iterates``.
    tol : float, default 0
        If > 0, stop early on the relative change (and warn if n_iter is reached first).
    track_objective : bool, default True
    method : {"auto", "fft", "direct"}, default "auto"

    Returns
    -------
    ConvSolverResult
        ``Z`` (n_atoms, H, W), ``L``, ``S`` maps, ``low_rank`` (P_l) and ``sparse`` (P_s) images of shape (H, W).

    Examples
    --------
    With 1 x 1 atoms the convolutions are products and every pixel runs the patch Algorithm 1 (same numbers as
    :func:`solvers.algorithm1`'s example):

    >>> import numpy as np
    >>> res = conv_algorithm1(np.full((3, 3), 3.0), np.ones((2, 1, 1)), 1, lam1=1.0, lam2=0.5, mu=0.25, n_iter=1)
    >>> res.Z[:, 0, 0], res.low_rank.shape
    (array([0.71875, 0.96875]), (3, 3))
    """
    problem = ConvProblem(filters, n_low, lam1=lam1, lam2=lam2, lam3=lam3, mu=mu, boundary=boundary, method=method)
    solver = ConvAlgorithm1(image, problem, tol=tol, max_iter=n_iter, return_iterates=return_iterates,
                            track_objective=track_objective)
    return solver.solve()
