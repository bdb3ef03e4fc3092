"""The NATS client protocol, sans-I/O: bytes in, events out; commands encoded to bytes.

Written from the documented client protocol (INFO, CONNECT, PUB/HPUB, SUB/UNSUB, MSG/HMSG,
PING/PONG, +OK/-ERR). Why our own and not ``nats-py``: nats-py is asyncio through and through
(its parser is bound to its event loop and its connection object), so it cannot sit inside a
busy-poll loop; nats-py is used in the tests as the independent peer instead.

Parsing: the caller writes received bytes into :meth:`NatsParser.write_view` (a reusable
buffer, as the WebSocket decoder does) and commits them, then :meth:`NatsParser.parse` returns
every whole event in the buffer. A ``Msg`` payload is a memoryview into that buffer, valid until
the next ``write_view`` (copy it with ``bytes()`` to keep it). A partial line or payload stays
buffered. A control line longer than ``max_control_line`` or a payload larger than
``max_payload`` is a :class:`~boomnet.errors.NatsProtocolError` before anything is buffered for
it (a hostile size field does not allocate).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidMessage, LocalError, NatsProtocolError

__all__ = [
    "NatsLimits",
    "Info",
    "Msg",
    "Ping",
    "Pong",
    "Ok",
    "Err",
    "Event",
    "NatsParser",
    "encode_connect",
    "encode_pub",
    "encode_sub",
    "encode_unsub",
    "encode_headers",
    "parse_headers",
    "check_subject",
    "PING",
    "PONG",
]

PING = b"PING\r\n"
PONG = b"PONG\r\n"
_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class NatsLimits:
    """Every limit of the parser, named. ``max_payload`` is lowered to the server's INFO value."""

    max_control_line: int = 4096
    max_payload: int = 64 * 1024 * 1024
    initial_buffer: int = 256 * 1024

    def __post_init__(self) -> None:
        # the caller's mistake, said at construction and naming the field (a LocalError, like
        # every other out-of-range option)
        for name, least in (("max_control_line", 64), ("max_payload", 1), ("initial_buffer", 1024)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < least:
                raise LocalError(f"NatsLimits.{name} must be an int >= {least}, not {value!r}")


@dataclass(frozen=True, slots=True)
class Info:
    """The server's INFO: identity, limits, cluster members (``connect_urls``), TLS, headers."""

    data: Mapping[str, Any]

    @property
    def max_payload(self) -> int:
        return int(self.data.get("max_payload", 1024 * 1024))

    @property
    def connect_urls(self) -> list[str]:
        return list(self.data.get("connect_urls") or ())

    @property
    def tls_required(self) -> bool:
        return bool(self.data.get("tls_required"))

    @property
    def headers(self) -> bool:
        return bool(self.data.get("headers"))


class Msg:
    """A delivered message. ``payload`` (and ``headers``, the raw header block or ``None``) are
    memoryviews into the parser's buffer, valid until its next ``write_view()``."""

    __slots__ = ("subject", "sid", "reply", "headers", "payload")

    def __init__(self, subject: str, sid: int, reply: str | None, headers: memoryview | None, payload: memoryview):
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.headers = headers
        self.payload = payload

    def header_map(self) -> dict[str, list[str]]:
        """The headers parsed (names as sent; values in order); empty when there are none."""
        return {} if self.headers is None else parse_headers(bytes(self.headers))[1]

    def __repr__(self) -> str:
        return f"Msg({self.subject!r}, sid={self.sid}, reply={self.reply!r}, {len(self.payload)} bytes)"


@dataclass(frozen=True, slots=True)
class Ping:
    """The server asks for a PONG (the driver answers it)."""


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to one of our PINGs."""


@dataclass(frozen=True, slots=True)
class Ok:
    """+OK (only in verbose mode)."""


@dataclass(frozen=True, slots=True)
class Err:
    """-ERR from the server. ``fatal``: the server closes the connection after it."""

    message: str

    @property
    def fatal(self) -> bool:
        m = self.message.lower()
        # per the protocol, these keep the connection open; every other -ERR closes it
        return not (m.startswith("invalid subject") or m.startswith("permissions violation"))


Event = Info | Msg | Ping | Pong | Ok | Err
_PING, _PONG, _OK = Ping(), Pong(), Ok()


class NatsParser:
    """Incremental parser of server->client traffic over one reusable buffer."""

    __slots__ = ("_buf", "_start", "_end", "_limits", "max_payload")

    def __init__(self, limits: NatsLimits = NatsLimits()) -> None:
        self._limits = limits
        self._buf = bytearray(limits.initial_buffer)
        self._start = 0  # first unparsed byte
        self._end = 0  # end of received bytes
        self.max_payload = limits.max_payload

    @property
    def buffered(self) -> int:
        """Received bytes not yet parsed into an event (a partial line or payload)."""
        return self._end - self._start

    def write_view(self, want: int = 65536) -> memoryview:
        """Room for at least ``want`` more bytes; invalidates views handed out before."""
        buf, start, end = self._buf, self._start, self._end
        if start:
            # move the partial tail to the front: the views of the last batch are now stale
            buf[: end - start] = buf[start:end]
            self._end = end = end - start
            self._start = 0
        if len(buf) - end < want:
            # a new buffer rather than extend(): views of the last batch may still export the
            # old one (resizing it would raise BufferError); they stay valid on the old copy
            grown = bytearray(max(len(buf) * 2, end + want))
            grown[:end] = buf[:end]
            self._buf = buf = grown
        return memoryview(buf)[end:]

    def commit(self, n: int) -> None:
        """``n`` bytes were written into the last :meth:`write_view`."""
        self._end += n

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` in (tests and replays; the driver uses write_view/commit)."""
        view = self.write_view(len(data))
        view[: len(data)] = data
        self.commit(len(data))

    def parse(self) -> list[Event]:
        """Every whole event buffered now, in order. Raises NatsProtocolError on garbage, but
        only once the events before it have been returned: a call that finds garbage after
        some events returns those and stays at the bad line, so the next call raises (and so
        does every call after: the bad bytes are never consumed)."""
        out: list[Event] = []
        buf, pos, end = self._buf, self._start, self._end
        mv = memoryview(buf)
        max_line = self._limits.max_control_line
        try:
            while True:  # ends at the first byte that is not a whole event (pos == end included)
                eol = buf.find(_CRLF, pos, end)
                if eol < 0:
                    # too long already? (a last CR may be the start of the CRLF that ends the line)
                    if end - pos - (buf[end - 1] == 13) > max_line:
                        raise NatsProtocolError(f"control line longer than {max_line} bytes")
                    break
                if eol - pos > max_line:
                    raise NatsProtocolError(f"control line longer than {max_line} bytes")
                op = buf[pos : pos + 4].upper()
                if op == b"MSG ":
                    args = buf[pos + 4 : eol].split()  # equivalent-mutant: 4 -> 3: buf[pos + 3] is the space op matched, and split() drops it
                    if len(args) == 3:
                        subject, sid, size = args
                        reply = None
                    elif len(args) == 4:
                        subject, sid, reply_b, size = args
                        reply = reply_b.decode()
                    else:
                        raise NatsProtocolError(f"malformed MSG line {bytes(buf[pos:eol])!r}")
                    n = self._size(size)
                    body = eol + 2
                    if end - body < n + 2:
                        break  # payload still arriving
                    if buf[body + n : body + n + 2] != _CRLF:
                        raise NatsProtocolError("MSG payload not followed by CRLF")
                    out.append(Msg(subject.decode(), int(sid), reply, None, mv[body : body + n]))
                    pos = body + n + 2
                elif op == b"HMSG" and buf[pos + 4] == 32:  # "HMSG" then a space (not "HMSGX ...")
                    args = buf[pos + 5 : eol].split()  # equivalent-mutant: 5 -> 4: buf[pos + 4] is the space checked above, and split() drops it
                    if len(args) == 4:
                        subject, sid, hsize, size = args
                        reply = None
                    elif len(args) == 5:
                        subject, sid, reply_b, hsize, size = args
                        reply = reply_b.decode()
                    else:
                        raise NatsProtocolError(f"malformed HMSG line {bytes(buf[pos:eol])!r}")
                    n, h = self._size(size), self._size(hsize)
                    if h > n:
                        raise NatsProtocolError(f"HMSG header size {h} exceeds total size {n}")
                    body = eol + 2
                    if end - body < n + 2:
                        break
                    if buf[body + n : body + n + 2] != _CRLF:
                        raise NatsProtocolError("HMSG payload not followed by CRLF")
                    headers = mv[body : body + h]
                    if bytes(headers[:8]) != b"NATS/1.0":
                        raise NatsProtocolError("HMSG headers do not start with NATS/1.0")
                    out.append(Msg(subject.decode(), int(sid), reply, headers, mv[body + h : body + n]))
                    pos = body + n + 2
                else:
                    line = bytes(buf[pos:eol])
                    out.append(self._control(line))
                    pos = eol + 2
        except (ValueError, UnicodeDecodeError) as exc:
            error = NatsProtocolError(f"malformed server line: {exc}")
        except NatsProtocolError as exc:
            error = exc
        else:
            return out
        finally:
            self._start = pos
        if out:
            return out  # delivered first; the next call meets the same bad line and raises
        raise error

    def _size(self, field: bytes | bytearray) -> int:
        if not field.isdigit():
            raise NatsProtocolError(f"invalid size {bytes(field)!r}")
        n = int(field)
        if n > self.max_payload:
            raise NatsProtocolError(f"message of {n} bytes exceeds max_payload {self.max_payload}")
        return n

    def _control(self, line: bytes) -> Event:
        word, _, rest = line.partition(b" ")
        word = word.upper()
        if word == b"PING":
            return _PING
        if word == b"PONG":
            return _PONG
        if word == b"+OK":
            return _OK
        if word == b"-ERR":
            return Err(rest.strip().strip(b"'").decode("utf-8", "replace"))
        if word == b"INFO":
            try:
                data = json.loads(rest)
            except ValueError as exc:
                raise NatsProtocolError(f"INFO is not JSON: {exc}") from None
            if not isinstance(data, dict):
                raise NatsProtocolError("INFO is not a JSON object")
            info = Info(data)
            self.max_payload = min(self._limits.max_payload, info.max_payload)
            return info
        raise NatsProtocolError(f"unknown server operation {line[:40]!r}")


# --- encoding (client -> server) -------------------------------------------------------------


def check_subject(subject: str, *, wildcards: bool = False) -> bytes:
    """The subject as bytes; :class:`InvalidMessage` for empty tokens, whitespace or controls,
    or wildcards where they are not allowed (publishing)."""
    raw = subject.encode()
    tokens = raw.split(b".")  # b"" splits into [b""]: an empty subject is an empty token
    if b"" in tokens or any(c <= 0x20 or c == 0x7F for c in raw):
        raise InvalidMessage(f"invalid NATS subject {subject!r}")
    if not wildcards and (b"*" in tokens or b">" in tokens):
        raise InvalidMessage(f"wildcards are not allowed when publishing: {subject!r}")
    return raw


def encode_connect(options: Mapping[str, Any]) -> bytes:
    """``CONNECT {json}`` followed by a PING (its PONG proves the server accepted CONNECT)."""
    return b"CONNECT " + json.dumps(dict(options), separators=(",", ":")).encode() + _CRLF + PING


def encode_headers(headers: Mapping[str, str | list[str]]) -> bytes:
    """A ``NATS/1.0`` header block; :class:`InvalidMessage` for CR/LF or ':' in names."""
    out = [b"NATS/1.0\r\n"]
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n ") or not name.isascii():
            raise InvalidMessage(f"invalid NATS header name {name!r}")
        for v in [value] if isinstance(value, str) else value:
            if "\r" in v or "\n" in v:
                raise InvalidMessage(f"CR/LF in the value of NATS header {name!r}")
            out.append(f"{name}: {v}\r\n".encode())
    out.append(_CRLF)
    return b"".join(out)


def parse_headers(block: bytes) -> tuple[str, dict[str, list[str]]]:
    """``(status line, headers)`` of a header block (the status line carries e.g. ``503``)."""
    lines = block.decode("utf-8", "replace").split("\r\n")
    status = lines[0][len("NATS/1.0") :].strip()
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise NatsProtocolError(f"malformed NATS header line {line!r}")
        headers.setdefault(name.strip(), []).append(value.strip())
    return status, headers


def encode_pub(subject: bytes, payload: bytes | bytearray | memoryview, reply: bytes | None = None,
               headers: bytes | None = None) -> bytes:
    """One PUB (or HPUB when ``headers`` is a header block) command with its payload."""
    n = len(payload)
    if headers is None:
        head = b"PUB %s %s%d\r\n" % (subject, reply + b" " if reply else b"", n)
        return b"".join((head, payload, _CRLF))
    h = len(headers)
    head = b"HPUB %s %s%d %d\r\n" % (subject, reply + b" " if reply else b"", h, h + n)
    return b"".join((head, headers, payload, _CRLF))


def encode_sub(subject: str, sid: int, queue: str | None = None) -> bytes:
    raw = check_subject(subject, wildcards=True)
    if queue is not None:
        return b"SUB %s %s %d\r\n" % (raw, check_subject(queue), sid)
    return b"SUB %s %d\r\n" % (raw, sid)


def encode_unsub(sid: int, max_msgs: int | None = None) -> bytes:
    return b"UNSUB %d\r\n" % sid if max_msgs is None else b"UNSUB %d %d\r\n" % (sid, max_msgs)
