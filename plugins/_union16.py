"""Unions and symmetric differences of sorted ``uint16`` runs: a vector merge (numba).

The OR / XOR kernel of the in-house Roaring form's array containers (``plugins/_roaring.py``);
the intersections are in ``plugins/_sorted16.py``, whose vector helpers this module uses.
The whole merge loop is one numba intrinsic that emits LLVM IR, so its state stays in
vector registers from one step to the next (kept in memory between numba-level calls, the
reload put a store-to-load forward on every step's critical path: 2x slower).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from plugins import _bitmap_kernels, _ir, _popcount, _sorted16
from plugins._ir import I16, I32, lanes, runs_of, splat, start_loop, unpack
from plugins._jit_cache import invalidate_stale
from plugins._sorted16 import _V8, LANES

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
# every module whose compiled code ends up in this one's cache (see _jit_cache)
invalidate_stale(__file__, _bitmap_kernels, _ir, _popcount, _sorted16)


PAD = 0xFFFF  # fills a run's last, partial block: sorts last, so it never moves a value


def _umin(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return builder.select(builder.icmp_unsigned("<", x, y), x, y)


def _umax(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return builder.select(builder.icmp_unsigned("<", x, y), y, x)


def _bitonic_merge(builder: ir.IRBuilder, x: ir.Value, h: ir.Value) -> ir.Value:
    """Two sorted 8-lane vectors into one sorted 16-lane vector (Batcher's bitonic merge).

    ``x`` against ``h`` reversed splits them into the 8 smallest and the 8 largest, each a
    bitonic sequence; three half-cleaner stages (lanes 4, 2 and 1 apart, within each half)
    sort both halves at once.
    """
    h_rev = builder.shuffle_vector(h, ir.Constant(_V8, ir.Undefined),
                                   lanes(list(range(LANES - 1, -1, -1))))
    v = builder.shuffle_vector(_umin(builder, x, h_rev), _umax(builder, x, h_rev),
                               lanes(list(range(2 * LANES))))
    v16 = ir.VectorType(I16, 2 * LANES)
    for dist in (4, 2, 1):
        partner = builder.shuffle_vector(v, ir.Constant(v16, ir.Undefined),
                                         lanes([t ^ dist for t in range(2 * LANES)]))
        low, high = _umin(builder, v, partner), _umax(builder, v, partner)
        v = builder.shuffle_vector(low, high, lanes(
            [t if t & dist == 0 else t + 2 * LANES for t in range(2 * LANES)]))
    return v


# scratch layout of :func:`union` (uint16 slots): the initial state of the merge (kept,
# pending, before: see :func:`_union_merge`), the two runs' padded last blocks, a block of PAD
_KEPT, _PENDING, _BEFORE, _PAD_A, _PAD_B, _PADS = (LANES * t for t in range(6))
SCRATCH = 6 * LANES


def _emit_step(builder, x, kept, pending, before, xor, out_data, pos):
    """IR of one merge step (see :func:`_union_merge`); returns the new state and position."""
    merged = _bitonic_merge(builder, x, kept)
    low = builder.shuffle_vector(merged, merged, lanes(list(range(LANES))))
    high = builder.shuffle_vector(merged, merged, lanes(list(range(LANES, 2 * LANES))))
    left = builder.shuffle_vector(before, pending, lanes([LANES - 1 + t for t in range(LANES)]))
    right = builder.shuffle_vector(pending, low, lanes([1 + t for t in range(LANES)]))
    keep_or = builder.icmp_unsigned("!=", pending, left)
    keep_xor = builder.and_(keep_or, builder.icmp_unsigned("!=", pending, right))
    keep = builder.select(xor, keep_xor, keep_or)
    for t in range(LANES):
        lane = ir.Constant(I32, t)
        builder.store(builder.extract_element(pending, lane), builder.gep(out_data, [pos]),
                      align=2)
        pos = builder.add(pos, builder.zext(builder.extract_element(keep, lane), pos.type))
    return high, low, pending, pos


@intrinsic
def _union_merge(typingctx, a, ao, ie, b, bo, je, scratch, xor, out, k):
    """The merge loop of :func:`union`, all of it in one piece of IR (compiled).

    State, in vector registers: the 8 largest values taken so far (*kept*), the 8 smallest
    of the last merge (*pending*, written one step later) and the block written before it.
    Each step takes the block of the run whose next value is smaller (``a[i:i + 8]`` or
    ``b[j:j + 8]``; a run's last, partial block is its padded copy in ``scratch``, a
    used-up run's is the PAD block), merges it with *kept* in a bitonic network, and writes
    *pending* to ``out`` without duplicates: a lane equal to its left neighbour is dropped
    (OR), or a lane equal to either neighbour (XOR). Its neighbours are the last lane of
    the block written before and the first lane of the new *pending*, so every value is
    compared with both of its neighbours in merged order. Lanes are written one by one
    from registers; the position moves on only for kept ones. Two steps with the PAD block
    flush the state. Returns the position after the last value written.
    """

    def codegen(context, builder, signature, args):
        (a_data, ao, ie, b_data, bo, je, sc, xor, out_data,
         pos0) = unpack(context, builder, signature, args)
        i64 = ir.IntType(64)
        c64 = lambda v: ir.Constant(i64, v)  # noqa: E731

        def slot(offset):
            return builder.gep(sc, [c64(offset)])

        def vload(ptr):
            return builder.load(builder.bitcast(ptr, _V8.as_pointer()), align=2)

        def block_ptr(data, idx, end, pad_offset):
            whole = builder.icmp_signed("<=", builder.add(idx, c64(LANES)), end)
            started = builder.icmp_signed("<", idx, end)
            tail = builder.select(started, slot(pad_offset), slot(_PADS))
            return builder.select(whole, builder.gep(data, [idx]), tail)

        def head(data, idx, end):
            live = builder.icmp_signed("<", idx, end)
            safe = builder.select(live, idx, builder.sub(end, c64(1)))
            value = builder.zext(builder.load(builder.gep(data, [safe]), align=2), i64)
            return builder.select(live, value, c64(1 << 17))

        kept0, pending0, before0 = vload(slot(_KEPT)), vload(slot(_PENDING)), vload(slot(_BEFORE))
        i0 = builder.add(ao, c64(LANES))
        entry, check, body, done = start_loop(builder, "merge")
        i = builder.phi(i64)
        j = builder.phi(i64)
        pos = builder.phi(i64)
        kept = builder.phi(_V8)
        pending = builder.phi(_V8)
        before = builder.phi(_V8)
        i.add_incoming(i0, entry)
        j.add_incoming(bo, entry)
        pos.add_incoming(pos0, entry)
        kept.add_incoming(kept0, entry)
        pending.add_incoming(pending0, entry)
        before.add_incoming(before0, entry)
        more = builder.or_(builder.icmp_signed("<", i, ie), builder.icmp_signed("<", j, je))
        builder.cbranch(more, body, done)

        builder.position_at_end(body)
        take_a = builder.icmp_unsigned("<=", head(a_data, i, ie), head(b_data, j, je))
        # both candidate blocks are loaded and blended with a mask: a select of the two
        # addresses became a branch (LLVM's cmov conversion), mispredicted half the time
        x_a = vload(block_ptr(a_data, i, ie, _PAD_A))
        x_b = vload(block_ptr(b_data, j, je, _PAD_B))
        mask = splat(builder, builder.sext(take_a, I16), LANES)
        x = builder.or_(builder.and_(x_a, mask), builder.and_(x_b, builder.not_(mask)))
        kept1, pending1, before1, pos1 = _emit_step(builder, x, kept, pending, before,
                                                    xor, out_data, pos)
        step_a = builder.zext(take_a, i64)
        i1 = builder.add(i, builder.mul(step_a, c64(LANES)))
        j1 = builder.add(j, builder.mul(builder.sub(c64(1), step_a), c64(LANES)))
        tail = builder.basic_block
        for phi, value in ((i, i1), (j, j1), (pos, pos1), (kept, kept1), (pending, pending1),
                           (before, before1)):
            phi.add_incoming(value, tail)
        builder.branch(check)

        builder.position_at_end(done)
        pads = vload(slot(_PADS))
        state = (kept, pending, before, pos)
        for _ in range(2):
            state = _emit_step(builder, pads, *state[:3], xor, out_data, state[3])
        return state[3]

    if not runs_of(types.uint16, a, b, scratch, out):
        return None
    return types.intp(a, ao, ie, b, bo, je, scratch, xor, out, k), codegen


@numba.njit(inline="always", **_JIT)
def _pad_tail(src, start: int, end: int, pad) -> None:
    """``pad`` = the values ``src[start:end]`` (fewer than 8) followed by ``PAD``."""
    for t in range(LANES):
        pad[t] = src[start + t] if start + t < end else PAD


SLACK = LANES  # lanes written past the result (each lane is written, kept or not)


@numba.njit(**_JIT)
def union(a, ao: int, na: int, b, bo: int, nb: int, out, pos: int, xor: bool,
          scratch) -> int:
    """``A OR B`` (``xor``: ``A XOR B``) written to ``out[pos:]``; returns its length.

    ``scratch``: a ``uint16`` array of ``SCRATCH`` values. ``out`` must have ``SLACK``
    values of room past ``pos + na + nb``. Both runs non-empty.

    A vector merge (the method of Inoue et al., 2007, as in CRoaring): 8 values are kept in
    sorted order; each step takes the next block of 8 from the run whose next value is
    smaller, merges it with the kept ones in a bitonic network, keeps the 8 largest and
    passes the 8 smallest on (see :func:`_merge_step`). Every value passed on is at most
    every value not yet taken. A run's last, partial block is padded with ``PAD``, which
    sorts after every value; two blocks of ``PAD`` at the end flush the kept values. The
    ``PAD`` values end up last, so the result is corrected there: whether ``PAD`` itself
    (65535) belongs to it is decided from the runs' last values.
    """
    ie, je = ao + na, bo + nb
    _pad_tail(a, ie - (na % LANES), ie, scratch[_PAD_A:_PAD_A + LANES])
    _pad_tail(b, je - (nb % LANES), je, scratch[_PAD_B:_PAD_B + LANES])
    first = min(a[ao], b[bo]) ^ 1  # differs from the first merged value
    for t in range(LANES):
        scratch[_PADS + t] = PAD
        scratch[_PENDING + t] = first  # a block that is dropped whole when written
        scratch[_BEFORE + t] = first
        scratch[_KEPT + t] = a[ao + t] if na >= LANES else scratch[_PAD_A + t]
    k = _union_merge(a, ao, ie, b, bo, je, scratch, xor, out, pos)
    while k > pos and out[k - 1] == PAD:
        k -= 1
    in_a, in_b = a[ie - 1] == PAD, b[je - 1] == PAD
    if (in_a != in_b) if xor else (in_a or in_b):
        out[k] = PAD
        k += 1
    return k - pos
