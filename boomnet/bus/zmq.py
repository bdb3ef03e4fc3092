"""ZeroMQ PUB and PUSH on the IOService, through pyzmq, with the socket's fd on the selector.

    pub = ZmqPublisher("tcp://127.0.0.1:5556", kind="pub", bind=True, sndhwm=1_000_000)
    io.register(pub)
    pub.publish("md.binance.btcusdt.trade", payload)       # never blocks

Sends are non-blocking (``zmq.NOBLOCK``). What libzmq does at its high-water mark (HWM) differs
by socket type, and the default HWM is only 1,000 messages, so it is set here on purpose:

* **PUB** drops messages *silently* inside libzmq once a subscriber's queue holds ``sndhwm``
  messages (a slow subscriber); nothing tells the publisher. boomnet sets ``sndhwm`` to
  1,000,000 by default, and consumers detect any drop through the envelope's sequence numbers.
* **PUSH** refuses (``EAGAIN``) at the HWM. boomnet keeps the message in its own bounded queue
  and retries when the socket can take more; that queue's ``overflow`` policy is the same as
  the NATS publisher's (``drop_oldest`` counted in ``dropped``, ``drop_new``, or ``raise``).

The fd pyzmq exposes (``zmq.FD``) is edge-style: it signals that *something* changed, and the
real state is read from ``zmq.EVENTS``. The target therefore reports ``read_hint()`` while its
queue is non-empty, so the service keeps polling it until the queue drains.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Literal

from ..errors import LocalError, MissingExtra, SendBufferFull
from ..service.endpoint import Address, Endpoint

__all__ = ["ZmqPublisher", "ZmqTarget"]

log = logging.getLogger("boomnet.bus.zmq")

try:
    import zmq

    HAVE_ZMQ = True
except ImportError:  # pragma: no cover - pyzmq is optional
    HAVE_ZMQ = False


class ZmqTarget:
    """A pyzmq socket as a service target."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.queue: deque[tuple[bytes, bytes]] = deque()
        self._fd: int = socket.getsockopt(zmq.FD)

    def establish(self) -> bool:
        return True  # libzmq connects (and reconnects) in its own threads

    def fileno(self) -> int:
        return self._fd

    def read_hint(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.socket.close(linger=0)


class ZmqPublisher(Endpoint[ZmqTarget, Any]):
    """PUB or PUSH socket endpoint; ``publish(topic, payload)`` sends ``[topic, payload]``."""

    def __init__(self, address: str, *, kind: Literal["pub", "push"] = "pub", bind: bool = False,
                 sndhwm: int = 1_000_000, max_buffered: int = 100_000,
                 overflow: Literal["drop_oldest", "drop_new", "raise"] = "drop_oldest",
                 context: Any = None) -> None:
        if not HAVE_ZMQ:
            raise MissingExtra("ZeroMQ needs pyzmq: pip install pyzmq")
        if kind not in ("pub", "push"):
            raise LocalError(f"kind must be 'pub' or 'push', not {kind!r}")
        if overflow not in ("drop_oldest", "drop_new", "raise"):
            raise LocalError(f"invalid overflow policy {overflow!r}")
        if sndhwm < 1 or max_buffered < 1:
            raise LocalError("sndhwm and max_buffered must be positive")
        super().__init__(None, None)
        self.address = address
        self.kind = kind
        self.bind = bind
        self.sndhwm = sndhwm
        self.max_buffered = max_buffered
        self.overflow = overflow
        self._context = context or zmq.Context.instance()
        self._target: ZmqTarget | None = None
        self._pending: deque[tuple[bytes, bytes]] = deque()  # while not yet registered/connected
        self.sent = 0
        self.dropped = 0

    def create_target(self, addr: Address | None, ctx: Any) -> ZmqTarget:
        sock = self._context.socket(zmq.PUB if self.kind == "pub" else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.sndhwm)
        sock.setsockopt(zmq.LINGER, 0)
        (sock.bind if self.bind else sock.connect)(self.address)
        target = ZmqTarget(sock)
        target.queue.extend(self._pending)
        self._pending.clear()
        self._target = target
        return target

    def publish(self, topic: str | bytes, payload: bytes) -> None:
        """Send now if the socket takes it; otherwise queue (bounded) and retry on poll."""
        raw = topic.encode() if isinstance(topic, str) else topic
        target = self._target
        queue = self._pending if target is None else target.queue
        if target is not None and not queue:
            try:
                target.socket.send_multipart((raw, payload), zmq.NOBLOCK)
                self.sent += 1
                return
            except zmq.Again:
                pass
        if len(queue) >= self.max_buffered:
            if self.overflow == "raise":
                raise SendBufferFull(f"ZeroMQ {self.kind} queue full ({len(queue)} messages)")
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10000 == 0:
                log.error("%r: queue full; %d messages dropped so far (%s)", self, self.dropped, self.overflow)
            if self.overflow == "drop_new":
                return
            queue.popleft()
        queue.append((raw, payload))
        if len(queue) == 1 and target is not None and self.control is not None:
            self.control.poll_soon()  # the fd may not signal again by itself: poll this endpoint

    def poll(self, target: ZmqTarget, ctx: Any) -> None:
        queue = target.queue
        sock = target.socket
        sock.getsockopt(zmq.EVENTS)  # consume the fd's signal: libzmq re-arms it on the next change
        while queue:
            try:
                sock.send_multipart(queue[0], zmq.NOBLOCK)
            except zmq.Again:
                return
            queue.popleft()
            self.sent += 1

    @property
    def buffered(self) -> int:
        return len(self._pending if self._target is None else self._target.queue)

    def describe(self) -> str:
        return f"zmq-{self.kind}:{self.address}"
