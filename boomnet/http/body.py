"""HTTP/2 response bodies received in place (the connection's DATA fast path writes into them).

A large body is received into its own ``bytearray`` whose length is its *capacity*; the bytes
received so far are ``buf[:filled]``. Capacity follows the data, doubling (by at most
:data:`BODY_STEP_MAX` a step, or a quarter of the capacity for bodies past 32 MB), never more
than :data:`~boomnet.http.parser.BODY_FIRST_ALLOC` ahead of the first byte (a declared length is
the server's word, not a reason to allocate) and never past ``most`` (the declared length, or
the body limit): a body of a declared length ends exactly full and is handed out as that very
``bytearray``, with no second copy and no slack.

Why not ``buf += data`` per read (what this replaced): CPython over-allocates a bytearray by 1/8
on a growth of less than 1/8, so a 10 MB body was reallocated some thirty times on the way and
kept up to 1.2 MB of slack for its life; and in a long-running process glibc then served the
next such body with fresh pages about every other time (measured: 2,560 page faults per 10 MB in
half the downloads, ~1 ms of CPU each time on bare metal, ~4 ms on this VM). Each growth here is
one append of more than 1/8 (CPython then allocates exactly), and a growth that would stop
within 1/8 of ``most`` goes to ``most`` at once, so the last one is exact too.

HTTP/1.1's parser keeps its own rule (the same doubling, grown in 1 MiB pieces): given this one,
a process alternating HTTP/1.1, HTTP/2 and urllib3 downloads of 10 MB faulted every HTTP/1.1 and
urllib3 body in; with each keeping its own, none (``perf/h2_bench.py``'s module doc has the
figures). Large-block reuse is glibc's heuristics, so such a choice is measured, not derived.
"""

from __future__ import annotations

from .parser import BODY_FIRST_ALLOC, SMALL_BODY

__all__ = ["BODY_STEP_MAX", "Body", "grow"]

#: a growing body's capacity at most doubles, and grows by at most this much per step (or by a
#: quarter of the capacity, past 32 MB: every step more than the 1/8 CPython over-allocates on)
BODY_STEP_MAX = 8 * 1024 * 1024  # equivalent-mutant: 8 -> 9, 8 -> 7, 1024 -> 1025, 1024 -> 1023: a tuning choice; growth stays exact, at most double and never past most with any such size
# zero bytes to grow a body's capacity from (calloc'd: no memory until read, then the zero page)
_ZEROS = memoryview(bytes(BODY_STEP_MAX))


def grow(buf: bytearray, filled: int, need: int, most: int) -> None:
    """Make ``len(buf)`` (the capacity) hold ``need`` more bytes after ``filled``, by the rule
    above; never past ``most`` (a caller asking past it gets ``most``)."""
    cap = len(buf)
    target = filled + need
    if target <= cap:
        return
    step = min(max(cap, BODY_FIRST_ALLOC), max(BODY_STEP_MAX, cap // 4))  # equivalent-mutant: 4 -> 5, 4 -> 3: past 32 MB a step of a fifth or a third is still more than the 1/8 CPython over-allocates on
    new = min(most, max(target, cap + step))
    if (most - new) * 8 < most:  # equivalent-mutant: Lt -> LtE, 8 -> 7, 8 -> 9: the last step stays more than 1/8 (it is exactly 1/8 only when most - new is exactly most/9, the 8 -> 9 mutant's one case)
        new = most  # the rest would be a growth CPython over-allocates on: take it now, exactly
    zeros = _ZEROS
    grow_by = new - cap
    # one append per step (pieces only past BODY_STEP_MAX): a realloc, in place for large blocks
    while grow_by > 0:  # equivalent-mutant: 0 -> 1: a 1-byte growth left undone is made by the caller's slice assignment, with the same bytes
        k = min(grow_by, len(zeros))
        buf += zeros[:k]
        grow_by -= k


class Body:
    """A body being received: ``buf[:filled]`` so far, capacity ``len(buf)``, at most ``most``
    bytes in all (the declared length or the limit, whichever is smaller)."""

    __slots__ = ("buf", "filled", "most")

    def __init__(self, most: int) -> None:
        self.buf = bytearray()
        self.filled = 0
        self.most = most

    def reserve(self, need: int) -> None:
        """Capacity for ``need`` more bytes (or up to ``most``)."""
        grow(self.buf, self.filled, need, self.most)

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` (the caller has checked it against ``most``)."""
        with memoryview(data) as view:
            n = view.nbytes
            filled = self.filled
            grow(self.buf, filled, n, max(self.most, filled + n))  # equivalent-mutant: Add -> Sub: only past most does it matter, and there the slice assignment below grows the body with the same bytes
            self.buf[filled : filled + n] = view
        self.filled = filled + n

    def take(self) -> bytes | bytearray:
        """The body, handed over: small ones as ``bytes``, large ones as the buffer itself (a
        body of a declared length fills it exactly; one without that left more than 1/8 of its
        capacity unused is copied out instead, so no body keeps more slack than ``+=`` would)."""
        buf, filled = self.buf, self.filled
        self.buf, self.filled = bytearray(), 0
        if filled <= SMALL_BODY:
            return bytes(memoryview(buf)[:filled])
        if (len(buf) - filled) * 8 > filled:
            return bytearray(memoryview(buf)[:filled])
        del buf[filled:]  # a no-op for a body that ended at its declared length
        return buf
