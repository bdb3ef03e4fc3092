"""``EndpointControl``: the one way endpoint code acts on the service that owns it.

The service sets ``endpoint.control`` at ``register()`` and clears it at ``deregister()``.
References point one way: the control holds the service's public operations for *this*
registration, never its private state, so endpoint code can end its own connection, add a timer,
read the service's clock or register a sibling endpoint (an accepted connection) without being
handed the service and its handle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .registry import Handle
from .target import Target

if TYPE_CHECKING:  # pragma: no cover
    from .endpoint import Endpoint, Timer

__all__ = ["EndpointControl"]

T = TypeVar("T", bound=Target)


class EndpointControl:
    """The service, as seen by one registered endpoint. Built by the service; not by users."""

    __slots__ = (
        "_add_timer",
        "_call_soon",
        "_deregister",
        "_disconnect",
        "_is_connected",
        "_now",
        "_poll_soon",
        "_register",
        "handle",
    )

    def __init__(
        self,
        handle: Handle[Any],
        *,
        disconnect: Callable[[Handle[Any], str], None],
        is_connected: Callable[[Handle[Any]], bool],
        now: Callable[[], float],
        register: Callable[[Endpoint[Any, Any]], Handle[Any]],
        deregister: Callable[[Handle[Any]], object],
        add_timer: Callable[[Handle[Any], Timer[Any, Any]], None],
        poll_soon: Callable[[Handle[Any]], None],
        call_soon_threadsafe: Callable[..., None],
    ) -> None:
        #: this registration's handle
        self.handle = handle
        self._disconnect = disconnect
        self._is_connected = is_connected
        self._now = now
        self._register = register
        self._deregister = deregister
        self._add_timer = add_timer
        self._poll_soon = poll_soon
        self._call_soon = call_soon_threadsafe

    def disconnect(self, reason: str = "requested") -> None:
        """End the current connection or attempt (``REQUESTED`` with ``reason``); reconnects at
        once if ``on_disconnect`` agrees. Safe from ``poll``, a timer or ``on_connected``."""
        self._disconnect(self.handle, reason)

    def is_connected(self) -> bool:
        return self._is_connected(self.handle)

    def now(self) -> float:
        """The service's clock (monotonic seconds, or the clock the service was given)."""
        return self._now()

    def register(self, endpoint: Endpoint[T, Any]) -> Handle[T]:
        """Register another endpoint with the same service (e.g. an accepted connection)."""
        handle: Handle[T] = self._register(endpoint)
        return handle

    def deregister(self) -> None:
        """Remove this endpoint from the service now (its target is closed, no
        ``on_disconnect``); the control is dead afterwards."""
        self._deregister(self.handle)

    def poll_soon(self) -> None:
        """Have the service call this endpoint's ``poll`` on the next ``poll()`` even if its
        descriptor is not ready (e.g. to flush output queued from another endpoint's handler,
        once per poll). Idempotent until then; ignored while not connected."""
        self._poll_soon(self.handle)

    def call_soon_threadsafe(self, fn: Callable[..., object], *args: Any) -> None:
        """From ANY thread: run ``fn(*args)`` on the service's loop thread at its next poll (a
        sleeping ``wait()`` returns at once). The one method of the control that is thread-safe."""
        self._call_soon(fn, *args)

    def add_timer(self, timer: Timer[Any, Any]) -> None:
        """Start ``timer`` now if connected (what :meth:`Endpoint.every` calls)."""
        self._add_timer(self.handle, timer)

    def __repr__(self) -> str:
        return f"<EndpointControl {self.handle!r}>"
