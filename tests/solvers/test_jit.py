"""numba through solvers._jit: 512-bit vectors on AVX-512 CPUs, unless numba came first or the user says otherwise.

Each case runs in a fresh interpreter, because the setting must be made before numba is imported."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = r"""
import json, re, sys
first = sys.argv[1]
if first == "numba":
    import numba  # the application imported numba before llrr
from solvers._jit import nb, wide_vectors_reason
import os
import llvmlite.binding as ll
import numpy as np

@nb.njit(fastmath=True, cache=False)
def dot(a, b):
    s = np.float32(0)
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s

a = np.ones(256, np.float32)
assert dot(a, a) == 256
asm = dot.inspect_asm(dot.signatures[0])
print(json.dumps({"reason": wide_vectors_reason, "features": os.environ.get("NUMBA_CPU_FEATURES"),
                  "zmm": "zmm" in asm, "avx512": bool(ll.get_host_cpu_features().get("avx512f", False))}))
"""


def _probe(first: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "LLRR_VECTOR_WIDTH")}
    out = subprocess.run([sys.executable, "-c", PROBE, first], capture_output=True, text=True, check=True, cwd=REPO,
                         env={**environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_avx512_cpus_get_512_bit_vectors_and_others_keep_the_default():
    got = _probe("llrr")
    if got["avx512"]:
        assert got["reason"] is None and got["features"].endswith(",-prefer-256-bit") and got["zmm"]
    else:
        assert got["reason"] == "the CPU has no AVX-512" and got["features"] is None and not got["zmm"]


@pytest.mark.parametrize("first, env, reason", [
    ("numba", {}, "numba was imported before llrr"),
    ("llrr", {"LLRR_VECTOR_WIDTH": "256"}, "LLRR_VECTOR_WIDTH=256"),
    ("llrr", {"NUMBA_CPU_FEATURES": "host"}, "NUMBA_CPU_FEATURES is set"),
])
def test_the_setting_is_left_alone_when_numba_came_first_or_the_user_chose(first, env, reason):
    if env.get("NUMBA_CPU_FEATURES") == "host":  # the user's own choice: here the host's features, unchanged
        import llvmlite.binding as ll

        env = {"NUMBA_CPU_FEATURES": ll.get_host_cpu_features().flatten()}
    got = _probe(first, **env)
    assert got["reason"].startswith(reason)
    assert got["features"] == env.get("NUMBA_CPU_FEATURES")
    # LLVM's own choice of width for this CPU, as with a plain numba (256 bits on Intel's AVX-512 server CPUs)
    default = _probe("numba")
    assert got["zmm"] == default["zmm"]
