"""The selector interface the :class:`~boomnet.service.IOService` polls through.

A selector answers one question per poll, without blocking: *which registered targets should be
polled now?* It is handed **tokens**; ``token.target`` is the I/O object (a stream or protocol
client) satisfying :class:`~boomnet.service.target.Target`: ``fileno()`` and ``read_hint()``.
``select()`` returns tokens.

Rules every implementation honours (``tests/service/test_selectors.py`` checks them all):

* a target whose descriptor is readable (data, EOF, error) is returned; readiness is
  level-triggered — a target not drained is returned again on the next ``select()``;
* a target returned by the previous ``select()`` whose ``read_hint()`` is non-zero (buffered
  inbound bytes, pending writes, or closed), is returned again even if its descriptor is not readable (decrypted
  TLS bytes, replay data, writes waiting to go out, a WebSocket that closed its stream on a close
  frame and has yet to raise). The check costs a few attribute reads per *returned* target, never
  per registered one;
* a target with ``fileno() == -1`` (a replay) is returned by every ``select()``;
* an unregistered token is never returned again.

``select()`` returns a list owned by the selector, valid until the next ``select()``. ``unregister``
may be called while that list is being iterated (it never edits a list it handed out); the
unregistered token may still appear in it.
"""

from __future__ import annotations

import select as _select
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import SelectorUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from ..io_service import IOService

__all__ = ["Selector", "SelectorUnavailable", "Selectable", "Token"]


class Selectable(Protocol):  # pragma: no cover - typing only
    """What a selector needs from a target (a part of :class:`~boomnet.service.Target`)."""

    def fileno(self) -> int: ...

    def read_hint(self) -> int: ...


class Token(Hashable, Protocol):  # pragma: no cover - typing only
    """What a selector is handed: anything hashable with a ``target`` (the service's records)."""

    @property
    def target(self) -> Selectable: ...


class Selector:
    """Base class: keeps the hot/always bookkeeping every readiness selector shares."""

    #: ``True`` when ``select()`` returns only targets with something to do; ``False`` when it
    #: returns every registered target (:class:`DirectSelector`).
    reports_readiness: bool = True

    def __init__(self) -> None:
        self._always: list[Token] = []  # tokens of targets without a descriptor (fileno -1)
        self._always_set: set[Token] = set()
        self._ready: list[Token] = []  # what the last select() returned
        self._spare: list[Token] = []  # the other buffer; the two are swapped on every select()
        self._soon: set[Token] = set()  # poll_soon() tokens: returned by the next select()
        self._count = 0

    # --- registration -------------------------------------------------------------------------

    def register(self, token: Token) -> None:
        """Start watching ``token.target``; ``select()`` will return ``token``."""
        target = token.target
        fd = target.fileno()
        if fd < 0:
            self._always.append(token)
            self._always_set.add(token)
        else:
            self._register_fd(token, fd)
            if target.read_hint():
                # bytes already inside the target (e.g. frames that came with a handshake
                # response) would wait for the descriptor forever: poll it next time regardless
                self._ready = [*self._ready, token]  # never grow a list a caller may be iterating
        self._count += 1

    def unregister(self, token: Token) -> None:
        """Stop watching ``token`` (call before closing its target). Unknown tokens are ignored."""
        removed = False
        if token in self._always_set:
            self._always.remove(token)
            self._always_set.discard(token)
            removed = True
        elif self._unregister_fd(token):
            removed = True
        if removed:
            self._count -= 1
            self._soon.discard(token)
            # It may sit in the last result, which the next select() re-checks for buffered bytes.
            # Build a new list rather than editing: the caller may be iterating the old one.
            if token in self._ready:
                self._ready = [t for t in self._ready if t is not token]

    def poll_soon(self, token: Token) -> None:
        """Return the registered ``token`` from the next ``select()`` even if its descriptor is
        not ready (e.g. output queued by another endpoint's handler, flushed once per poll).
        Idempotent until then. Costs the idle ``select()`` nothing: the token joins the last
        result, which the next ``select()`` re-checks anyway."""
        if token in self._soon:
            return
        self._soon.add(token)
        self._ready = [*self._ready, token]  # never grow a list a caller may be iterating

    def _register_fd(self, token: Token, fd: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _unregister_fd(self, token: Token) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- polling ------------------------------------------------------------------------------

    def select(self) -> list[Token]:  # pragma: no cover - abstract
        """Tokens to poll now. Never blocks."""
        raise NotImplementedError

    def wait(self, timeout: float, also: Sequence[int] = ()) -> None:
        """Block up to ``timeout`` s until ``select()`` may return something, or one of the
        descriptors ``also`` (not registered: e.g. sockets still connecting) is readable or
        failed. Returns at once when the last ``select()`` returned targets (they may have more to
        give) or targets without a descriptor are registered. Consumes nothing: the next
        ``select()`` sees the readiness."""
        if self._ready or self._always or timeout <= 0:  # equivalent-mutant: LtE -> Lt: timeout 0 then sleeps in the kernel for 0 s, which returns at once and consumes nothing
            return
        self._block(timeout, also)

    def _block(self, timeout: float, also: Sequence[int]) -> None:  # pragma: no cover - abstract
        """Sleep in the kernel until a descriptor may be ready."""
        raise NotImplementedError

    @staticmethod
    def _poll_fds(fds: Sequence[int], timeout: float) -> None:
        """Sleep until one of ``fds`` is readable (or failed), at most ``timeout`` s."""
        waiter = _select.poll()
        for fd in fds:
            if fd >= 0:
                waiter.register(fd, _select.POLLIN)
        waiter.poll(timeout * 1000.0)

    def _finish(self, prev: list[Token], ready: list[Token]) -> list[Token]:
        """Append the always-polled tokens and the still-hot ones from ``prev`` to ``ready``."""
        always = self._always
        if prev:
            hot = None
            always_set = self._always_set
            soon = self._soon
            for token in prev:
                if token in always_set:
                    continue  # appended below anyway
                target = token.target
                # Buffered bytes, pending writes, or a target closed by its own poll (a WebSocket
                # after a close frame) that will never be readable again: the target says so.
                if target.read_hint() or (soon and token in soon):
                    if hot is None:
                        hot = [token]
                    else:
                        hot.append(token)
            if hot is not None:
                present = set(ready)
                for token in hot:
                    if token not in present:
                        present.add(token)
                        ready.append(token)
            if soon:
                soon.clear()
        if always:
            ready.extend(always)
        self._ready = ready
        self._spare = prev
        return ready

    # --- misc ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Release OS resources. Idempotent."""

    def __enter__(self) -> Selector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def into_io_service(self, **options: Any) -> IOService[Any]:
        """An :class:`~boomnet.service.IOService` polling through this selector."""
        from ..io_service import IOService

        return IOService(self, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(registered={self._count})"
