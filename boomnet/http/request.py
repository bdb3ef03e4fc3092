"""Encode a request head (and body) into bytes, refusing anything that could inject lines."""

from __future__ import annotations

import re
from typing import Union

from ..errors import InvalidHttpRequest
from .head import FIELD_VALUE_RE, TOKEN_RE
from .headers import HeadersArg, header_pairs

__all__ = ["encode_request", "HeadersArg", "BodyArg", "IDEMPOTENT_METHODS"]

BodyArg = Union[bytes, bytearray, memoryview, str, None]

#: methods a client may resend after a connection failure (RFC 9110 section 9.2.2)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

# origin-form / absolute-form / asterisk-form: visible ASCII only (no SP, CR, LF, controls)
_TARGET_RE = re.compile(r"[\x21-\x7e]+")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def encode_request(method: str, target: str, host: str, headers: HeadersArg = None, body: BodyArg = None) -> tuple[bytes, bytes]:
    """Return ``(head, body)`` bytes for one HTTP/1.1 request.

    ``Host`` is added unless given; ``Content-Length`` is added for a body (and for an empty
    POST/PUT/PATCH) unless the caller framed the body with ``Transfer-Encoding`` themselves.
    Raises :class:`InvalidHttpRequest` for CR/LF/control characters anywhere in the head.
    """
    if TOKEN_RE.fullmatch(method) is None:
        raise InvalidHttpRequest(f"invalid method {method!r}")
    if _TARGET_RE.fullmatch(target) is None:
        raise InvalidHttpRequest(f"invalid request target {target!r} (spaces, CR/LF or controls)")
    if isinstance(body, str):
        body = body.encode()
    elif body is None:
        body = b""
    elif not isinstance(body, bytes):
        body = bytes(body)

    lines = [f"{method} {target} HTTP/1.1\r\n"]
    have_host = have_length = have_te = False
    if headers:
        for name, value in header_pairs(headers):
            if not isinstance(name, str) or TOKEN_RE.fullmatch(name) is None:
                raise InvalidHttpRequest(f"invalid header name {name!r}")
            if FIELD_VALUE_RE.fullmatch(value) is None:
                raise InvalidHttpRequest(f"invalid character (CR, LF, control) in value of header {name!r}")
            n = len(name)
            if n == 4 or n == 14 or n == 17:
                lname = name.lower()
                if lname == "host":
                    have_host = True
                elif lname == "content-length":
                    if value.strip() != str(len(body)):
                        raise InvalidHttpRequest(f"Content-Length {value!r} does not match the body ({len(body)} bytes)")
                    have_length = True
                elif lname == "transfer-encoding":
                    have_te = True
            lines.append(f"{name}: {value}\r\n")
    if not have_host:
        if FIELD_VALUE_RE.fullmatch(host) is None:
            raise InvalidHttpRequest(f"invalid host {host!r}")
        lines.insert(1, f"Host: {host}\r\n")
    if have_te and have_length:
        raise InvalidHttpRequest("both Content-Length and Transfer-Encoding given")
    if not have_length and not have_te and (body or method in _METHODS_WITH_BODY):
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append("\r\n")
    # cannot fail: every part of the head was matched above by a regex that admits latin-1 only
    return "".join(lines).encode("latin-1"), body
