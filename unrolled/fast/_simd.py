"""Explicit float32 vectors for numba kernels: a vector type and the few operations the inference kernels need.

numba vectorises loops along contiguous arrays, but not a loop whose vector runs across pixels while the loop runs
over channels with accumulators that stay in registers (LLVM cannot prove that numba's arrays do not alias, and emits
scalar code). :mod:`unrolled.fast._infer_kernels` needs exactly that loop, so it writes the vectors itself: a value of
type :data:`vec` is an LLVM ``<LANES x float>``, held in a register like any scalar, and the functions below are
numba intrinsics that emit one LLVM vector instruction each (loads, stores and broadcasts of float32 arrays, fused
multiply-add, sum, product, and the soft threshold in two forms).

Every lane computes the same scalar expression in the same order, so a pixel's value does not depend on which lane
or block it falls in. :data:`LANES` is 16 (512 bits) where :mod:`solvers._jit` enabled 512-bit vectors, else 8 (256
bits; other CPUs split them into what they have). Loads and stores need C-contiguous float32 arrays and take a flat
element index; they do not check bounds: the caller sizes its arrays.

numba's on-disk cache keys a compiled kernel on its own source file only: after editing this module, touch
``_infer_kernels.py`` (or clear ``unrolled/fast/__pycache__``) so that the kernels are compiled again.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from solvers._jit import wide_vectors_reason

__all__ = ["LANES", "vec", "load", "store", "splat", "bcast", "fma", "add", "mul", "shrink_nonneg", "shrink_negative"]

def _compile_features() -> set[str]:
    """The CPU features numba compiles for: ``NUMBA_CPU_FEATURES`` where it is set (by :mod:`solvers._jit` or the
    user), else the host's (numba's default); empty where LLVM cannot tell."""
    import os

    import llvmlite.binding as ll

    given = os.environ.get("NUMBA_CPU_FEATURES")
    if given:
        return {f[1:] for f in given.split(",") if f.startswith("+")}
    try:
        return {name for name, on in ll.get_host_cpu_features().items() if on}
    except RuntimeError:
        return set()


_FEATURES = _compile_features()
#: 16 lanes (512 bits) where :mod:`solvers._jit` enabled 512-bit vectors and numba compiles for AVX-512, else 8
LANES = 16 if wide_vectors_reason is None and "avx512f" in _FEATURES else 8
#: ``vrangeps`` (AVX-512 DQ; ``sign(a) min(|a|, |b|)`` in one instruction) where the vectors are 512-bit and numba
#: compiles for it (LLVM aborts the process on an instruction its target lacks); None elsewhere
_RANGE = "llvm.x86.avx512.mask.range.ps.512" if LANES == 16 and "avx512dq" in _FEATURES else None
_V = ir.VectorType(ir.FloatType(), LANES)


class F32Vector(types.Type):
    """numba type of a vector of LANES float32 values."""

    def __init__(self):
        super().__init__(name=f"F32Vector{LANES}")


vec = F32Vector()


@register_model(F32Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V)


def _float32_c(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.layout == "C"


def _element(context, builder, aty, a, i):
    """Pointer to element ``i`` (flat) of the C-contiguous array ``a``."""
    return builder.gep(context.make_array(aty)(context, builder, a).data, [i])


def _splat(builder, x):
    one = builder.insert_element(ir.Constant(_V, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(_V, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


def _intrinsic_call(builder, name: str, args):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V, [_V] * len(args)),
                                        f"llvm.{name}.v{LANES}f32")
    return builder.call(fn, args)


@intrinsic
def load(typingctx, a, i):
    """``a[i : i + LANES]`` (flat index, any alignment)."""
    if not (_float32_c(a) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = builder.bitcast(_element(context, builder, sig.args[0], *args), _V.as_pointer())
        return builder.load(ptr, align=4)

    return vec(a, types.intp), codegen


@intrinsic
def store(typingctx, a, i, v):
    """``a[i : i + LANES] = v`` (flat index, any alignment)."""
    if not (_float32_c(a) and isinstance(i, types.Integer) and v == vec):
        return None

    def codegen(context, builder, sig, args):
        ptr = builder.bitcast(_element(context, builder, sig.args[0], args[0], args[1]), _V.as_pointer())
        builder.store(args[2], ptr, align=4)
        return context.get_dummy_value()

    return types.none(a, types.intp, vec), codegen


@intrinsic
def splat(typingctx, x):
    """A float32 scalar in every lane."""
    if x != types.float32:
        return None
    return vec(types.float32), lambda context, builder, sig, args: _splat(builder, args[0])


@intrinsic
def bcast(typingctx, a, i):
    """``a[i]`` (flat index) in every lane: a broadcast load, which x86 folds into the instruction that uses it."""
    if not (_float32_c(a) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, builder.load(_element(context, builder, sig.args[0], *args), align=4))

    return vec(a, types.intp), codegen


def _binary(emit, doc: str):
    @intrinsic
    def op(typingctx, a, b):
        if not (a == vec and b == vec):
            return None
        return vec(vec, vec), lambda context, builder, sig, args: emit(builder, *args)

    op.__doc__ = doc
    return op


add = _binary(lambda b, x, y: b.fadd(x, y), "``a + b`` lane by lane.")
mul = _binary(lambda b, x, y: b.fmul(x, y), "``a * b`` lane by lane.")


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, fused into one rounding where the CPU has FMA (``llvm.fmuladd``)."""
    if not (a == vec and b == vec and c == vec):
        return None
    return vec(vec, vec, vec), lambda context, builder, sig, args: _intrinsic_call(builder, "fmuladd", args)




@intrinsic
def shrink_nonneg(typingctx, v, t, nt):
    """The soft threshold ``sign(v) max(|v| - t, 0)`` for thresholds ``t >= 0`` (``nt = -t``), as
    ``v - clamp(v, -t, t)``: the same value in two instructions where the CPU has ``vrangeps`` (the clamp as
    ``sign(v) min(|v|, t)``), three elsewhere."""
    if not (v == vec and t == vec and nt == vec):
        return None

    def codegen(context, builder, sig, args):
        x, theta, neg = args
        if _RANGE is None:
            up = builder.select(builder.fcmp_ordered(">", x, neg), x, neg)
            clamped = builder.select(builder.fcmp_ordered("<", up, theta), up, theta)
        else:
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V, [_V, _V, i32, _V, ir.IntType(16),
                                                                                     i32]), _RANGE)
            # imm 0b0010: the operand of smaller magnitude, with the sign of the first; rounding: current direction
            clamped = builder.call(fn, [x, theta, ir.Constant(i32, 2), ir.Constant(_V, [0.0] * LANES),
                                        ir.Constant(ir.IntType(16), -1), ir.Constant(i32, 4)])
        return builder.fsub(x, clamped)

    return vec(vec, vec, vec), codegen


@intrinsic
def shrink_negative(typingctx, v, a):
    """The soft threshold ``sign(v) max(|v| - t, 0)`` for thresholds ``t < 0`` (``a = -t``): there it is
    ``v + sign(v) a``, and 0 where v is 0. The same value as the general form (rounding is symmetric in sign)."""
    if not (v == vec and a == vec):
        return None

    def codegen(context, builder, sig, args):
        x, grow = args
        signed = _intrinsic_call(builder, "copysign", [grow, x])
        return builder.select(builder.fcmp_unordered("!=", x, ir.Constant(_V, [0.0] * LANES)),
                              builder.fadd(x, signed), x)

    return vec(vec, vec), codegen
