"""numba, imported so that on AVX-512 CPUs LLVM may use 512-bit vectors.

LLVM prefers 256-bit vectors on Intel's AVX-512 server CPUs (a tuning flag, ``prefer-256-bit``, from the first of
them, where 512-bit instructions lowered the clock), so numba's loops use half the vector width the CPU has. The fast
LRRNet kernels (:mod:`unrolled.fast`) vectorise along image rows and run 1.2-1.3x faster with the full width
(benchmarks/RESULTS.md). Every module of this library imports numba through here; the first one to do so, before
numba itself is imported, sets ``NUMBA_CPU_FEATURES`` to the host's features without that flag. It changes nothing
when

* numba was already imported (by the application or another library): its code generator is set up then;
* ``NUMBA_CPU_FEATURES`` is set already (yours wins), or ``LLRR_VECTOR_WIDTH=256`` asks for LLVM's default;
* the CPU has no AVX-512.

The setting is process-wide: numba code of other packages in the same process is compiled with it too (numba keys
its on-disk cache on the feature string, so cached code of either setting is never mixed up).
"""

from __future__ import annotations

import os
import sys

__all__ = ["nb", "numba", "wide_vectors_reason"]


def _enable_wide_vectors() -> str | None:
    """Set ``NUMBA_CPU_FEATURES`` (see the module docstring); the reason it was not set, or None if it was."""
    if "numba" in sys.modules:
        return "numba was imported before llrr: its code generator was already set up"
    if "NUMBA_CPU_FEATURES" in os.environ:
        return "NUMBA_CPU_FEATURES is set in the environment"
    if os.environ.get("LLRR_VECTOR_WIDTH", "").strip() == "256":
        return "LLRR_VECTOR_WIDTH=256"
    import llvmlite.binding as ll

    features = ll.get_host_cpu_features()
    if not features.get("avx512f", False):
        return "the CPU has no AVX-512"
    os.environ["NUMBA_CPU_FEATURES"] = features.flatten() + ",-prefer-256-bit"
    return None


wide_vectors_reason = _enable_wide_vectors()
"""None if this import enabled 512-bit vectors for numba; else why not (a sentence)."""

import numba  # noqa: E402 (after the environment is set)

nb = numba
