"""llrr: the LRRNet decomposition model, solved by optimisation and unrolled into a fusion network.

The application package: image I/O, the decomposition demo and the ``llrr`` command line. The mathematics lives in
:mod:`solvers` (numpy) and the networks in :mod:`unrolled` (torch).
"""

__version__ = "0.1.0"
