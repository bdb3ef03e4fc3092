"""Readiness through io_uring (``pyuring``): an idle poll is two memory reads, no system call.

How it works, and why:

* Each registered descriptor has one ``IORING_OP_POLL_ADD`` (POLLIN) request in flight. When it
  fires, its completion (CQE) lands in the completion ring, which is shared memory: ``select()``
  compares the ring's head and tail and, when they differ, reads the CQEs straight from the
  mapping — no ``io_uring_enter`` needed to *look*.
* Requests are one-shot and re-armed at the start of the next ``select()`` — after the endpoint has
  read. Arming checks readiness immediately, so a descriptor that still holds data completes again
  at once: level-triggered semantics, like epoll. Multishot polls (``IORING_POLL_ADD_MULTI``) fire
  only on *new* wake-ups, so a target that was not drained in one poll would stall; the re-arms of
  one poll go out together in a single ``io_uring_submit``.
* Removing a registration submits ``IORING_OP_POLL_REMOVE`` at once: an armed poll holds a
  reference to the socket, which would otherwise keep it open after ``close()``.

pyuring 0.3.0 exposes no asynchronous poll API, so the submission side uses liburing's exported
``io_uring_get_sqe`` / ``io_uring_submit`` on the ``struct io_uring`` pyuring's ``UringCtx``
wraps; the ring layout is verified at construction and any mismatch is refused with
:class:`SelectorUnavailable` (as is a kernel without io_uring), naming :class:`EpollSelector`.
The head/tail accesses rely on the x86-64 / AArch64 ordering of aligned 32-bit loads and stores
as seen from CPython (every read of a CQE completes in the interpreter before the head store).
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import logging
import select as _select
import socket
from collections.abc import Callable, Sequence
from typing import Any

from .base import Selector, SelectorUnavailable, Token

__all__ = ["IoUringSelector"]

log = logging.getLogger(__name__)

_FALLBACK = "use EpollSelector instead (the portable default)"
_INSTALL = "pip install boomnet[uring]"

# struct io_uring (liburing 2.x, x86-64 / AArch64): offsets verified at construction
_SQ_KFLAGS = 32
_SQ_RING_ENTRIES = 92
_CQ_KHEAD = 104
_CQ_KTAIL = 112
_CQ_KRING_ENTRIES = 128
_CQ_CQES = 152
_CQ_RING_MASK = 176
_CQ_RING_ENTRIES = 180
_RING_FLAGS = 192
_RING_FD = 196

_IORING_OP_POLL_ADD = 6
_IORING_OP_POLL_REMOVE = 7
_IORING_SETUP_CQE32 = 1 << 11
_IORING_SQ_CQ_OVERFLOW = 1 << 1
_POLL_MASK = _select.POLLIN | _select.POLLERR | _select.POLLHUP
_U32 = 0xFFFFFFFF


class _Sqe(ctypes.Structure):
    _fields_ = [
        ("opcode", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("ioprio", ctypes.c_uint16),
        ("fd", ctypes.c_int32),
        ("off", ctypes.c_uint64),
        ("addr", ctypes.c_uint64),
        ("len", ctypes.c_uint32),
        ("op_flags", ctypes.c_uint32),  # poll32_events for POLL_ADD
        ("user_data", ctypes.c_uint64),
        ("buf_index", ctypes.c_uint16),
        ("personality", ctypes.c_uint16),
        ("splice_fd_in", ctypes.c_int32),
        ("addr3", ctypes.c_uint64),
        ("pad2", ctypes.c_uint64),
    ]


class _Cqe(ctypes.Structure):
    _fields_ = [("user_data", ctypes.c_uint64), ("res", ctypes.c_int32), ("flags", ctypes.c_uint32)]


class _Reg:
    __slots__ = ("armed", "fd", "live", "token", "uid")

    def __init__(self, token: Token, fd: int, uid: int) -> None:
        self.token = token
        self.fd = fd
        self.uid = uid
        self.armed = False
        self.live = True


def _unavailable(why: str) -> SelectorUnavailable:
    return SelectorUnavailable(f"io_uring is not available here: {why}; {_FALLBACK}")


class IoUringSelector(Selector):
    """Readiness selector over io_uring (Linux >= 5.6 with io_uring permitted).

    Raises :class:`SelectorUnavailable` at construction when io_uring cannot be used (no pyuring,
    ``ENOSYS``, ``EPERM`` from seccomp or ``io_uring_disabled``, unexpected ring layout); the
    message names :class:`EpollSelector` as the fallback.
    """

    def __init__(self, *, entries: int = 1024) -> None:
        super().__init__()
        try:
            # pyuring ships no type information: what we use of it is typed at this boundary
            pyuring: Any = importlib.import_module("pyuring")
            find_library: Callable[[], str] = importlib.import_module("pyuring.native.library")._find_library
        except Exception as exc:  # ImportError, or pyuring failing to load its library
            raise _unavailable(f"pyuring cannot be imported ({exc}): it is the optional extra, {_INSTALL}") from exc
        try:
            self._ctx = pyuring.UringCtx(entries=entries, single_thread_check=False)
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            raise _unavailable(f"io_uring_setup failed with {reason} ({exc.strerror})") from exc
        try:
            self._setup(find_library())
            self._self_test()
        except SelectorUnavailable:
            self._ctx.close()
            raise
        except OSError as exc:
            self._ctx.close()
            reason = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            raise _unavailable(f"io_uring poll failed with {reason} ({exc.strerror})") from exc
        self._regs: dict[Token, _Reg] = {}  # token -> registration
        self._by_uid: dict[int, _Reg] = {}
        self._rearm: list[_Reg] = []
        self._next_uid = 1
        self._unsubmitted = False
        self._waiter: _select.poll | None = None  # poll object on the ring descriptor, made on the first wait()

    # --- ring plumbing (cold) -----------------------------------------------------------------

    def _setup(self, lib_path: str) -> None:
        lib = ctypes.CDLL(lib_path)  # our own handle: argtypes set here don't touch pyuring's
        lib.io_uring_get_sqe.argtypes = [ctypes.c_void_p]
        lib.io_uring_get_sqe.restype = ctypes.c_void_p
        lib.io_uring_submit.argtypes = [ctypes.c_void_p]
        lib.io_uring_submit.restype = ctypes.c_int
        lib.io_uring_get_events.argtypes = [ctypes.c_void_p]
        lib.io_uring_get_events.restype = ctypes.c_int
        self._lib = lib
        ring = self._ctx._ctx  # pointer to liburing's struct io_uring
        self._ring = ring

        def u32(off: int) -> int:
            return ctypes.c_uint32.from_address(ring + off).value

        def ptr(off: int) -> int:
            return ctypes.c_void_p.from_address(ring + off).value or 0

        sq_entries, cq_entries, cq_mask = u32(_SQ_RING_ENTRIES), u32(_CQ_RING_ENTRIES), u32(_CQ_RING_MASK)
        layout_ok = (
            u32(_RING_FD) == self._ctx.ring_fd
            and sq_entries > 0
            and cq_entries >= sq_entries
            and cq_entries & (cq_entries - 1) == 0
            and cq_mask == cq_entries - 1
            and ptr(_CQ_KHEAD) and ptr(_CQ_KTAIL) and ptr(_CQ_CQES) and ptr(_SQ_KFLAGS)
            and ctypes.c_uint32.from_address(ptr(_CQ_KRING_ENTRIES)).value == cq_entries
            and not u32(_RING_FLAGS) & _IORING_SETUP_CQE32
        )
        if not layout_ok:
            raise _unavailable("pyuring's ring is not the liburing struct io_uring this selector reads")
        self._khead = ctypes.c_uint32.from_address(ptr(_CQ_KHEAD))
        self._ktail = ctypes.c_uint32.from_address(ptr(_CQ_KTAIL))
        self._sq_flags = ctypes.c_uint32.from_address(ptr(_SQ_KFLAGS))
        self._cqes = (_Cqe * cq_entries).from_address(ptr(_CQ_CQES))
        self._cq_mask = cq_mask

    def _self_test(self) -> None:
        """Arm a poll on a readable socketpair: proves the kernel lets us poll and reap."""
        a, b = socket.socketpair()
        try:
            b.send(b"x")
            self._prep(_IORING_OP_POLL_ADD, a.fileno(), 0, 1 << 63)
            self._submit()
            for _ in range(1000):
                if self._ktail.value != self._khead.value:
                    break
                self._lib.io_uring_get_events(self._ring)
            else:
                raise _unavailable("a poll on a readable socket never completed")
            cqe = self._cqes[self._khead.value & self._cq_mask]
            res = cqe.res
            self._khead.value = (self._khead.value + 1) & _U32
            if res < 0:
                raise OSError(-res, f"IORING_OP_POLL_ADD: {errno.errorcode.get(-res, res)}")
        finally:
            a.close()
            b.close()

    def _prep(self, opcode: int, fd: int, addr: int, user_data: int) -> None:
        sqe_ptr = self._lib.io_uring_get_sqe(self._ring)
        if not sqe_ptr:  # submission queue full: push what is queued, then retry
            self._submit()
            sqe_ptr = self._lib.io_uring_get_sqe(self._ring)
            if not sqe_ptr:
                raise OSError(errno.EBUSY, "io_uring submission queue full")
        ctypes.memset(sqe_ptr, 0, ctypes.sizeof(_Sqe))
        sqe = _Sqe.from_address(sqe_ptr)
        sqe.opcode = opcode
        sqe.fd = fd
        sqe.addr = addr
        sqe.user_data = user_data
        if opcode == _IORING_OP_POLL_ADD:
            sqe.op_flags = _POLL_MASK
        self._unsubmitted = True

    def _submit(self) -> None:
        ret = self._lib.io_uring_submit(self._ring)
        if ret >= 0:
            self._unsubmitted = False
        elif -ret not in (errno.EAGAIN, errno.EBUSY, errno.EINTR):
            raise OSError(-ret, f"io_uring_submit: {errno.errorcode.get(-ret, ret)}")
        # transient failures leave the entries queued; the next select() submits again

    # --- registration -------------------------------------------------------------------------

    def _register_fd(self, token: Token, fd: int) -> None:
        if self._ctx is None:
            raise ValueError("IoUringSelector is closed")
        if token in self._regs:
            self._unregister_fd(token)
        reg = _Reg(token, fd, self._next_uid)
        self._next_uid += 1
        self._regs[token] = reg
        self._by_uid[reg.uid] = reg
        self._prep(_IORING_OP_POLL_ADD, fd, 0, reg.uid)
        reg.armed = True
        self._submit()

    def _unregister_fd(self, token: Token) -> bool:
        reg = self._regs.pop(token, None)
        if reg is None:
            return False
        reg.live = False
        del self._by_uid[reg.uid]
        if reg.armed:
            # user_data 0 marks our own bookkeeping CQEs; the cancelled poll's CQE is ignored too
            try:
                self._prep(_IORING_OP_POLL_REMOVE, -1, reg.uid, 0)
                self._submit()
            except OSError as exc:  # the poll stays armed: its socket lingers until the ring closes
                log.warning("io_uring: cannot remove the poll on fd %d: %s", reg.fd, exc)
        return True

    # --- polling ------------------------------------------------------------------------------

    def select(self) -> list[Token]:
        if self._rearm or self._unsubmitted:
            self._arm_delivered()
        head = self._khead.value
        prev = self._ready
        if self._ktail.value == head and not prev and not self._always:
            return prev  # idle: no completion, nothing hot — two memory reads, no system call
        ready = self._spare
        ready.clear()
        if self._ktail.value != head:
            self._reap(head, ready)
        if prev or self._always:
            return self._finish(prev, ready)
        self._ready = ready
        self._spare = prev
        return ready

    def _block(self, timeout: float, also: Sequence[int]) -> None:
        # Arm every poll first (sleeping with a target unarmed would miss it), then sleep on the
        # ring's descriptor, which is readable while completions are waiting.
        if self._ctx is None:
            return
        if self._rearm or self._unsubmitted:
            self._arm_delivered()
        if self._ktail.value != self._khead.value:
            return
        if also:
            self._poll_fds([self._ctx.ring_fd, *also], timeout)
            return
        if self._waiter is None:
            self._waiter = _select.poll()
            self._waiter.register(self._ctx.ring_fd, _select.POLLIN)
        self._waiter.poll(timeout * 1000.0)

    def _arm_delivered(self) -> None:
        rearm = self._rearm
        for reg in rearm:
            if reg.live and not reg.armed:
                self._prep(_IORING_OP_POLL_ADD, reg.fd, 0, reg.uid)
                reg.armed = True
        rearm.clear()
        if self._unsubmitted:
            self._submit()

    def _reap(self, head: int, ready: list[Token]) -> None:
        cqes, mask, by_uid, rearm = self._cqes, self._cq_mask, self._by_uid, self._rearm
        while True:
            tail = self._ktail.value
            while head != tail:
                cqe = cqes[head & mask]
                reg = by_uid.get(cqe.user_data)
                head = (head + 1) & _U32
                if reg is not None and reg.armed:
                    # a negative result (e.g. EBADF) is delivered too: the endpoint's read raises
                    reg.armed = False
                    ready.append(reg.token)
                    rearm.append(reg)
            self._khead.value = head
            if not self._sq_flags.value & _IORING_SQ_CQ_OVERFLOW:
                return
            # completions spilled to the kernel's overflow list: have them copied into the ring
            self._lib.io_uring_get_events(self._ring)

    def close(self) -> None:
        ctx = getattr(self, "_ctx", None)
        if ctx is None:
            return
        self._ctx = None
        # the mapped ring goes away with the context: point the views at harmless memory
        self._khead = ctypes.c_uint32(0)
        self._ktail = ctypes.c_uint32(0)
        self._rearm = []
        self._unsubmitted = False
        self._regs.clear()
        self._by_uid.clear()
        self._always.clear()
        self._always_set.clear()
        self._count = 0
        ctx.close()
        log.debug("io_uring selector closed")
