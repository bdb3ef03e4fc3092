"""One request on an HTTP/2 connection, as the connection tracks it (see :mod:`.connection`)."""

from __future__ import annotations

from collections.abc import Callable

from ..body import Body
from ..limits import HttpLimits
from ..response import Response

__all__ = ["H2Request"]


class H2Request:
    """One request on an :class:`H2Connection`. Ends with ``response`` or ``error`` set;
    ``retry`` is ``True`` when the server certainly did not process it."""

    __slots__ = ("method", "path", "headers", "body", "sent", "stream_id", "deadline", "status", "resp_headers",
                 "trailers", "received", "response", "error", "retry", "on_done", "header_bytes", "fast")

    def __init__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, deadline: float | None,
                 on_done: Callable[[H2Request], object] | None, received: Body) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.sent = 0
        self.stream_id = 0
        self.deadline = deadline
        self.status = 0
        self.resp_headers: list[tuple[str, str]] = []
        self.trailers: list[tuple[str, str]] = []
        self.received = received  # the response body, received in place
        self.response: Response | None = None
        self.error: BaseException | None = None
        self.retry = False
        self.on_done = on_done
        self.header_bytes = 0
        self.fast = False  # its DATA frames are read on the fast path

    def take_headers(self, headers: list[tuple[bytes, bytes]], trailers: bool, limits: HttpLimits) -> bool:
        """Add a decoded header block (the response's, or its trailers); ``False`` (nothing
        added) when it takes the header bytes or count past ``limits``."""
        self.header_bytes += sum(len(k) + len(v) + 32 for k, v in headers)  # RFC 9113 §6.5.2 accounting
        out = self.trailers if trailers else self.resp_headers
        if self.header_bytes > limits.max_header_bytes or len(out) + len(headers) > limits.max_header_count:
            return False
        received = self.received
        for k, v in headers:
            name = k.decode("ascii", "replace")
            if name == ":status":
                self.status = int(v)
            elif not name.startswith(":"):
                out.append((name, v.decode("latin-1")))
                if name == "content-length" and not trailers and v.isdigit():
                    # the body never takes more (nor more capacity); a mismatch fails on completion
                    received.most = min(int(v), received.most)
        return True

    @property
    def done(self) -> bool:
        return self.response is not None or self.error is not None

    def __repr__(self) -> str:
        return f"<H2Request {self.method} {self.path} stream={self.stream_id} done={self.done}>"
