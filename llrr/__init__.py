"""llrr: the LRRNet decomposition model, solved by optimisation and unrolled into a fusion network.

The application package: image I/O, :func:`fuse` (every fusion method behind one front door), the metrics, the
evaluation and the ``llrr`` command line. The mathematics lives in :mod:`solvers` (numpy) and the networks in
:mod:`unrolled` (torch, imported only when a method needs it).
"""

from .fuse import DEFAULT_METHOD, fuse
from .methods import get_method, list_methods

__version__ = "0.1.0"
__all__ = ["fuse", "list_methods", "get_method", "DEFAULT_METHOD"]
