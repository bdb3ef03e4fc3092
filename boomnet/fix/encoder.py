"""``FixEncoder``: builds tag=value messages with BodyLength and CheckSum computed (sans-I/O).

The body is assembled in one reused ``bytearray`` (no per-message buffer growth), then framed:
``8=BeginString 9=BodyLength 35=MsgType 49=Sender 56=Target 34=MsgSeqNum 52=SendingTime``,
any extra header fields (PossDupFlag 43, OrigSendingTime 122, ...), the body fields in the order
given, and ``10=CheckSum``. The result is one ``bytes`` (the session stores it for resends).

Field values: ``bytes`` go as they are; ``str`` is encoded latin-1; ``bool`` is ``Y``/``N``;
``int`` in decimal; ``float`` with up to 8 decimals and no exponent (pass a ``str`` or
``Decimal`` for an exact price). A value holding SOH, an empty value or a non-positive tag is
:class:`~boomnet.errors.InvalidMessage` — except in data fields (RawData 96, ...), which may hold
SOH when preceded by their length field. Repeating groups are written as they appear on the
wire: the count field, then each entry's fields, delimiter first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal

from ..errors import InvalidMessage
from .dictionary import DATA_FIELDS
from .parser import checksum

__all__ = ["FixEncoder", "FieldValue", "Fields", "encode_value", "sending_time"]

FieldValue = bytes | str | int | float | Decimal | bool
Fields = Iterable[tuple[int, FieldValue]]

_DATA_TAGS = frozenset(DATA_FIELDS.values())
_TAG_PREFIX: dict[int, bytes] = {}
_SECOND: list[tuple[int, bytes]] = [(-1, b"")]


def sending_time(now: float | None = None) -> bytes:
    """UTCTimestamp with milliseconds, ``YYYYMMDD-HH:MM:SS.sss`` (the second part is cached)."""
    if now is None:
        now = time.time()
    sec = int(now)
    cached_sec, text = _SECOND[0]
    if cached_sec != sec:
        text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec)).encode("ascii")
        _SECOND[0] = (sec, text)
    return text + b".%03d" % int((now - sec) * 1000)


def encode_value(value: FieldValue) -> bytes:
    """One field value as bytes (see the module docstring for the rules)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidMessage(f"field value {value[:20]!r} is not latin-1") from None
    if isinstance(value, bool):
        return b"Y" if value else b"N"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        text = b"%.8f" % value
        return text.rstrip(b"0").rstrip(b".") if b"." in text else text
    if isinstance(value, Decimal):
        return format(value, "f").encode("ascii")
    raise InvalidMessage(f"cannot encode a {type(value).__name__} as a FIX value")


def _prefix(tag: int) -> bytes:
    p = _TAG_PREFIX.get(tag)
    if p is None:
        if not isinstance(tag, int) or isinstance(tag, bool) or tag <= 0:
            raise InvalidMessage(f"tag must be a positive int, not {tag!r}")
        p = _TAG_PREFIX[tag] = b"%d=" % tag
    return p


class FixEncoder:
    """Encodes messages for one session direction (``sender_comp_id`` -> ``target_comp_id``)."""

    __slots__ = ("_begin", "_buf", "_comp", "begin_string", "sender_comp_id", "target_comp_id")

    def __init__(self, begin_string: str, sender_comp_id: str, target_comp_id: str) -> None:
        for name, value in (("sender_comp_id", sender_comp_id), ("target_comp_id", target_comp_id)):
            if not value or "\x01" in value or "=" in value:
                raise InvalidMessage(f"{name} {value!r} is not a valid CompID")
        self.begin_string = begin_string
        self.sender_comp_id = sender_comp_id
        self.target_comp_id = target_comp_id
        self._begin = b"8=" + begin_string.encode("ascii") + b"\x019="
        self._comp = b"\x0149=%s\x0156=%s\x0134=" % (sender_comp_id.encode(), target_comp_id.encode())
        self._buf = bytearray()

    def encode(
        self,
        msg_type: bytes | str,
        seq_num: int,
        body: Fields | bytes = (),
        *,
        now: float | None = None,
        header: Fields = (),
    ) -> bytes:
        """The framed message. ``body`` is ``(tag, value)`` pairs, or already-encoded field bytes
        (``b"55=X\\x0154=1\\x01"``, as a resend re-uses). ``header`` adds header fields after
        SendingTime (e.g. ``[(43, "Y"), (122, orig_time)]``)."""
        buf = self._buf
        del buf[:]  # keeps the allocation: the next message reuses it
        buf += b"35="
        buf += msg_type if isinstance(msg_type, bytes) else msg_type.encode("ascii")
        buf += self._comp
        buf += b"%d" % seq_num
        buf += b"\x0152="
        buf += sending_time(now)
        buf += b"\x01"
        if header:
            self._fields(buf, header)
        if isinstance(body, bytes):
            buf += body
        else:
            self._fields(buf, body)
        head = self._begin + b"%d\x01" % len(buf)
        cs = (checksum(head, 0, len(head)) + checksum(buf, 0, len(buf))) & 255  # type: ignore[arg-type]
        return b"".join((head, buf, b"10=%03d\x01" % cs))

    @staticmethod
    def _fields(buf: bytearray, fields: Fields) -> None:
        prefixes = _TAG_PREFIX
        for tag, value in fields:
            p = prefixes.get(tag) or _prefix(tag)
            if type(value) is int:  # the common case: digits, never empty, never SOH
                buf += p
                buf += b"%d\x01" % value
                continue
            v = value if type(value) is bytes else encode_value(value)
            if not v:
                raise InvalidMessage(f"field {tag} has an empty value")
            if b"\x01" in v and tag not in _DATA_TAGS:
                raise InvalidMessage(f"field {tag} contains SOH")
            buf += p
            buf += v
            buf += b"\x01"
