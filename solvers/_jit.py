"""numba, imported so that on AVX-512 CPUs LLVM may use 512-bit vectors.

LLVM prefers 256-bit vectors on Intel's AVX-512 server CPUs (a tuning flag, ``prefer-256-bit``, from the first of
them, where 512-bit instructions lowered the clock), so numba's loops use half the vector width the CPU has. The fast
LRRNet inference kernels (:mod:`unrolled.fast`) hold a block of pixels in one vector register (16 lanes where this
module enabled 512-bit vectors, else 8: :mod:`unrolled.fast._simd`) and gain from the full width (docs/deploy.md,
"How fast the fast path is"). Every module of this library imports numba through here; the first one
to do so, before numba itself is imported, sets ``NUMBA_CPU_FEATURES`` to the host's features without that flag. It
changes nothing, and :data:`wide_vectors_reason` says why, when

* numba was already imported (by the application or another library) before llrr's first numba module: its code
  generator is set up then;
* the user chose numba's CPU settings: ``NUMBA_CPU_FEATURES``, ``NUMBA_CPU_NAME`` or ``NUMBA_ENABLE_AVX`` in the
  environment, or a ``.numba_config.yaml`` in the working directory; or ``LLRR_VECTOR_WIDTH=256`` asks for LLVM's
  default;
* numba would switch AVX off for this CPU (the names it distrusts, e.g. "nocona" reported by some virtual machines), or
  the CPU or the operating system has no AVX-512, or LLVM cannot tell the host's features.

The setting is process-wide: numba code of other packages in the same process is compiled with it too (numba keys
its on-disk cache on the feature string, so cached code of either setting is never mixed up). Child processes inherit
the environment variable, so they compile the same way. Results of the fast *training* kernels (whose sums LLVM may
reorder) depend on the vector width in the last bits: a run resumed in a process with another width continues with
other roundings (docs/training.md).
"""

from __future__ import annotations

import os
import sys

__all__ = ["nb", "numba", "wide_vectors_reason"]


#: CPU names for which numba itself switches AVX off (numba.core.config: LLVM performance issues, and baseline names
#: that virtual machines report while claiming AVX, numba issue 9582).
_AVX_DISTRUSTED = frozenset({"corei7-avx", "core-avx-i", "sandybridge", "ivybridge", "nocona"})
_WIDE = ",-prefer-256-bit"


def _os_has_avx512() -> bool:
    """False where the operating system says the CPU has no AVX-512 (Linux's /proc/cpuinfo); True elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                head, _, body = line.partition(":")
                if head.strip() == "flags":
                    return "avx512f" in body.split()
    except OSError:
        pass
    return True


def _enable_wide_vectors() -> str | None:
    """Set ``NUMBA_CPU_FEATURES`` (see the module docstring); the reason it was not set, or None if it was (or the
    environment already asks for the full width)."""
    env = os.environ
    if "numba" in sys.modules:
        return "numba was imported before llrr's first numba module: its code generator was already set up"
    if "NUMBA_CPU_FEATURES" in env:
        if env["NUMBA_CPU_FEATURES"].endswith(_WIDE):  # set so by this module in a parent process (or by the user)
            return None
        return "NUMBA_CPU_FEATURES is set in the environment"
    for name in ("NUMBA_CPU_NAME", "NUMBA_ENABLE_AVX"):
        if name in env:
            return f"{name} is set in the environment: numba's choice of CPU settings is kept"
    if os.path.isfile(".numba_config.yaml"):
        return "a .numba_config.yaml in the working directory sets numba's options"
    if env.get("LLRR_VECTOR_WIDTH", "").strip() == "256":
        return "LLRR_VECTOR_WIDTH=256"
    import llvmlite.binding as ll

    try:
        name, features = ll.get_host_cpu_name(), ll.get_host_cpu_features()
    except RuntimeError as exc:  # numba falls back on its defaults here too
        return f"LLVM cannot tell the host CPU's features ({exc})"
    if name in _AVX_DISTRUSTED:
        return f"numba switches AVX off for CPUs named {name!r}"
    if not features.get("avx512f", False) or not _os_has_avx512():
        return "the CPU has no AVX-512"
    env["NUMBA_CPU_FEATURES"] = features.flatten() + _WIDE
    return None


wide_vectors_reason = _enable_wide_vectors()
"""None if this import enabled 512-bit vectors for numba; else why not (a sentence)."""

import numba  # noqa: E402 (after the environment is set)

nb = numba
