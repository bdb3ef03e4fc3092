"""Readiness selector over the OS poller: epoll on Linux, ``selectors.DefaultSelector`` elsewhere."""

from __future__ import annotations

import select as _select
import selectors
from collections.abc import Sequence
from typing import Any

from .base import Selector, Token

__all__ = ["EpollSelector"]


class EpollSelector(Selector):
    """Zero-timeout, level-triggered readiness through the kernel poller.

    On Linux this talks to ``select.epoll`` directly (the primitive behind
    ``selectors.EpollSelector``) because ``selectors``' key objects cost an allocation per ready
    descriptor; elsewhere it uses ``selectors.DefaultSelector``. Cost per ``select()`` is one
    system call plus work proportional to the *ready* targets — idle registrations cost nothing.
    """

    def __init__(self, *, max_events: int = 1024) -> None:
        super().__init__()
        self._tokens: dict[int, Token] = {}  # fd -> token
        self._fds: dict[Token, int] = {}  # token -> fd it was registered with
        self._max_events = max_events
        if hasattr(_select, "epoll"):
            self._epoll: Any = _select.epoll()
            self._epoll_poll = self._epoll.poll  # bound once: select() is the hot path
            self._mask = _select.EPOLLIN
            #: what the blocking wait found, for the select() right after it
            self._woken: list[tuple[int, int]] = []
            self._sel: selectors.BaseSelector | None = None
        else:  # pragma: no cover - non-Linux
            self._epoll = None
            self._sel = selectors.DefaultSelector()

    def _register_fd(self, token: Token, fd: int) -> None:
        if self._epoll is not None:
            try:
                self._epoll.register(fd, self._mask)
            except FileExistsError:
                # the previous owner of this descriptor number closed without unregistering
                self._epoll.modify(fd, self._mask)
        elif self._sel is not None:  # pragma: no cover - non-Linux
            try:
                self._sel.register(fd, selectors.EVENT_READ)
            except KeyError:
                self._sel.modify(fd, selectors.EVENT_READ)
        self._tokens[fd] = token
        self._fds[token] = fd

    def _unregister_fd(self, token: Token) -> bool:
        fd = self._fds.pop(token, None)
        if fd is None:
            return False
        # a later registration may own the same descriptor number now; leave it alone then
        if self._tokens.get(fd) is token:
            del self._tokens[fd]
            try:
                if self._epoll is not None:
                    self._epoll.unregister(fd)
                elif self._sel is not None:  # pragma: no cover - non-Linux
                    self._sel.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass  # descriptor already closed: the kernel dropped it from the set
        return True

    def _block(self, timeout: float, also: Sequence[int]) -> None:
        # Level-triggered: epoll_wait reports without consuming, so select() sees it again.
        if self._epoll is not None:
            if also:  # the epoll descriptor is itself readable while events are ready
                self._poll_fds([self._epoll.fileno(), *also], timeout)
            else:
                # the events found are kept for the next select(): one epoll_wait per wake, not
                # two (level-triggered: anything that became ready since is reported by the one
                # after; a stale event only costs a poll that reads nothing)
                self._woken = self._epoll_poll(timeout, self._max_events)
        elif self._sel is not None:  # pragma: no cover - non-Linux
            self._sel.select(timeout)

    def select(self) -> list[Token]:
        if self._epoll is None:  # pragma: no cover - non-Linux
            return self._select_portable()
        events = self._woken
        if events:
            self._woken = []
        else:
            events = self._epoll_poll(0, self._max_events)
        prev = self._ready
        if not events and not prev and not self._always:
            return prev  # idle: the previous (empty) result is the answer
        ready = self._spare
        ready.clear()
        if events:
            tokens = self._tokens
            append = ready.append
            for fd, _ in events:
                token = tokens.get(fd)
                if token is not None:
                    append(token)
        if prev or self._always:
            return self._finish(prev, ready)
        self._ready = ready
        self._spare = prev
        return ready

    def _select_portable(self) -> list[Token]:  # pragma: no cover - non-Linux
        prev = self._ready
        ready = self._spare
        ready.clear()
        tokens = self._tokens
        sel = self._sel
        assert sel is not None
        for key, _ in sel.select(0):
            token = tokens.get(key.fd)
            if token is not None:
                ready.append(token)
        return self._finish(prev, ready)

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        elif self._sel is not None:  # pragma: no cover - non-Linux
            self._sel.close()
        self._tokens.clear()
        self._fds.clear()
