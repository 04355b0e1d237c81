"""Classical solvers of the LRRNet decomposition model (numpy, scipy, numba, scikit-learn; never torch).

Patches (:mod:`solvers.patches`), the problem of Eq. 1-5 (:mod:`solvers.problem`), prox operators
(:mod:`solvers.prox`), Algorithm 1 in patch and convolutional form, ISTA/FISTA, ADMM, the factored form of Eq. 3-4
and dictionary learning, all behind one template (:mod:`solvers.base`) and one registry (:mod:`solvers.registry`).
"""

from .admm import ADMM, admm
from .algorithm1 import Algorithm1, algorithm1
from .base import ConvergenceWarning, IterativeSolver, SolverResult
from .cd import CoordinateDescent, coordinate_descent
from .convolutional import ConvAlgorithm1, ConvProblem, ConvSolverResult, conv_algorithm1, patch_dictionary_to_filters
from .factored import Factored, factored
from .ista import FISTA, ISTA, fista, ista
from .patches import extract_patches, fold_patches, n_patches, patch_positions
from .problem import LowRankSparseProblem, power_iteration
from .prox import L1Prox, NuclearProx, soft_threshold, soft_threshold_numpy, svt

__all__ = [
    "ADMM",
    "admm",
    "Factored",
    "factored",
    "Algorithm1",
    "algorithm1",
    "ConvergenceWarning",
    "CoordinateDescent",
    "coordinate_descent",
    "ConvAlgorithm1",
    "ConvProblem",
    "ConvSolverResult",
    "conv_algorithm1",
    "patch_dictionary_to_filters",
    "IterativeSolver",
    "SolverResult",
    "FISTA",
    "ISTA",
    "fista",
    "ista",
    "extract_patches",
    "fold_patches",
    "n_patches",
    "patch_positions",
    "LowRankSparseProblem",
    "power_iteration",
    "L1Prox",
    "NuclearProx",
    "soft_threshold",
    "soft_threshold_numpy",
    "svt",
]
