"""Small helpers for writing numba intrinsics in LLVM IR (llvmlite), and the scalar bit
intrinsics every bitmap kernel uses (``popcount64``, ``ctz64``). No numba-compiled
functions here, so nothing to cache."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

I16, I32, I64 = ir.IntType(16), ir.IntType(32), ir.IntType(64)


def lanes(values: list[int]) -> ir.Constant:
    """A constant ``<n x i32>`` (shuffle masks, lane numbers)."""
    return ir.Constant(ir.VectorType(I32, len(values)), values)


def splat(builder: ir.IRBuilder, scalar: ir.Value, n: int) -> ir.Value:
    """``<n x T>`` with every lane ``scalar``."""
    vt = ir.VectorType(scalar.type, n)
    one = builder.insert_element(ir.Constant(vt, ir.Undefined), scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vt, ir.Undefined), lanes([0] * n))


def runs_of(dtype, *arrays) -> bool:
    """Typing guard of an intrinsic: every array is 1-D, C-contiguous, of ``dtype`` (the
    kernels address elements by pointer arithmetic). The intrinsic returns no signature
    otherwise, so a call with anything else fails to compile."""
    return all(isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"
               and t.dtype == dtype for t in arrays)


def unpack(context, builder, signature, args) -> list[ir.Value]:
    """An intrinsic's arguments as IR values: an array's data pointer, a boolean as ``i1``,
    any other number as ``intp``."""
    values = []
    for ty, value in zip(signature.args, args, strict=True):
        if isinstance(ty, types.Array):
            values.append(context.make_array(ty)(context, builder, value).data)
        elif isinstance(ty, types.Boolean):
            values.append(context.cast(builder, value, ty, types.boolean))
        else:
            values.append(context.cast(builder, value, ty, types.intp))
    return values


def start_loop(builder: ir.IRBuilder, name: str):
    """Open a loop: the blocks ``check`` (where the builder is left, for the phis and the
    exit test), ``body`` and ``done``; returns (the block before, check, body, done)."""
    entry = builder.basic_block
    check = builder.append_basic_block(f"{name}.check")
    body = builder.append_basic_block(f"{name}.body")
    done = builder.append_basic_block(f"{name}.done")
    builder.branch(check)
    builder.position_at_end(check)
    return entry, check, body, done


@intrinsic
def popcount64(typingctx, x):  # pragma: no cover - compiled
    """Number of set bits of a uint64 (LLVM ``ctpop``)."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def ctz64(typingctx, x):  # pragma: no cover - compiled
    """Index of the lowest set bit of a non-zero uint64 (LLVM ``cttz``)."""

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, True))

    return types.uint64(types.uint64), codegen
