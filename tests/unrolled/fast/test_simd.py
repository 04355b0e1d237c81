"""The explicit vectors of the inference kernels (unrolled.fast._simd): each operation against numpy or the scalar
primitive it replaces, and the whole fast path unchanged, bit for bit, by the vector width."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from solvers._jit import nb
from tests.conftest import REPO
from unrolled.fast import _simd as V
from unrolled.fast._stencil import shrink

L = V.LANES


@nb.njit(cache=False)
def _apply(kind, a, b, c, out):
    """``out[i:i + L] = op(a[i:], b[i:], c[i:])`` for every i (overlapping, unaligned windows), op chosen by kind."""
    for i in range(a.shape[0] - L + 1):
        x, y, z = V.load(a, i), V.load(b, i), V.load(c, i)
        if kind == 0:
            r = V.fma(x, y, z)
        elif kind == 1:
            r = V.add(x, y)
        elif kind == 2:
            r = V.mul(x, y)
        elif kind == 3:
            r = V.shrink_nonneg(x, y, z)  # c holds -t
        else:
            r = V.shrink_negative(x, z)  # c holds -t
        V.store(out, i * L, r)


@nb.njit(cache=False)
def _scalar_shrink(v, t, out):
    for i in range(v.shape[0]):
        out[i] = shrink(v[i], t[i], np.float32(0.0))


def _windows(a: np.ndarray) -> np.ndarray:
    """The (n - L + 1, L) windows that :func:`_apply` reads."""
    return np.lib.stride_tricks.sliding_window_view(a, L)


def _run(kind: int, a, b, c=None) -> np.ndarray:
    c = np.zeros_like(a) if c is None else c
    out = np.full(((a.shape[0] - L + 1) * L,), np.nan, np.float32)
    _apply(kind, a, b, c, out)
    return out.reshape(-1, L)


@pytest.fixture
def values(rng):
    """Values with zeros of both signs, ties and magnitudes from 1e-30 to 1e3, unaligned (offset 1 in memory)."""
    v = (rng.standard_normal(200) * 10.0 ** rng.integers(-30, 4, 200)).astype(np.float32)
    v[::7], v[3::11], v[5::13] = 0.0, -0.0, 0.5
    return np.concatenate([[np.float32(1.0)], v])[1:]


def test_arithmetic_equals_numpy(values, rng):
    b = rng.standard_normal(values.shape[0]).astype(np.float32)
    c = rng.standard_normal(values.shape[0]).astype(np.float32)
    wa, wb, wc = _windows(values), _windows(b), _windows(c)
    np.testing.assert_array_equal(_run(1, values, b), wa + wb)
    np.testing.assert_array_equal(_run(2, values, b), wa * wb)
    exact = wa.astype(np.float64) * wb + wc  # a float32 product is exact in float64: one rounding left, as fused
    np.testing.assert_allclose(_run(0, values, b, c), exact, rtol=2e-7, atol=1e-37)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_soft_thresholds_equal_the_scalar_one(values, sign, rng):
    """``shrink_nonneg`` (t >= 0, also t = 0; vrangeps where the CPU has it) and ``shrink_negative`` (t < 0): the
    same float32 values as the scalar primitive for their signs of t (a zero may carry the other sign, which no sum
    it enters can tell apart)."""
    t = (sign * np.abs(rng.standard_normal(values.shape[0])) * 10.0 ** rng.integers(-3, 2, values.shape[0]))
    t = t.astype(np.float32)
    t[::5] = sign * np.abs(values[::5])  # ties |v| = |t|
    if sign > 0:
        t[1::9] = 0.0
    want = np.empty_like(values)
    _scalar_shrink(values, t, want)
    ref = _windows(want)
    assert ((ref == 0) & (_windows(values) != 0)).any() == (sign > 0)  # small values are cut only by t >= 0
    got = _run(3 if sign > 0 else 4, values, t, -t)
    np.testing.assert_array_equal(got, ref)


PROBE = r"""
import json, sys
import numpy as np, torch
from unrolled import LRRNet
from unrolled.fast import _simd
from unrolled.fast.infer import fast_forward
torch.manual_seed(3)
net = LRRNet(n=16).eval()
with torch.no_grad():
    for branch in (net.ir, net.vi):  # thresholds of both signs
        branch.theta.copy_(torch.linspace(-0.02, 0.05, branch.theta.numel()).reshape(branch.theta.shape))
rng = np.random.default_rng(4)
ir, vi = rng.random((2, 45, 70), dtype=np.float32)
np.save(sys.argv[1], fast_forward(net, ir, vi, threads=1))
print(json.dumps({"lanes": _simd.LANES, "range": _simd._RANGE is not None}))
"""


def _fused(tmp_path, name: str, **env) -> tuple[np.ndarray, dict]:
    environ = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_FEATURES", "LLRR_VECTOR_WIDTH")}
    out = tmp_path / f"{name}.npy"
    res = subprocess.run([sys.executable, "-c", PROBE, str(out)], capture_output=True, text=True, check=True,
                         cwd=REPO, env={**environ, **env})
    return np.load(out), json.loads(res.stdout.strip().splitlines()[-1])


def test_the_vector_width_changes_nothing(tmp_path):
    """Every lane computes the same scalar expression: 8-lane vectors (``LLRR_VECTOR_WIDTH=256``, and no vrangeps)
    give the same image as the default width, bit for bit; so do 16-lane ones where numba compiles without AVX-512 DQ
    (no vrangeps: LLVM would abort the process on it)."""
    import llvmlite.binding as ll

    wide, info = _fused(tmp_path, "default")
    if info["lanes"] == 8:
        pytest.skip("numba compiles for no AVX-512 here: both widths are 8 lanes")
    narrow, narrow_info = _fused(tmp_path, "narrow", LLRR_VECTOR_WIDTH="256")
    assert narrow_info == {"lanes": 8, "range": False} and info["lanes"] == 16
    assert np.isfinite(wide).all() and wide.std() > 0
    np.testing.assert_array_equal(narrow, wide)
    features = ll.get_host_cpu_features().flatten().replace("+avx512dq", "-avx512dq") + ",-prefer-256-bit"
    no_dq, no_dq_info = _fused(tmp_path, "no_dq", NUMBA_CPU_FEATURES=features)
    assert no_dq_info == {"lanes": 16, "range": False}
    np.testing.assert_array_equal(no_dq, wide)
