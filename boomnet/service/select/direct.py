"""The no-op selector: every poll visits every registered target."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Selector, Token

__all__ = ["DirectSelector"]


class DirectSelector(Selector):
    """No readiness check at all: ``select()`` returns every registered token, every time.

    With a handful of connections a non-blocking ``recv`` that finds nothing is cheaper than
    asking the kernel which descriptors are ready first, so this gives the lowest latency; its
    cost grows with the number of connections, so prefer :class:`EpollSelector` for many.

    ``wait()`` (the idle path, not the hot one) does look at readiness: it returns at once when a
    target has a non-zero ``read_hint()`` or no descriptor (a replay), and otherwise sleeps in
    ``poll(2)`` on every registered descriptor — cost proportional to the registrations, paid
    only when there was nothing to do.
    """

    reports_readiness = False

    def __init__(self) -> None:
        super().__init__()
        self._all: list[Token] = []

    def register(self, token: Token) -> None:
        self._all = [*self._all, token]  # never grow a list a caller may be iterating
        self._count += 1

    def unregister(self, token: Token) -> None:
        if token in self._all:
            # a new list: the caller may be iterating the one select() returned
            self._all = [t for t in self._all if t is not token]
            self._count -= 1

    def poll_soon(self, token: Token) -> None:
        pass  # every select() returns every token anyway

    def select(self) -> list[Token]:
        # the registration list itself: nothing to build, nothing to copy
        return self._all

    def wait(self, timeout: float, also: Sequence[int] = ()) -> None:
        if timeout <= 0:
            return
        fds = list(also)
        for token in self._all:
            target = token.target
            fd = target.fileno()
            if fd < 0 or target.read_hint():
                return  # work without readiness: the next select() must come at once
            fds.append(fd)
        self._poll_fds(fds, timeout)

    def close(self) -> None:
        self._all = []
        self._count = 0
