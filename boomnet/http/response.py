"""A complete HTTP response as the client hands it to the caller."""

from __future__ import annotations

from typing import Any

from .headers import Headers

__all__ = ["Response"]


class Response:
    """Status, headers and the whole (de-chunked) body of one response.

    ``body`` is ``bytes`` up to 64 KiB (:data:`~boomnet.http.parser.SMALL_BODY`); a larger body
    is the ``bytearray`` it was received into, handed out without a copy (treat it as read-only;
    ``bytes(response.body)`` if you need an immutable copy).

    ``keep_alive`` says whether the *server* allows the connection to carry another request
    (HTTP/1.1 default, ``Connection: close``, HTTP/1.0 ``keep-alive``, body not ended by EOF).
    """

    __slots__ = ("status", "reason", "http_version", "headers", "body", "method", "keep_alive", "url")

    def __init__(
        self,
        status: int,
        reason: str,
        http_version: str,
        headers: Headers,
        body: bytes | bytearray,
        method: str,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.body = body
        self.method = method
        self.keep_alive = keep_alive
        #: the request URL, filled in by the client (``None`` for bare connections)
        self.url: str | None = None

    @property
    def ok(self) -> bool:
        """``True`` for 2xx and 3xx statuses."""
        return 200 <= self.status < 400

    def text(self, encoding: str | None = None) -> str:
        """The body decoded with ``encoding``, else the Content-Type charset, else UTF-8."""
        if encoding is None:
            encoding = _charset(self.headers.get("content-type")) or "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:  # a charset Python does not know: fall back rather than fail
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (orjson)."""
        import orjson

        return orjson.loads(self.body)  # orjson reads bytes and bytearray alike

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason!r} {len(self.body)} bytes>"


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return None
