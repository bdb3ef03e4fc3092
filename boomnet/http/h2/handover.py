"""What becomes of an :class:`~boomnet.http.HttpEndpoint`'s HTTP/2 requests when their streams
end, and the connection that finishes its streams on the side after a graceful GOAWAY.

:func:`settle` decides each finished stream (:class:`~boomnet.http.h2.driver.H2Driver` hands them
over): a response goes to the endpoint's ``on_response``; a request the server certainly did not
process (above the GOAWAY's last stream id, ``REFUSED_STREAM``, never written) comes back to be
sent again; a failure of that stream alone (reset, a limit, its deadline) goes to ``on_error``;
a request in flight on a connection that died may have been processed: an idempotent one is
re-sent once, the others fail.

:class:`Draining`: a graceful GOAWAY means *no new streams here*, while the streams up to its
last stream id are still answered -- maybe slowly. Waiting for them before connecting again
would hold every new request for the slowest of them. So once a connection that has answered
something is draining, the endpoint detaches it from its target
(:meth:`~boomnet.http.target.HttpTarget.detach`), registers a ``Draining`` endpoint with the
same service to own it (its descriptor is still waited on; a replay's is not, so a replay never
hands over: it has no second connection) and asks the service for a fresh connection at once
(``REQUESTED``: no back-off). Requests queued meanwhile go out on the new connection as soon as
it is up.

The contract of a ``Draining`` endpoint:

* it never reconnects: it is dropped when its last stream ends, when its connection dies (the
  endpoint's rules for a dead connection apply to its requests) or when the endpoint it works
  for is no longer registered (its requests then fail with ``ConnectionClosed``);
* every outcome goes to the endpoint it works for, as if that endpoint's own connection had
  produced it (``on_response`` / ``on_error`` / its queue, re-sent on the new connection);
* the requests' deadlines keep being enforced by its own timer (the endpoint's
  ``check_interval``), also when nothing arrives;
* references point one way: it knows its endpoint; the service knows neither as HTTP.

The endpoint counts the draining connections' streams in ``in_flight``; ``http_version`` and
``connections`` describe its own (current) connection only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...errors import ConnectionClosed
from ...service.control import EndpointControl
from ...service.endpoint import Address, C, Disconnect, Endpoint
from ..request import IDEMPOTENT_METHODS
from ..target import HttpTarget
from .driver import H2Driver, Outcome

if TYPE_CHECKING:
    from ..endpoint import HttpEndpoint
    from ..pending import HttpRequest

__all__ = ["Draining", "settle"]

log = logging.getLogger("boomnet.http.h2")


def settle(endpoint: HttpEndpoint[C], driver: H2Driver, outcomes: Iterable[Outcome], lost: BaseException | None,
           ctx: C) -> list[HttpRequest]:
    """Deliver or fail each of ``outcomes`` (finished streams of ``driver``'s connection) through
    ``endpoint``; return, in order, the requests to send again. ``lost``: why the connection
    ended, when it did."""
    dead = driver.conn.closed_error
    again: list[HttpRequest] = []
    for req, h2req in outcomes:
        if h2req.response is not None:
            req.response = h2req.response
            endpoint.on_response(req, h2req.response, ctx)
        elif driver.again(h2req):
            again.append(req)  # the server never processed it: next connection
        elif h2req.error is not None and h2req.error is not dead:
            endpoint._fail(req, h2req.error, ctx)  # this stream alone: reset, a limit, its deadline
        elif req.method in IDEMPOTENT_METHODS and not req.blamed and req.deadline > time.monotonic():
            # in flight when the connection died: it may have been processed, which an
            # idempotent request may be twice -- once (it may be what killed the connection)
            req.blamed += 1
            again.append(req)
        else:
            endpoint._fail(req, dead or lost or ConnectionClosed("HTTP/2 connection lost"), ctx)
    return again


class Draining(Endpoint[HttpTarget, C]):
    """``target``'s HTTP/2 connection (draining after a GOAWAY, detached from ``parent``'s
    target) finishing ``driver``'s streams for ``parent``. Built and registered by the
    endpoint; see the module doc."""

    def __init__(self, parent: HttpEndpoint[C], target: HttpTarget, driver: H2Driver) -> None:
        super().__init__()
        self.parent = parent
        self.driver = driver
        self.url = f"{parent.url} (draining)"  # what describe() shows in the service's logs
        self._target: HttpTarget | None = target
        self._control: EndpointControl | None = None
        self.every(parent.options.check_interval, self._tick)

    # The service sets ``control`` at register() and clears it at deregister() (its contract):
    # a registration dropped before the service asked for the target (the service closed right
    # after the hand-over) must still close the connection it was given.
    @property
    def control(self) -> EndpointControl | None:
        return self._control

    @control.setter
    def control(self, value: EndpointControl | None) -> None:
        self._control = value
        if value is None:
            self._leave()
            if self._target is not None:
                self._target.close()
                self._target = None

    @property
    def in_flight(self) -> int:
        return self.driver.in_flight

    # --- the endpoint protocol --------------------------------------------------------------------

    def create_target(self, addr: Address | None, ctx: C) -> HttpTarget:
        target, self._target = self._target, None
        if target is None:  # never: on_disconnect refuses to reconnect
            raise ConnectionClosed(f"{self!r}: a draining connection is not made again")
        return target  # established already: the service connects it on its next pass

    def poll(self, target: HttpTarget, ctx: C) -> None:
        self._advance(ctx)

    def on_disconnect(self, reason: Disconnect, ctx: C) -> bool:
        """Drained, dead or abandoned: settle what is left, and never reconnect."""
        parent = self.parent
        outcomes = self.driver.end()
        if parent.control is None:  # the endpoint was deregistered: nobody to re-send for
            gone = ConnectionClosed(f"{parent!r} was deregistered while its old connection drained")
            for req, h2req in outcomes:
                if h2req.response is not None:
                    req.response = h2req.response
                    parent.on_response(req, h2req.response, ctx)
                else:
                    parent._fail(req, gone, ctx)
        elif outcomes:
            lost = reason.error or ConnectionClosed(f"draining connection lost ({reason.kind.value})")
            again = settle(parent, self.driver, outcomes, lost, ctx)
            if again:
                parent._requeue(again)
        self._leave()
        return False

    # --- internals ------------------------------------------------------------------------------

    def _leave(self) -> None:
        """No longer counted by the endpoint (it added us in :func:`hand_over`)."""
        if self in self.parent._draining:
            self.parent._draining.remove(self)

    def _tick(self, target: HttpTarget, ctx: C) -> None:
        self._advance(ctx)  # late streams are reset even when nothing arrives

    def _advance(self, ctx: C) -> None:
        parent, driver = self.parent, self.driver
        if parent.control is None:
            self.disconnect("its endpoint was deregistered")
            return
        outcomes = driver.poll()
        if outcomes:
            again = settle(parent, driver, outcomes, None, ctx)
            if again:
                parent._requeue(again)
        dead = driver.conn.closed_error
        if dead is not None and any(h2req.error is dead for _, h2req in outcomes):
            raise dead  # it died with streams in flight (settled above): the service logs it, drops us
        if dead is not None or not driver.in_flight:  # (servers close once drained: nothing lost)
            log.debug("%r: drained", self)
            self.disconnect("drained")


def hand_over(parent: HttpEndpoint[Any], target: HttpTarget, driver: H2Driver) -> bool:
    """Move ``target``'s draining connection to a new :class:`Draining` registered beside
    ``parent`` (and counted by it); ``False`` (nothing moved) when ``parent`` is not registered.
    The caller decides when: a connection that answered nothing, or a replay's, drains in place."""
    control = parent.control
    if control is None:
        return False
    draining: Draining[Any] = Draining(parent, target.detach(), driver)
    parent._draining.append(draining)
    control.register(draining)
    return True
