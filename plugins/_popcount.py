"""Population counts of long uint64 arrays: Harley-Seal carry-save adders in vector IR.

Counting the set bits of ``a`` (or of ``a AND b``) word by word costs a full vector
popcount (a table lookup per nibble and a horizontal add) for every four words. The
Harley-Seal method (as in Mula, Kurz and Lemire, "Faster population counts using AVX2
instructions", 2018) instead adds sixteen vectors at a time with carry-save adders, five
bitwise operations each, into vectors of bits of weight 1, 2, 4 and 8, and runs one
vector popcount per sixteen vectors, on the carries of weight 16. The loop is emitted as
LLVM vector IR through a numba intrinsic (``<4 x i64>``: AVX2 on x86, two NEON registers
on ARM). Figures against the word-by-word kernel are in ``docs/bitmaps.md``.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from plugins import _ir
from plugins._ir import popcount64, runs_of, start_loop, unpack
from plugins._jit_cache import invalidate_stale

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
# every module whose compiled code ends up in this one's cache (see _jit_cache)
invalidate_stale(__file__, _ir)
_I64 = ir.IntType(64)
_V4 = ir.VectorType(_I64, 4)
GROUP = 16  # vectors per carry-save round
WORDS_PER_ROUND = 4 * GROUP


def _csa(builder: ir.IRBuilder, a: ir.Value, b: ir.Value, c: ir.Value):
    """Carry-save adder: (carry, sum) of three bit vectors, bit by bit."""
    u = builder.xor(a, b)
    return builder.or_(builder.and_(a, b), builder.and_(u, c)), builder.xor(u, c)


def _ctpop(builder: ir.IRBuilder, v: ir.Value) -> ir.Value:
    fnty = ir.FunctionType(_V4, [_V4])
    return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.v4i64"),
                        [v])


def _make_rounds(with_and: bool):
    """An intrinsic counting the bits of the first ``rounds * 64`` words of ``a`` (or of
    ``a AND b``); returns the count."""

    def typer(typingctx, a, b, rounds):
        def codegen(context, builder, signature, args):
            a_data, b_data, rounds = unpack(context, builder, signature, args)
            a_data = builder.bitcast(a_data, _V4.as_pointer())
            b_data = builder.bitcast(b_data, _V4.as_pointer())
            zero = ir.Constant(_V4, [0] * 4)
            entry, check, body, done = start_loop(builder, "hs")
            r = builder.phi(_I64)
            state = [builder.phi(_V4) for _ in range(5)]  # ones, twos, fours, eights, total
            r.add_incoming(ir.Constant(_I64, 0), entry)
            for phi in state:
                phi.add_incoming(zero, entry)
            builder.cbranch(builder.icmp_signed("<", r, rounds), body, done)

            builder.position_at_end(body)
            base = builder.mul(r, ir.Constant(_I64, GROUP))

            def word(t):
                idx = builder.add(base, ir.Constant(_I64, t))
                x = builder.load(builder.gep(a_data, [idx]), align=8)
                if with_and:
                    x = builder.and_(x, builder.load(builder.gep(b_data, [idx]), align=8))
                return x

            ones, twos, fours, eights, total = state
            eights_in = []
            for half in range(2):
                fours_in = []
                for quarter in range(2):
                    t0 = 8 * half + 4 * quarter
                    twos_a, ones = _csa(builder, ones, word(t0), word(t0 + 1))
                    twos_b, ones = _csa(builder, ones, word(t0 + 2), word(t0 + 3))
                    fours_q, twos = _csa(builder, twos, twos_a, twos_b)
                    fours_in.append(fours_q)
                eights_h, fours = _csa(builder, fours, fours_in[0], fours_in[1])
                eights_in.append(eights_h)
            sixteens, eights = _csa(builder, eights, eights_in[0], eights_in[1])
            total = builder.add(total, _ctpop(builder, sixteens))
            r.add_incoming(builder.add(r, ir.Constant(_I64, 1)), body)
            for phi, value in zip(state, (ones, twos, fours, eights, total), strict=True):
                phi.add_incoming(value, body)
            builder.branch(check)

            builder.position_at_end(done)
            weighted = builder.mul(state[4], ir.Constant(_V4, [16] * 4))
            for phi, weight in zip(state[:4], (1, 2, 4, 8), strict=True):
                weighted = builder.add(weighted, builder.mul(_ctpop(builder, phi),
                                                             ir.Constant(_V4, [weight] * 4)))
            count = builder.extract_element(weighted, ir.Constant(ir.IntType(32), 0))
            for lane in range(1, 4):
                count = builder.add(count, builder.extract_element(
                    weighted, ir.Constant(ir.IntType(32), lane)))
            return count

        if not runs_of(types.uint64, a, b):
            return None
        return types.int64(a, b, rounds), codegen

    return intrinsic(typer)


_count_rounds = _make_rounds(with_and=False)
_and_count_rounds = _make_rounds(with_and=True)


@numba.njit(**_JIT)
def count(words: np.ndarray) -> int:
    """Number of set bits of a contiguous uint64 array."""
    rounds = words.shape[0] // WORDS_PER_ROUND
    total = _count_rounds(words, words, rounds)
    for i in range(rounds * WORDS_PER_ROUND, words.shape[0]):
        total += np.int64(popcount64(words[i]))
    return total


@numba.njit(**_JIT)
def and_count(a: np.ndarray, b: np.ndarray) -> int:
    """Number of set bits of ``a AND b`` (contiguous uint64 arrays of the same length)."""
    rounds = a.shape[0] // WORDS_PER_ROUND
    total = _and_count_rounds(a, b, rounds)
    for i in range(rounds * WORDS_PER_ROUND, a.shape[0]):
        total += np.int64(popcount64(a[i] & b[i]))
    return total
