"""``Clt``: a message client with blocking-style calls that never park the thread in the kernel.

``Clt.connect(host, port, codec=...)`` connects (TCP, optionally TLS) and waits for the
handshake; ``Clt(stream, codec)`` wraps any established (or establishing) boomnet stream —
a Unix socket, a recorded or replayed stream, a stream a :class:`~boomnet.msg.Svc` accepted.

Waiting, as links does it: every call with a ``timeout`` **spins** — a non-blocking attempt,
again and again until done or the deadline passes (:class:`~boomnet.errors.DeadlineExceeded`).
Waiting for a *message* (``recv``) calls nothing between attempts when ``spin_sleep=0.0`` (the
default): the thread is never parked and never asks the kernel for a timer, so the latency to
notice a message is one spin round (each attempt's ``recv`` releases the GIL, so other threads
still run). This matters: ``time.sleep(0)`` is a ``clock_nanosleep``, a trip through the
scheduler, measured ~100 us at load 8 on this project's 2-core machine, and a recv that called it
after every empty read answered a 13 us round trip in 70+ us. Waiting for the *peer* (``flush``
of a full socket buffer, ``wait_established``, ``Svc.accept``) does call
``time.sleep(spin_sleep)`` between attempts: there ``sleep(0)`` is a yield of the CPU to the
process being waited for (on shared cores, often the reader itself), and the wait is long
anyway. A positive ``spin_sleep`` sleeps that long between attempts everywhere, trading latency
for CPU.

``park_after`` (off by default) is the one exception, for machines where cores are shared: after
spinning that many seconds without news, ``recv`` waits in ``poll(2)`` on the descriptor for the
rest of its timeout, so the kernel wakes the thread when bytes arrive instead of the spinner
fighting other processes for the CPU (measured in ``perf/msg_bench.py``: a better tail, a
slower median).

Messages may be memoryviews into the receive buffer, valid until the next call that reads
(``recv`` / ``try_recv`` serve a batch already read before reading again).
"""

from __future__ import annotations

import select
import time
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

from ..errors import ConnectTimeout, DeadlineExceeded, LocalError
from ..stream.base import Stream
from ..stream.options import TcpOptions, TlsOptions
from .codec import Codec
from .connection import Connection
from .observe import Observer
from .options import MsgOptions

__all__ = ["Clt", "open_stream"]

M = TypeVar("M")


def open_stream(host: str, port: int, tcp: TcpOptions | None = None, tls: TlsOptions | bool | None = None) -> Stream:
    """TCP to ``host:port`` (connect started, not finished), wrapped in TLS when ``tls`` is set
    (``True``: default options, verifying ``host``)."""
    from ..stream import TcpStream

    stream: Stream = TcpStream.connect(host, port, tcp or TcpOptions())
    if tls:
        opts = TlsOptions() if tls is True else tls
        stream = stream.into_tls(opts.server_hostname or host, opts)
    return stream


class Clt(Generic[M]):
    """A message client over ``stream`` with ``codec`` (see the module docstring)."""

    def __init__(
        self,
        stream: Stream | Connection[M],
        codec: Codec[M] | None = None,
        *,
        name: str | None = None,
        observers: Sequence[Observer[M]] = (),
        options: MsgOptions | None = None,
        spin_sleep: float = 0.0,
        park_after: float | None = None,
    ) -> None:
        if isinstance(stream, Connection):
            self.conn: Connection[M] = stream
        else:
            if codec is None:
                raise LocalError("a codec is required (e.g. LengthPrefixed(), DatagramCodec(), Lines())")
            self.conn = Connection(stream, codec, name=name, observers=observers, options=options)
        if spin_sleep < 0:
            raise LocalError(f"spin_sleep must be >= 0, not {spin_sleep!r}")
        self.spin_sleep = spin_sleep
        if park_after is not None and park_after < 0:
            raise LocalError(f"park_after must be >= 0 or None, not {park_after!r}")
        self.park_after = park_after
        self._poller: select.poll | None = None
        self._ready: deque[M] = deque()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        codec: Codec[M],
        tls: TlsOptions | bool | None = None,
        tcp: TcpOptions | None = None,
        timeout: float = 10.0,
        name: str | None = None,
        observers: Sequence[Observer[M]] = (),
        options: MsgOptions | None = None,
        spin_sleep: float = 0.0,
        park_after: float | None = None,
    ) -> Clt[M]:
        """Connect (and handshake TLS) within ``timeout`` seconds, spinning; ConnectTimeout if not."""
        clt = cls(open_stream(host, port, tcp, tls), codec, name=name, observers=observers, options=options,
                  spin_sleep=spin_sleep, park_after=park_after)
        clt.wait_established(timeout)
        return clt

    @classmethod
    def connect_unix(cls, path: str, *, codec: Codec[M], timeout: float = 10.0, **kw: object) -> Clt[M]:
        """Connect to a Unix socket ``path`` (``"@name"``: abstract) within ``timeout``."""
        from ..stream import UnixStream

        clt = cls(UnixStream.connect(path, timeout=timeout), codec, **kw)  # type: ignore[arg-type]
        clt.wait_established(timeout)
        return clt

    def wait_established(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        establish = self.conn.establish
        while not establish():
            if time.monotonic() > end:
                self.conn.close()
                raise ConnectTimeout(f"{self.conn.name}: not established within {timeout}s")
            time.sleep(self.spin_sleep)  # 0: a yield to the peer (see the module docstring)

    # --- sending --------------------------------------------------------------------------------

    def send(self, msg: M) -> None:
        """Queue ``msg`` and write what the socket takes now; the rest stays queued, in order, and
        goes out on later calls. Never drops: beyond ``send_budget`` raises SendBufferFull."""
        conn = self.conn
        conn.push(msg)
        conn.flush()

    def push(self, msg: M) -> None:
        """Queue ``msg`` without writing (batch many, then :meth:`flush`)."""
        self.conn.push(msg)

    def flush(self, timeout: float | None = 0.0) -> bool:
        """Write what is queued. ``timeout=0``: one attempt, ``True`` if all went out; a number:
        spin until all went out or raise DeadlineExceeded; ``None``: spin until done."""
        flush = self.conn.flush
        done = flush()
        if done or timeout == 0:
            return done
        end = None if timeout is None else time.monotonic() + timeout
        while not flush():
            if end is not None and time.monotonic() > end:
                raise DeadlineExceeded(f"{self.conn.name}: {self.conn.pending} bytes still unsent after {timeout}s")
            time.sleep(self.spin_sleep)  # 0: a yield to the reader we wait for (module docstring)
        return True

    # --- receiving ------------------------------------------------------------------------------

    def try_recv(self) -> M | None:
        """The next message if one is here or arrives with one read now, else ``None``."""
        ready = self._ready
        if not ready:
            batch = self.conn.read_batch()
            if not batch:
                return None
            ready.extend(batch)
        return ready.popleft()

    def recv(self, timeout: float | None = None) -> M:
        """The next message, spinning up to ``timeout`` seconds (``None``: no limit)."""
        ready = self._ready
        if ready:
            return ready.popleft()
        read = self.conn.read_batch
        clock = time.monotonic
        start = clock()
        end = None if timeout is None else start + timeout
        park_at = None if self.park_after is None else start + self.park_after
        sleep = time.sleep
        pause = self.spin_sleep
        while True:
            batch = read()
            if batch:
                ready.extend(batch)
                return ready.popleft()
            now = clock()
            if end is not None and now > end:
                raise DeadlineExceeded(f"{self.conn.name}: no message within {timeout}s")
            if park_at is not None and now >= park_at:
                self._park(None if end is None else end - now)
            elif pause:  # never sleep(0): that is a timer wakeup too (see the module docstring)
                sleep(pause)

    def _park(self, timeout: float | None) -> None:
        conn = self.conn
        fd = conn.fileno()
        if fd < 0 or conn.read_hint():
            return  # no descriptor (a replay), or bytes already inside the stream: do not sleep
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(fd, select.POLLIN)
        poller.poll(None if timeout is None else max(1, int(timeout * 1000)))

    def recv_batch(self) -> list[M]:
        """Every whole message already read plus those one read brings now (possibly none)."""
        ready = self._ready
        if ready:
            out = list(ready)
            ready.clear()
            return out
        return self.conn.read_batch()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.conn.name

    @property
    def target(self) -> "Clt[M]":
        """Itself: a Clt is its own selector token (see :class:`~boomnet.msg.Svc`)."""
        return self

    def read_hint(self) -> int:
        return len(self._ready) or self.conn.read_hint()

    @property
    def closed(self) -> bool:
        return self.conn.closed

    def fileno(self) -> int:
        return self.conn.fileno()

    def close(self, flush_timeout: float = 0.0) -> None:
        """Close; with ``flush_timeout`` > 0 first spin that long to send what is queued."""
        if flush_timeout > 0 and not self.conn.closed:
            try:
                self.flush(flush_timeout)
            except Exception:  # closing must not fail because the peer is gone or slow
                pass
        self.conn.close()

    def __enter__(self) -> Clt[M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Clt {self.conn.name}>"
