"""``FixParser``: frames tag=value messages out of a byte stream (sans-I/O).

Feed it whatever a read returned; it returns every complete message in that batch and keeps a
partial one for the next read. Framing follows the standard: ``8=<BeginString>`` first,
``9=<BodyLength>`` second, ``35=<MsgType>`` third, and ``10=<CheckSum>`` (three digits) exactly
BodyLength bytes after the SOH that ends field 9. BodyLength is bounded by
``FixLimits.max_message_size`` before anything is buffered; the checksum (byte sum mod 256) is
verified for every message.

Framing errors (wrong BeginString, BodyLength, CheckSum, garbage) mean the stream cannot be
delimited any further: the messages before the bad one are still returned, and ``error`` holds a
:class:`~boomnet.errors.FixGarbled` for the caller (the session disconnects; a resend after
reconnecting recovers the data). A message whose frame is sound but whose standard header is not
(no SenderCompID, TargetCompID, MsgSeqNum or SendingTime, a MsgSeqNum that is not a number) is
returned with ``msg.error`` set, so the session can answer it with a Reject (a MsgSeqNum of more
than 18 digits counts as not a number: it could not be held in 64 bits).

Why not simplefix: it splits every field into a new ``bytes`` (the allocation this module avoids),
does not verify BodyLength or CheckSum, and has no repeating-group access.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable

from ..errors import FixError, FixGarbled, FixMessageTooLarge
from .limits import DEFAULT_LIMITS, FixLimits
from .message import FixMessage

__all__ = ["FixParser", "checksum"]


def _py_checksum(data: bytes, start: int, end: int) -> int:
    return sum(data[start:end]) & 255


checksum: Callable[[bytes, int, int], int] = _py_checksum
_c_scan: Callable[[bytes, int, bytes, int, bool], tuple[bytes, int, str | None, bool]] | None = None
try:  # the optional C fast path (see _speedups.c); BOOMNET_PURE_PYTHON=1 forces pure Python
    if os.environ.get("BOOMNET_PURE_PYTHON"):
        raise ImportError("disabled by BOOMNET_PURE_PYTHON")
    _speedups = importlib.import_module("boomnet.fix._speedups")
    checksum, _c_scan = _speedups.checksum, _speedups.scan
except ImportError:  # pragma: no cover - depends on the build
    pass

#: header defect codes of the C scan (code >> 1) -> the message the Python path gives
_DEFECTS = (
    "",
    "required header field 34 missing",
    "required header field 49 missing",
    "required header field 56 missing",
    "required header field 52 missing",
    "MsgSeqNum is not a number",
    "MsgType is empty",
)

# a data (binary) field's length tag: its value may hold SOH, so lookups must use the index
_DATA_TAG = re.compile(rb"\x01(?:90|93|95|212|348|350|352|354|356|358|360|362|364|445|618|621)=")
_REQUIRED = (b"\x0134=", b"\x0149=", b"\x0156=", b"\x0152=")


class FixParser:
    """Splits a byte stream into :class:`FixMessage` objects.

    ``begin_string``: the expected BeginString (``"FIX.4.4"``); any other is :class:`FixGarbled`.
    ``validate_checksum=False`` skips the CheckSum comparison (its format is still checked) — only
    for replaying trusted captures; it is on by default.
    """

    __slots__ = ("_data_tag", "_prefix", "_tail", "begin_string", "error", "limits", "validate_checksum")

    def __init__(
        self, begin_string: str = "FIX.4.4", limits: FixLimits | None = None, *, validate_checksum: bool = True
    ) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self.begin_string = begin_string
        self.validate_checksum = validate_checksum
        self.error: FixGarbled | None = None
        self._prefix = b"8=" + begin_string.encode("ascii") + b"\x019="
        self._tail = b""  # an incomplete message carried to the next feed
        self._data_tag = _DATA_TAG.search

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete message held for the next :meth:`feed`."""
        return len(self._tail)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[FixMessage]:
        """Every complete message in ``buffered + chunk``, in order.

        After a framing error ``error`` is set and nothing more is parsed (feed raises it).
        """
        if self.error is not None:
            raise self.error
        # One immutable bytes per read: every message of the batch points into it, no field copies.
        data = self._tail + chunk if self._tail else bytes(chunk)
        if _c_scan is not None:
            return self._feed_c(data)
        out: list[FixMessage] = []
        append = out.append
        prefix = self._prefix
        plen = len(prefix)
        find = data.find
        startswith = data.startswith
        max_size = self.limits.max_message_size
        verify = self.validate_checksum
        data_tag = self._data_tag
        n = len(data)
        pos = 0
        while True:  # ends at the first byte that is not a whole message (pos == n included)
            if not startswith(prefix, pos):
                if prefix.startswith(data[pos:]):
                    break  # nothing left, or the start of a header: wait for the rest
                self._garbled("expected the start of a message (8=...) at a message boundary")
                break
            len_end = find(b"\x01", pos + plen, pos + plen + 9)  # at most 8 digits, then SOH
            if len_end == -1:
                if n - pos - plen >= 9:
                    self._garbled("BodyLength is not terminated")
                break
            digits = data[pos + plen : len_end]
            if not digits.isdigit():
                self._garbled("BodyLength is not a number")
                break
            length = int(digits)
            if length > max_size:
                self.error = FixMessageTooLarge(f"BodyLength {length} exceeds max_message_size {max_size}")
                break
            cs = len_end + 1 + length  # offset of "10="
            end = cs + 6  # offset of the SOH after the checksum
            if end >= n:
                if length == 0:
                    self._garbled("BodyLength 0")
                break  # incomplete: wait for more bytes
            if data[cs - 1] != 1 or data[end] != 1 or not startswith(b"10=", cs):
                self._garbled(f"BodyLength {length} does not end at a CheckSum field")
                break
            sent = data[cs + 3 : end]
            if not sent.isdigit():
                self._garbled("CheckSum is not three digits")
                break
            if verify and checksum(data, pos, cs) != int(sent):
                self._garbled(f"CheckSum {sent.decode()} does not match {checksum(data, pos, cs):03d}")
                break
            if not startswith(b"35=", len_end + 1):
                self._garbled("MsgType(35) is not the third field")
                break
            type_start = len_end + 4  # after SOH "35="
            msg = FixMessage(data, pos, end, len_end, data[type_start : find(b"\x01", type_start, cs)])
            self._header(msg, data, len_end, cs)
            if data_tag(data, len_end, cs) is not None:
                msg._has_data = True
            append(msg)
            pos = end + 1
        self._tail = data[pos:] if self.error is None else b""
        return out

    def _feed_c(self, data: bytes) -> list[FixMessage]:
        # The same framing in C (one call per read); Python only builds the message objects.
        records, pos, error, too_large = _c_scan(data, 0, self._prefix, self.limits.max_message_size, self.validate_checksum)  # type: ignore[misc]
        out: list[FixMessage] = []
        append = out.append
        rec = memoryview(records).cast("q")
        for j in range(0, len(rec), 6):
            start, end, len_end, type_end = rec[j], rec[j + 1], rec[j + 2], rec[j + 3]
            msg = FixMessage(data, start, end, len_end, data[len_end + 4 : type_end])
            msg.seq_num = rec[j + 4]
            code = rec[j + 5]
            if code:
                msg._has_data = bool(code & 1)
                if code >> 1:
                    msg.error = FixError(_DEFECTS[code >> 1])
            append(msg)
        if error is not None:
            self.error = FixMessageTooLarge(error) if too_large else FixGarbled(error)
            self._tail = b""
        else:
            self._tail = data[pos:]
        return out

    def _header(self, msg: FixMessage, data: bytes, start: int, end: int) -> None:
        find = data.find
        i = find(b"\x0134=", start, end)
        if i != -1:  # the number first: a Reject of a message with another defect must refer to it
            i += 4
            seq = data[i : find(b"\x01", i, end)]  # data[end - 1] is the SOH before CheckSum
            if not seq.isdigit() or len(seq) > 18:  # as the C scan: more would not fit 64 bits
                msg.error = FixError("MsgSeqNum is not a number")
                return
            msg.seq_num = int(seq)
        for required in _REQUIRED:
            if find(required, start, end) == -1:
                msg.error = FixError(f"required header field {required[1:-1].decode()} missing")
                return
        if not msg.msg_type:
            msg.error = FixError("MsgType is empty")

    def _garbled(self, reason: str) -> None:
        self.error = FixGarbled(reason)

    def reset(self) -> None:
        """Forget buffered bytes and any error (a new connection)."""
        self._tail = b""
        self.error = None
