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
    ("numba", {}, "numba was imported before llrr's first numba module"),
    ("llrr", {"LLRR_VECTOR_WIDTH": "256"}, "LLRR_VECTOR_WIDTH=256"),
    ("llrr", {"NUMBA_ENABLE_AVX": "1"}, "NUMBA_ENABLE_AVX is set"),
])
def test_the_setting_is_left_alone_when_numba_came_first_or_the_user_chose(first, env, reason):
    got = _probe(first, **env)
    assert got["reason"].startswith(reason) and got["features"] is None
    # LLVM's own choice of width for this CPU, as with a plain numba (256 bits on Intel's AVX-512 server CPUs)
    assert got["zmm"] == _probe("numba")["zmm"]


def test_the_users_own_numba_cpu_settings_are_kept():
    import llvmlite.binding as ll

    host = ll.get_host_cpu_features().flatten()
    got = _probe("llrr", NUMBA_CPU_FEATURES=host)
    assert got["reason"] == "NUMBA_CPU_FEATURES is set in the environment" and got["features"] == host
    got = _probe("llrr", NUMBA_CPU_NAME="generic")  # portable code: numba's features for "generic", no AVX-512
    assert got["reason"].startswith("NUMBA_CPU_NAME is set") and got["features"] is None and not got["zmm"]
    got = _probe("llrr", NUMBA_CPU_FEATURES=host + ",-prefer-256-bit")  # inherited from a parent process
    assert got["reason"] is None and got["zmm"] == got["avx512"]
