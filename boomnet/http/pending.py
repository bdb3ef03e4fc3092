"""``HttpRequest``: a request submitted to an :class:`~boomnet.http.HttpEndpoint`, whatever
protocol carries it -- the encoded HTTP/1.1 head, the same fields as pairs for HTTP/2, its
deadline and callbacks, how often it went out, and in the end its response or error."""

from __future__ import annotations

from typing import Any, Callable

from .request import IDEMPOTENT_METHODS
from .response import Response

__all__ = ["HttpRequest"]


class HttpRequest:
    """A request submitted to an :class:`HttpEndpoint`; ends with ``response`` or ``error`` set."""

    __slots__ = (
        "method", "target", "head", "body", "on_response", "on_error", "deadline", "sends", "response", "error",
        "pipelinable", "blamed", "headers",
    )

    def __init__(
        self,
        method: str,
        target: str,
        head: bytes,
        body: bytes,
        on_response: Callable[[Response], Any] | None,
        on_error: Callable[[BaseException], Any] | None,
        deadline: float,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.head = head
        self.body = body
        self.on_response = on_response
        self.on_error = on_error
        self.deadline = deadline
        #: how many times it went out (re-sends after a connection ended count too)
        self.sends = 0
        self.response: Response | None = None
        self.error: BaseException | None = None
        #: connections that died silently with this request first in line (it may be the cause)
        self.blamed = 0
        #: may share the wire with other requests: idempotent and not waiting for 100 Continue
        self.pipelinable = method in IDEMPOTENT_METHODS and b"\r\nexpect:" not in head.lower()
        #: the header fields as pairs (what an HTTP/2 connection sends)
        self.headers = headers or []

    @property
    def done(self) -> bool:
        return self.response is not None or self.error is not None

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<HttpRequest {self.method} {self.target} {state}>"
