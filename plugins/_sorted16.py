"""Intersections and differences of sorted ``uint16`` runs, eight values at a time (numba).

These are the array-container kernels of the in-house Roaring form (``plugins/_roaring.py``):
``A AND B``, ``A ANDNOT B`` and ``|A AND B|`` for two sorted runs of unique values, each
given as ``(pool, offset, length)`` inside a larger ``uint16`` array.

**Block merge.** Both runs are walked in blocks of eight. Each step compares the current
block of A with the current block of B, all 64 pairs at once: one vector of A against the
eight rotations of B's vector (numba intrinsics emit the LLVM vector IR, which becomes
``pcmpeqw`` / ``palignr`` / ``pmovmskb`` on x86 and the NEON equivalents on ARM). The
result is a byte whose bit ``t`` says that lane ``t`` of A's block occurs in B's block.
Then the block with the smaller last value advances (both on a tie), chosen by arithmetic,
not a branch. The usual argument holds: a value of A's block can only equal a value of B
that is at most its block's maximum, so when a block moves on, every match of it has been
seen, once (the method of Schlegel, Willhalm and Lehner, "Fast sorted-set intersection
using SIMD instructions", 2011, and of CRoaring's ``intersect_vector16``).

**Tails without a scalar merge.** When fewer than eight values are left on a side, its
block is the *last eight values of the run* instead; lanes of A already consumed are
masked out of the result, and lanes of B already consumed are replaced by B's current
value (a copy of a live value cannot create a false match). So every run of at least eight
values is finished with vector compares. Runs shorter than eight, and pairs where one side
is over 64 times longer than the other, are done by binary searches of the short side's
values in the long side instead.

All reads and writes stay inside the two runs and the output's room (see each kernel).
Unions and symmetric differences are in ``plugins/_union16.py``; figures against pyroaring
in ``docs/bitmaps.md`` (``benchmarks/bitmap.py``).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from plugins import _bitmap_kernels, _ir, _popcount
from plugins._bitmap_kernels import ctz64, popcount64
from plugins._ir import I16, I32, lanes, runs_of, splat, start_loop, unpack
from plugins._jit_cache import invalidate_stale

LANES = 8
SKEW = 64  # one side this many times longer than the other: binary searches instead

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
# every module whose compiled code ends up in this one's cache (see _jit_cache)
invalidate_stale(__file__, _bitmap_kernels, _ir, _popcount)
_V8 = ir.VectorType(I16, LANES)


def _load8(context, builder, arr_type, arr, idx_type, idx) -> ir.Value:
    """Eight ``uint16`` from ``arr[idx:idx + 8]`` as one vector (unaligned load)."""
    data = context.make_array(arr_type)(context, builder, arr).data
    idx = context.cast(builder, idx, idx_type, types.intp)
    return builder.load(builder.bitcast(builder.gep(data, [idx]), _V8.as_pointer()), align=2)


def _equal_lanes(builder: ir.IRBuilder, va: ir.Value, vb: ir.Value) -> ir.Value:
    """``<8 x i1>``: lane ``t`` of ``va`` equals some lane of ``vb`` (``va`` against the
    eight rotations of ``vb``)."""
    hits = builder.icmp_unsigned("==", va, vb)
    for r in range(1, LANES):
        rotated = builder.shuffle_vector(vb, ir.Constant(_V8, ir.Undefined),
                                         lanes([(t + r) % LANES for t in range(LANES)]))
        hits = builder.or_(hits, builder.icmp_unsigned("==", va, rotated))
    return hits


def _any_equal(builder: ir.IRBuilder, va: ir.Value, vb: ir.Value) -> ir.Value:
    """uint64 whose bit ``t`` is set when lane ``t`` of ``va`` equals some lane of ``vb``."""
    hits = _equal_lanes(builder, va, vb)
    return builder.zext(builder.bitcast(hits, ir.IntType(LANES)), ir.IntType(64))


@intrinsic
def _match8(typingctx, a, sa, b, sb):  # pragma: no cover - compiled
    """Bit ``t``: ``a[sa + t]`` is one of ``b[sb:sb + 8]``."""

    def codegen(context, builder, signature, args):
        ta, tsa, tb, tsb = signature.args
        va = _load8(context, builder, ta, args[0], tsa, args[1])
        vb = _load8(context, builder, tb, args[2], tsb, args[3])
        return _any_equal(builder, va, vb)

    if not runs_of(types.uint16, a, b):
        return None
    return types.uint64(a, sa, b, sb), codegen


@intrinsic
def _match8_from(typingctx, a, sa, b, sb, first):  # pragma: no cover - compiled
    """Bit ``t``: ``a[sa + t]`` is one of ``b[first:sb + 8]`` (``sb <= first < sb + 8``)."""

    def codegen(context, builder, signature, args):
        ta, tsa, tb, tsb, tfirst = signature.args
        va = _load8(context, builder, ta, args[0], tsa, args[1])
        vb = _load8(context, builder, tb, args[2], tsb, args[3])
        sb = context.cast(builder, args[3], tsb, types.intp)
        first = context.cast(builder, args[4], tfirst, types.intp)
        data = context.make_array(tb)(context, builder, args[2]).data
        live = builder.load(builder.gep(data, [first]), align=2)
        skip = splat(builder, builder.trunc(builder.sub(first, sb), I16), LANES)
        consumed = builder.icmp_unsigned("<", ir.Constant(_V8, list(range(LANES))), skip)
        vb = builder.select(consumed, splat(builder, live, LANES), vb)
        return _any_equal(builder, va, vb)

    if not runs_of(types.uint16, a, b):
        return None
    return types.uint64(a, sa, b, sb, first), codegen


@intrinsic
def _copy8(typingctx, src, s, dst, d):  # pragma: no cover - compiled
    """``dst[d:d + 8] = src[s:s + 8]`` as one vector load and store."""

    def codegen(context, builder, signature, args):
        tsrc, ts, tdst, td = signature.args
        value = _load8(context, builder, tsrc, args[0], ts, args[1])
        data = context.make_array(tdst)(context, builder, args[2]).data
        d = context.cast(builder, args[3], td, types.intp)
        builder.store(value, builder.bitcast(builder.gep(data, [d]), _V8.as_pointer()),
                      align=2)
        return context.get_dummy_value()

    if not runs_of(types.uint16, src, dst):
        return None
    return types.none(src, s, dst, d), codegen


@intrinsic
def _at(typingctx, arr, idx):  # pragma: no cover - compiled
    """``arr[idx]`` of a uint16 array as int64, without negative-index wraparound."""

    def codegen(context, builder, signature, args):
        ta, ti = signature.args
        data = context.make_array(ta)(context, builder, args[0]).data
        idx = context.cast(builder, args[1], ti, types.intp)
        return builder.zext(builder.load(builder.gep(data, [idx]), align=2), ir.IntType(64))

    if not runs_of(types.uint16, arr):
        return None
    return types.int64(arr, idx), codegen


@intrinsic
def _last_of_block(typingctx, arr, start):  # pragma: no cover - compiled
    """``arr[start + 7]`` as int64, read by its own scalar load.

    The load is marked atomic (unordered, which costs nothing on any target) so that LLVM
    does not take the value out of the block's vector load instead: that extraction put
    about four more cycles on the block merge's critical path (which block moves on next).
    """

    def codegen(context, builder, signature, args):
        ta, ti = signature.args
        data = context.make_array(ta)(context, builder, args[0]).data
        idx = builder.add(context.cast(builder, args[1], ti, types.intp),
                          ir.Constant(ir.IntType(64), LANES - 1))
        value = builder.load_atomic(builder.gep(data, [idx]), "unordered", 2)
        return builder.zext(value, ir.IntType(64))

    if not runs_of(types.uint16, arr):
        return None
    return types.int64(arr, start), codegen


# --------------------------------------------------------------------------- short or skewed


@numba.njit(inline="always", **_JIT)
def _lower_bound(v, lo: int, hi: int, x: int) -> int:
    """First position in ``v[lo:hi]`` whose value is ``>= x`` (``hi`` when none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if _at(v, mid) < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(**_JIT)
def _probe_count(s, so, ns, v, vo, nv) -> int:
    """Values of the short run ``s`` found in ``v``, by binary searches."""
    lo, hi = vo, vo + nv
    k = 0
    for t in range(so, so + ns):
        x = _at(s, t)
        lo = _lower_bound(v, lo, hi, x)
        if lo == hi:
            break
        k += _at(v, lo) == x
    return k


@numba.njit(**_JIT)
def _probe_keep(s, so, ns, v, vo, nv, keep_found, out, pos) -> int:
    """Values of ``s`` found (``keep_found``) or not found in ``v``, written in order."""
    lo, hi = vo, vo + nv
    k = 0
    for t in range(so, so + ns):
        x = _at(s, t)
        lo = _lower_bound(v, lo, hi, x)
        found = lo < hi and _at(v, lo) == x
        if found == keep_found:
            out[pos + k] = x
            k += 1
    return k


@numba.njit(**_JIT)
def _remove_few(a, ao, na, b, bo, nb, out, pos) -> int:
    """``A ANDNOT B`` when B is the short run: copy A between B's values found in it."""
    lo, hi = ao, ao + na
    k = 0
    for t in range(bo, bo + nb):
        at = _lower_bound(a, lo, hi, _at(b, t))
        for u in range(lo, at):
            out[pos + k] = a[u]
            k += 1
        lo = at + (at < hi and a[at] == b[t])
    for u in range(lo, hi):
        out[pos + k] = a[u]
        k += 1
    return k


# --------------------------------------------------------------------------- block merges


@numba.njit(inline="always", **_JIT)
def _skewed(na: int, nb: int) -> bool:
    """Binary searches rather than the block merge: a run under 8 values, or one over 64
    times the other's length."""
    short, long = min(na, nb), max(na, nb)
    return short < LANES or short * SKEW < long


@numba.njit(inline="always", **_JIT)
def _advance(a, sa, b, sb, i, j):
    """Next (i, j): the block with the smaller last value moves on (both on a tie).

    Chosen by arithmetic: on random data a branch here is mispredicted half the time
    (55 against 87 ns per pair of 66-value runs, 20,000 different pairs).
    """
    amax, bmax = _last_of_block(a, sa), _last_of_block(b, sb)
    i += np.int64(amax <= bmax) * (sa + LANES - i)
    j += np.int64(bmax <= amax) * (sb + LANES - j)
    return i, j


@intrinsic
def _count_whole_blocks(typingctx, a, i0, ie, b, j0, je):  # pragma: no cover - compiled
    """The whole-block phase of :func:`intersect_count` as one loop of IR; returns
    ``(i, j, matches)`` where it stopped (fewer than 8 values left on a side).

    Matches are summed in a vector (each lane counts its own), so a step has no mask to
    move out of the vector unit and count; the lanes are added once at the end (10 %
    faster on 66-value runs than the numba-level loop).
    """
    result = types.UniTuple(types.int64, 3)

    def codegen(context, builder, signature, args):
        a_data, start_i, end_i, b_data, start_j, end_j = unpack(context, builder, signature,
                                                                 args)
        i64 = ir.IntType(64)
        lanes = ir.Constant(i64, LANES)
        entry, check, body, done = start_loop(builder, "count")
        i, j, acc = builder.phi(i64), builder.phi(i64), builder.phi(_V8)
        i.add_incoming(start_i, entry)
        j.add_incoming(start_j, entry)
        acc.add_incoming(ir.Constant(_V8, [0] * LANES), entry)
        more = builder.and_(builder.icmp_signed("<=", builder.add(i, lanes), end_i),
                            builder.icmp_signed("<=", builder.add(j, lanes), end_j))
        builder.cbranch(more, body, done)

        builder.position_at_end(body)
        va = builder.load(builder.bitcast(builder.gep(a_data, [i]), _V8.as_pointer()), align=2)
        vb = builder.load(builder.bitcast(builder.gep(b_data, [j]), _V8.as_pointer()), align=2)
        acc_next = builder.sub(acc, builder.sext(_equal_lanes(builder, va, vb), _V8))
        last = ir.Constant(i64, LANES - 1)
        amax = builder.load_atomic(builder.gep(a_data, [builder.add(i, last)]), "unordered", 2)
        bmax = builder.load_atomic(builder.gep(b_data, [builder.add(j, last)]), "unordered", 2)
        step_a = builder.zext(builder.icmp_unsigned("<=", amax, bmax), i64)
        step_b = builder.zext(builder.icmp_unsigned("<=", bmax, amax), i64)
        i.add_incoming(builder.add(i, builder.mul(step_a, lanes)), body)
        j.add_incoming(builder.add(j, builder.mul(step_b, lanes)), body)
        acc.add_incoming(acc_next, body)
        builder.branch(check)

        builder.position_at_end(done)
        total = ir.Constant(i64, 0)
        for t in range(LANES):
            lane = builder.extract_element(acc, ir.Constant(I32, t))
            total = builder.add(total, builder.zext(lane, i64))
        return context.make_tuple(builder, result, [i, j, total])

    if not runs_of(types.uint16, a, b):
        return None
    return result(a, i0, ie, b, j0, je), codegen


@numba.njit(**_JIT)
def intersect_count(a, ao: int, na: int, b, bo: int, nb: int) -> int:
    """``|A AND B|`` of the sorted runs ``a[ao:ao + na]`` and ``b[bo:bo + nb]``."""
    # no swap to put the shorter run first: on random sizes that branch is mispredicted
    # half the time, about a fifth of the time of a pair of 66-value runs
    if _skewed(na, nb):
        if na > nb:
            return _probe_count(b, bo, nb, a, ao, na)
        return _probe_count(a, ao, na, b, bo, nb)
    ie, je = ao + na, bo + nb
    i, j, k = _count_whole_blocks(a, ao, ie, b, bo, je)
    while i < ie and j < je:  # the last, overlapping blocks
        sa, sb = min(i, ie - LANES), min(j, je - LANES)
        hits = _match8_from(a, sa, b, sb, j) >> np.uint64(i - sa)
        k += np.int64(popcount64(hits))
        i, j = _advance(a, sa, b, sb, i, j)
    return k


@numba.njit(inline="always", **_JIT)
def _emit(a, sa: int, hits, out, pos: int, k: int) -> int:
    """Write ``a[sa + t]`` for every set bit ``t`` of ``hits``, in order."""
    while hits:
        out[pos + k] = a[sa + np.int64(ctz64(hits))]
        k += 1
        hits &= hits - np.uint64(1)
    return k


@numba.njit(**_JIT)
def intersect(a, ao: int, na: int, b, bo: int, nb: int, out, pos: int) -> int:
    """``A AND B`` written to ``out[pos:]`` in order; returns its length."""
    if _skewed(na, nb):
        if na > nb:
            return _probe_keep(b, bo, nb, a, ao, na, True, out, pos)
        return _probe_keep(a, ao, na, b, bo, nb, True, out, pos)
    i, ie, j, je = ao, ao + na, bo, bo + nb
    k = 0
    while i + LANES <= ie and j + LANES <= je:
        k = _emit(a, i, _match8(a, i, b, j), out, pos, k)
        i, j = _advance(a, i, b, j, i, j)
    while i < ie and j < je:
        sa, sb = min(i, ie - LANES), min(j, je - LANES)
        shift = np.uint64(i - sa)
        hits = (_match8_from(a, sa, b, sb, j) >> shift) << shift
        k = _emit(a, sa, hits, out, pos, k)
        i, j = _advance(a, sa, b, sb, i, j)
    return k


@numba.njit(inline="always", **_JIT)
def _emit_unseen(a, sa: int, i: int, seen, out, pos: int, k: int) -> int:
    """Write the lanes ``a[i:sa + 8]`` whose bit in ``seen`` is clear, in order.

    Every lane is written and the count moves on only for kept ones (no branch to
    mispredict; most lanes are kept). Writes stay below ``pos`` + the run's length, since
    at most ``i - ao`` values were written before.
    """
    for t in range(i - sa, LANES):
        out[pos + k] = a[sa + t]
        k += np.int64((seen >> np.uint64(t)) & np.uint64(1)) ^ 1
    return k


@numba.njit(**_JIT)
def difference(a, ao: int, na: int, b, bo: int, nb: int, out, pos: int) -> int:
    """``A ANDNOT B`` written to ``out[pos:]`` in order; returns its length.

    The lanes of A's current block found in any of the B blocks it meets are collected in
    ``seen``; when the block moves on, its other lanes are written.
    """
    if na < LANES or na * SKEW < nb:
        return _probe_keep(a, ao, na, b, bo, nb, False, out, pos)
    if nb < LANES or nb * SKEW < na:
        return _remove_few(a, ao, na, b, bo, nb, out, pos)
    i, ie, j, je = ao, ao + na, bo, bo + nb
    k = 0
    seen = np.uint64(0)
    # whole blocks: A's block is written on every step, counted only when it moves on (no
    # branch on that: it goes either way at random); a block with nothing seen, the common
    # case in sparse sets, is one vector copy. Writes stay below pos + (i - ao) + 8.
    while i + LANES <= ie and j + LANES <= je:
        seen |= _match8(a, i, b, j)
        ni, j = _advance(a, i, b, j, i, j)
        moved = np.int64(ni != i)
        if seen == 0:
            _copy8(a, i, out, pos + k)
            k += moved * LANES
        else:
            for t in range(LANES):
                out[pos + k] = a[i + t]
                k += moved & (np.int64(seen >> np.uint64(t)) ^ 1)
        seen &= np.uint64(moved - 1)  # cleared when the block moved on
        i = ni
    while i < ie and j < je:  # the last, overlapping blocks
        sa, sb = min(i, ie - LANES), min(j, je - LANES)
        seen |= _match8_from(a, sa, b, sb, j)
        ni, j = _advance(a, sa, b, sb, i, j)
        if ni != i:
            k = _emit_unseen(a, sa, i, seen, out, pos, k)
            seen = np.uint64(0)
            i = ni
    if i < ie:  # B is exhausted: A's current block minus what it met, then the rest
        sa = min(i, ie - LANES)
        k = _emit_unseen(a, sa, i, seen, out, pos, k)
        for u in range(sa + LANES, ie):
            out[pos + k] = a[u]
            k += 1
    return k
