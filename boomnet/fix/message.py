"""``FixMessage``: a parsed tag=value message that decodes fields only when asked.

A message is a window ``[start, end)`` into an immutable ``bytes`` batch the parser took off the
stream (one ``bytes`` per read, shared by every message of that read), so parsing allocates no
object per field. Field access is a C-speed ``bytes.find`` of ``SOH tag =`` inside the window;
the full field index (``array('l')`` of ``tag, value_start, value_end`` triples) is built only
when something needs it: iteration, repeating groups, top-level lookups of a tag that also occurs
inside one of the message type's groups, or a message carrying a data (binary) field, whose value
may contain SOH and so cannot be searched.

Repeating groups: :meth:`FixMessage.groups` yields :class:`GroupEntry` windows using the FIX 4.4
layouts in :mod:`boomnet.fix.dictionary` (generated from QuickFIX's data dictionary); entries
support ``get`` and nested ``groups`` the same way. A count that disagrees with the entries found
raises :class:`~boomnet.errors.FixError` (a session answers it with Reject 373=16).
"""

from __future__ import annotations

import importlib
import os
import re
from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeAlias

from ..errors import FixError
from .dictionary import DATA_FIELDS, GroupLayout, group_layout, group_tags

__all__ = ["FixMessage", "GroupEntry", "needle"]

_NEEDLES: dict[int, bytes] = {}
_SECRET = re.compile(rb"((?:^|\x01)(?:554|925|96|91|89)=)[^\x01]*")
_GTAGS: dict[bytes, frozenset[int]] = {}  # msg type -> tags inside its groups


def needle(tag: int) -> bytes:
    """``SOH tag =`` as bytes (cached): what a field lookup searches for."""
    n = _NEEDLES.get(tag)
    if n is None:
        n = _NEEDLES[tag] = b"\x01%d=" % tag
    return n


def _index(data: bytes, start: int, end: int) -> array[int]:
    """Tokenise ``data[start:end]`` (which starts with a tag) into ``tag, vstart, vend`` triples.

    Data fields (RawData 96, ...) are taken by their preceding length field, SOH and all.
    """
    out = array("l")
    append = out.append
    find = data.find
    pos = start
    data_len = -1
    while pos < end:
        eq = find(b"=", pos, end)
        if eq < 0:
            raise FixError(f"field without '=' at offset {pos - start}")
        try:
            if data[pos] == 48:  # "0": a leading zero would make offsets computed from the tag wrong
                raise ValueError
            tag = int(data[pos:eq])
        except ValueError:
            raise FixError(f"tag is not a number: {bytes(data[pos:eq])[:20]!r}") from None
        vstart = eq + 1
        if data_len >= 0:
            vend = vstart + data_len
            if vend >= end or data[vend] != 1:
                raise FixError(f"data field {tag} does not match its length field")
            data_len = -1
        else:
            vend = find(b"\x01", vstart, end)
            if vend < 0:
                raise FixError(f"field {tag} not terminated by SOH")
        if tag <= 0:
            raise FixError(f"tag {tag} out of range")
        if tag in DATA_FIELDS:
            try:
                data_len = int(data[vstart:vend])
            except ValueError:
                raise FixError(f"length field {tag} is not a number") from None
        append(tag)
        append(vstart)
        append(vend)
        pos = vend + 1
    return out


Index: TypeAlias = "array[int] | memoryview"
_c_index: Callable[[bytes, int, int], bytes] | None = None
_c_get: Callable[[bytes, int, int, int], bytes | None] | None = None
_c_rows: Callable[[Index, int, int, frozenset[int], bytes, tuple[int, ...]], list[tuple[bytes | None, ...]]] | None = None
_c_entries: Callable[..., list[GroupEntry]] | None = None
_c_entry_base: type | None = None
try:  # the optional C fast path (see _speedups.c); BOOMNET_PURE_PYTHON=1 forces pure Python
    if os.environ.get("BOOMNET_PURE_PYTHON"):
        raise ImportError("disabled by BOOMNET_PURE_PYTHON")
    _speedups = importlib.import_module("boomnet.fix._speedups")
    _c_index, _c_get = _speedups.index, _speedups.get
    _c_rows = _speedups.group_rows
    _c_entries, _c_entry_base = _speedups.group_entries, _speedups.EntryBase
except ImportError:  # pragma: no cover - depends on the build
    pass


def build_index(data: bytes, start: int, end: int) -> Index:
    """The field index of ``data[start:end]``: C when built, else :func:`_index`."""
    if _c_index is None:
        return _index(data, start, end)
    try:
        return memoryview(_c_index(data, start, end)).cast("q")
    except ValueError as e:
        raise FixError(str(e)) from None


class _Fields:
    """What messages and group entries share: lookups over field-index triples ``[i0, i1)``."""

    __slots__ = ()

    data: bytes
    _has_data: bool  # a data (binary) field is present: plain finds could match inside it

    def _range(self) -> tuple[Index, int, int, dict[int, GroupLayout]]:  # pragma: no cover
        raise NotImplementedError

    def _find(self, tag: int) -> tuple[int, int] | None:
        """(value start, value end) of the first top-level ``tag``: group members are skipped."""
        idx, i, n, layouts = self._range()
        while i < n:
            t = idx[i]
            if t == tag:
                return idx[i + 1], idx[i + 2]
            layout = layouts.get(t)
            i += 3
            if layout is not None:  # skip the group's entries
                members = layout[2]
                while i < n and idx[i] in members:
                    i += 3
        return None

    def _value_span(self, tag: int) -> tuple[int, int] | None:
        return self._find(tag)

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        """The value of top-level field ``tag`` (the first one), or ``default``."""
        span = self._find(tag)
        return default if span is None else self.data[span[0] : span[1]]

    def __getitem__(self, tag: int) -> bytes:
        value = self.get(tag)
        if value is None:
            raise KeyError(tag)
        return value

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, int) and self.get(tag) is not None

    def get_str(self, tag: int, default: str | None = None) -> str | None:
        value = self.get(tag)
        return default if value is None else value.decode("latin-1")

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        value = self.get(tag)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise FixError(f"field {tag} is not an integer: {value[:20]!r}") from None

    def get_float(self, tag: int, default: float | None = None) -> float | None:
        value = self.get(tag)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise FixError(f"field {tag} is not a number: {value[:20]!r}") from None

    def fields(self) -> Iterator[tuple[int, bytes]]:
        """Every field of the window in wire order, groups flattened: ``(tag, value)``."""
        idx, i, n, _ = self._range()
        data = self.data
        for j in range(i, n, 3):
            yield idx[j], data[idx[j + 1] : idx[j + 2]]

    def groups(self, count_tag: int) -> list[GroupEntry]:
        """The entries of repeating group ``count_tag`` (e.g. 268 NoMDEntries); ``[]`` if absent.

        Raises :class:`FixError` for an unknown group or a count that disagrees with the entries.
        """
        idx, i, n, layouts = self._range()
        layout = layouts.get(count_tag)
        if layout is None:
            raise FixError(f"no layout for group {count_tag} here")
        span = self._value_span(count_tag)
        if span is None:
            return []
        data = self.data
        try:
            count = int(data[span[0] : span[1]])
        except ValueError:
            raise FixError(f"group count {count_tag} is not a number") from None
        delimiter, members, nested, ntags = layout[1], layout[2], layout[3], layout[4]
        raw = self._has_data
        entries: list[GroupEntry] = []
        if _c_entries is not None:  # the same loop in C, entries made in C (C storage, C get)
            entries = _c_entries(GroupEntry, idx, span[0], delimiter, members, data, nested, ntags, raw)
        else:
            while idx[i + 1] != span[0]:
                i += 3
            i += 3
            first = -1
            while i < n:
                t = idx[i]
                if t == delimiter:
                    if first >= 0:
                        entries.append(GroupEntry(data, idx, first, i, nested, ntags, has_data=raw))
                    first = i
                elif first < 0 or t not in members:
                    break
                i += 3
            if first >= 0:
                entries.append(GroupEntry(data, idx, first, i, nested, ntags, has_data=raw))
        if len(entries) != count:
            raise FixError(f"group {count_tag}: count says {count}, found {len(entries)} entries")
        return entries


    def group_rows(self, count_tag: int, tags: tuple[int, ...]) -> list[tuple[bytes | None, ...]]:
        """For each entry of group ``count_tag``, the values of ``tags`` (``None`` where absent):
        ``[tuple(e.get(t) for t in tags) for e in self.groups(count_tag)]`` in one C call (a
        book update reads the same few fields of every entry). Same errors as :meth:`groups`."""
        idx, _, _, layouts = self._range()
        layout = layouts.get(count_tag)
        if layout is None:
            raise FixError(f"no layout for group {count_tag} here")
        if _c_rows is None or self._has_data or not layout[4].isdisjoint(tags):
            return [tuple(e.get(t) for t in tags) for e in self.groups(count_tag)]
        span = self._value_span(count_tag)
        if span is None:
            return []
        try:
            count = int(self.data[span[0] : span[1]])
        except ValueError:
            raise FixError(f"group count {count_tag} is not a number") from None
        rows = _c_rows(idx, span[0], layout[1], layout[2], self.data, tuple(tags))
        if len(rows) != count:
            raise FixError(f"group {count_tag}: count says {count}, found {len(rows)} entries")
        return rows


class _PyEntryBase:
    """GroupEntry's storage and hot lookups in pure Python (the C ``EntryBase`` when built)."""

    __slots__ = ("_has_data", "_hi", "_i0", "_i1", "_idx", "_lo", "_nested", "_ntags", "data")

    def __init__(
        self,
        data: bytes,
        idx: Index,
        i0: int,
        i1: int,
        nested: dict[int, GroupLayout],
        nested_tags: frozenset[int] = frozenset(),
        lo: int = -1,
        hi: int = -1,
        has_data: bool = False,
    ) -> None:
        self.data, self._idx, self._i0, self._i1, self._nested = data, idx, i0, i1, nested
        self._ntags = nested_tags
        self._has_data = has_data
        # the entry's bytes: from the SOH before its delimiter tag to the SOH after its last value
        self._lo = lo if lo >= 0 else idx[i0 + 1] - len(str(idx[i0])) - 2
        self._hi = hi if hi >= 0 else idx[i1 - 1]

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        if self._has_data or tag in self._ntags:  # the index keeps nested groups / data apart
            return self._slow_get(tag, default)
        # a flat entry: one C-speed find inside its bytes
        n = _NEEDLES.get(tag) or needle(tag)
        data = self.data
        i = data.find(n, self._lo, self._hi)
        if i < 0:
            return default
        i += len(n)
        return data[i : data.find(b"\x01", i)]

    def _slow_get(self, tag: int, default: bytes | None) -> bytes | None:  # pragma: no cover
        raise NotImplementedError


if TYPE_CHECKING:
    _EntryBase = _PyEntryBase
else:
    _EntryBase = _c_entry_base or _PyEntryBase


class GroupEntry(_EntryBase, _Fields):
    """One entry of a repeating group: ``get`` / ``groups`` over its fields (nested groups too)."""

    __slots__ = ()

    def _slow_get(self, tag: int, default: bytes | None) -> bytes | None:
        span = self._find(tag)
        return default if span is None else self.data[span[0] : span[1]]

    def _range(self) -> tuple[Index, int, int, dict[int, GroupLayout]]:
        return self._idx, self._i0, self._i1, self._nested

    def __repr__(self) -> str:
        idx = self._idx
        text = bytes(self.data[idx[self._i0 + 1] - len(str(idx[self._i0])) - 1 : idx[self._i1 - 1]]).replace(b"\x01", b"|")
        return f"<GroupEntry {text!r}>"


class FixMessage(_Fields):
    """A framed message: ``msg_type`` (bytes, e.g. ``b"D"``), ``seq_num`` (int; 0 if absent),
    ``raw`` (its bytes, on demand) and field access (``get``, ``get_int``, ``groups``, ...).

    ``error`` is set when the frame was sound but the header was not (a missing SenderCompID, a
    MsgSeqNum that is not a number, ...): the session answers such a message with a Reject.
    """

    __slots__ = ("_gtags", "_has_data", "_idx", "_layout", "body_start", "data", "end", "error", "msg_type", "seq_num", "start")

    def __init__(self, data: bytes, start: int, end: int, body_start: int, msg_type: bytes) -> None:
        # start: offset of "8=", end: offset of the SOH that ends the CheckSum field
        self.data, self.start, self.end = data, start, end
        self._idx: Index | None = None
        self.body_start = body_start  # offset of the SOH before MsgType(35)
        self.msg_type = msg_type
        self.seq_num = 0
        self.error: FixError | None = None
        self._has_data = False
        self._layout: dict[int, GroupLayout] | None = None
        gtags = _GTAGS.get(msg_type)
        if gtags is None:
            gtags = _GTAGS[msg_type] = group_tags(group_layout(msg_type))
        self._gtags = gtags

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        # The hot path: one C-speed find of "SOH tag =" in the message. Tags that the message
        # type's groups contain, and messages with data fields, go through the field index.
        if self._has_data or tag in self._gtags:
            span = self._find(tag)
            return default if span is None else self.data[span[0] : span[1]]
        if _c_get is not None:
            value = _c_get(self.data, self.start, self.end, tag)
            return default if value is None else value
        n = _NEEDLES.get(tag) or needle(tag)
        data = self.data
        i = data.find(n, self.start, self.end)
        if i < 0:
            return default
        i += len(n)
        return data[i : data.find(b"\x01", i)]

    def _layouts(self) -> dict[int, GroupLayout]:
        layout = self._layout
        if layout is None:
            layout = self._layout = group_layout(self.msg_type)
        return layout

    def index(self) -> Index:
        """``tag, value_start, value_end`` triples of every field (built on first use, cached)."""
        idx = self._idx
        if idx is None:
            idx = self._idx = build_index(self.data, self.start, self.end + 1)
        return idx

    def _range(self) -> tuple[Index, int, int, dict[int, GroupLayout]]:
        idx = self.index()
        return idx, 0, len(idx), self._layouts()

    def _value_span(self, tag: int) -> tuple[int, int] | None:
        if self._has_data or tag in self._gtags:
            return self._find(tag)
        n = _NEEDLES.get(tag) or needle(tag)
        data = self.data
        i = data.find(n, self.start, self.end)
        if i < 0:
            return None
        i += len(n)
        return i, data.find(b"\x01", i)

    @property
    def raw(self) -> bytes:
        """The message's bytes, ``8=`` through the CheckSum's SOH."""
        return self.data[self.start : self.end + 1]

    @property
    def poss_dup(self) -> bool:
        return self.get(43) == b"Y"

    @property
    def is_admin(self) -> bool:
        return self.msg_type in ADMIN_TYPES

    def __repr__(self) -> str:
        # secrets (Password 554, NewPassword 925, RawData 96, ...) never reach a log via repr
        text = _SECRET.sub(rb"\1***", bytes(self.raw)).replace(b"\x01", b"|").decode("latin-1")
        return f"<FixMessage {text if len(text) < 200 else text[:200] + '...'}>"


#: session-level message types (Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset,
#: Logout, Logon): never resent, gap-filled instead
ADMIN_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
