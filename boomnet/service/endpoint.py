"""Endpoints: where application logic lives. The IOService owns their connections' lifecycle.

An endpoint is a *connection factory* plus callbacks, generic over its target ``T`` (what
:meth:`Endpoint.create_target` builds: a stream, or a protocol client over one) and the user's
context ``C`` (what ``IOService.poll(ctx)`` passes on). The service runs :meth:`Endpoint.prepare`
and resolves the endpoint's host off the loop thread, asks :meth:`Endpoint.create_target` for a
target, drives ``target.establish()`` across polls, then calls :meth:`Endpoint.on_connected` once
and :meth:`Endpoint.poll` whenever the target may have something to read. When anything fails,
:meth:`Endpoint.on_disconnect` is told why and decides whether to reconnect.

Endpoint code reaches the service only through :attr:`Endpoint.control` (an
:class:`~boomnet.service.control.EndpointControl`, set while registered): ``disconnect()``,
``every()`` and friends go through it, never into the service's state.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..url import host_port
from .resolver import Address
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .control import EndpointControl
    from .options import Backoff

__all__ = ["Endpoint", "Disconnect", "DisconnectKind", "Timer", "Address", "T", "C"]

log = logging.getLogger("boomnet.service")

T = TypeVar("T", bound=Target)
C = TypeVar("C")


class DisconnectKind(enum.Enum):
    """Why a connection ended (or never started)."""

    #: DNS, ``prepare()``, TCP connect, TLS or the protocol handshake failed or timed out
    CONNECT_FAILED = "connect_failed"
    #: the peer ended the connection (EOF, reset, WebSocket close)
    CLOSED = "closed"
    #: a network or protocol error on an open connection
    ERROR = "error"
    #: endpoint code raised something that is not a boomnet error — normally a bug; logged with traceback
    USER_ERROR = "user_error"
    #: ``auto_disconnect`` recycled the connection on purpose (reconnects without back-off)
    EXPIRED = "expired"
    #: :meth:`Endpoint.disconnect` / :meth:`IOService.disconnect` asked for it (reconnects at once)
    REQUESTED = "requested"


@dataclass(frozen=True)
class Disconnect:
    """What :meth:`Endpoint.on_disconnect` receives: the kind, the exception if any, and the
    reason given to :meth:`Endpoint.disconnect` for a requested one."""

    kind: DisconnectKind
    error: BaseException | None = None
    reason: str | None = None

    def __str__(self) -> str:
        text = self.kind.value if self.reason is None else f"{self.kind.value} ({self.reason})"
        return text if self.error is None else f"{text}: {self.error!r}"


class Timer(Generic[T, C]):
    """A periodic callback registered with :meth:`Endpoint.every`. ``cancel()`` stops it."""

    __slots__ = ("cancelled", "fn", "interval")

    def __init__(self, interval: float, fn: Callable[[T, C], object]) -> None:
        if not interval > 0:
            raise ValueError(f"timer interval must be positive, not {interval!r}")
        self.interval = float(interval)
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        return f"<Timer every {self.interval}s {getattr(self.fn, '__name__', self.fn)}>"


class Endpoint(Generic[T, C]):
    """Base class of user endpoints. Override :meth:`poll`; the rest has sensible defaults.

    ``host``/``port``: where to connect (``host=None`` skips DNS and passes ``addr=None`` to
    :meth:`create_target`, e.g. for an accepted connection). ``auto_disconnect``: recycle each
    connection after this many seconds (a number, or a zero-argument callable evaluated per
    connection, e.g. to add jitter); ``None`` keeps connections until they fail. ``backoff``: this
    endpoint's reconnect delays, overriding the service's (:class:`~boomnet.service.Backoff`).

    Subclasses need not call ``super().__init__()``: every attribute has a class-level default.
    """

    host: str | None = None
    port: int | None = None
    auto_disconnect: float | Callable[[], float] | None = None
    backoff: Backoff | None = None
    #: the service's controller for this endpoint while registered, else ``None``
    control: EndpointControl | None = None
    _timers: tuple[Timer[T, C], ...] | list[Timer[T, C]] = ()
    _replay: tuple[str, str] | None = None

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        auto_disconnect: float | Callable[[], float] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.auto_disconnect = auto_disconnect
        self.backoff = backoff

    # --- connection factory ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Cold work for the next connect attempt, run OFF the loop thread (beside DNS) before
        :meth:`create_target`: build a TLS context, load keys, read a file. The default does
        nothing. Raising fails the attempt (``CONNECT_FAILED``; back-off applies). It must not
        touch state the loop thread uses without a lock; it is bounded by the service's
        ``connect_timeout``."""

    def create_target(self, addr: Address | None, ctx: C) -> T | None:
        """Build the connection for ``addr`` (resolved from host/port); ``None`` means *not now*.

        The default is a plain :class:`~boomnet.stream.TcpStream` (so ``T`` must be a stream for
        the default to fit). Whatever is returned satisfies :class:`~boomnet.service.Target`
        (every boomnet stream and protocol client does). Returning ``None`` makes the service
        retry after its throttle.
        """
        from ..stream import TcpStream

        if addr is None:
            raise ValueError(f"{self!r} has no host: override create_target")
        return cast(T, TcpStream.connect_addr(addr[0], addr[1]))

    def create_replay_target(self, stream: Any, ctx: C) -> T:
        """The target to run over a replayed ``stream`` (see :meth:`replay`); default: the stream."""
        return cast(T, stream)

    def replay(self, name: str, directory: str = "recordings") -> Endpoint[T, C]:
        """Run this endpoint over the recording ``name`` instead of the network (returns ``self``).

        No DNS, no socket (the target's ``fileno()`` is -1, so every poll visits it). When the
        recording ends the endpoint is told (``CLOSED``) and is *not* reconnected: a replay runs
        once, and the service drops it.
        """
        self._replay = (name, directory)
        return self

    # --- callbacks ------------------------------------------------------------------------------

    def on_connected(self, target: T, ctx: C) -> None:
        """The target is established (e.g. the WebSocket is open): subscribe here."""

    def poll(self, target: T, ctx: C) -> None:
        """The target may have data: read it (e.g. ``for frame in ws.read_batch(): ...``)."""

    def on_disconnect(self, reason: Disconnect, ctx: C) -> bool:
        """The connection ended (or could not be made); return ``True`` to reconnect (default)."""
        return True

    # --- acting on the service ------------------------------------------------------------------

    def disconnect(self, reason: str = "requested") -> None:
        """End the current connection (or attempt) from endpoint code — a watchdog, a timer, a
        ``poll``. It is torn down in the service's housekeeping right after; ``on_disconnect``
        gets ``REQUESTED`` with ``reason`` and the endpoint reconnects at once if it returns
        ``True``. Unregistered: does nothing (logged)."""
        control = self.control
        if control is None:
            log.info("%r: disconnect(%r) ignored: not registered", self, reason)
            return
        control.disconnect(reason)

    def every(self, interval: float, fn: Callable[[T, C], object]) -> Timer[T, C]:
        """Call ``fn(target, ctx)`` every ``interval`` seconds while connected.

        Register timers once (typically in ``__init__``): they survive reconnects, start
        ``interval`` after each connect and are skipped while disconnected. Raising from ``fn``
        disconnects the endpoint with that error. Precision is the service's housekeeping cadence
        (see ``IOService(check_every=...)``).
        """
        timer = Timer(interval, fn)
        if not isinstance(self._timers, list):
            self._timers = []
        self._timers.append(timer)
        control = self.control
        if control is not None:
            control.add_timer(timer)
        return timer

    # --- identity -------------------------------------------------------------------------------

    def describe(self) -> str:
        """Where this endpoint connects to, for logs."""
        if self._replay is not None:
            return f"replay:{self._replay[0]}"
        url = getattr(self, "url", None)  # protocol endpoints carry one; the service knows none
        if url:
            return str(url)
        if self.host is None:
            return "-"
        return host_port(self.host, self.port)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


# StreamEndpoint lives in its own module; re-exported here, where protocol endpoints import it.
from .stream_endpoint import StreamEndpoint  # noqa: E402

__all__ += ["StreamEndpoint"]
