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

from array import array
from collections.abc import Iterator

from ..errors import FixError
from .dictionary import DATA_FIELDS, GroupLayout, group_layout, group_tags

__all__ = ["FixMessage", "GroupEntry", "needle"]

_NEEDLES: dict[int, bytes] = {}


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


class _Fields:
    """What messages and group entries share: lookups inside a window of ``data``."""

    __slots__ = ("_idx", "data", "end", "start")

    data: bytes
    start: int  # where lookups search from: a message's "8=", the SOH before an entry's first field
    end: int  # offset of the SOH after the last field of the window
    _idx: array[int] | None

    def _layouts(self) -> dict[int, GroupLayout]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _searchable(self) -> bool:
        """May a plain ``find`` answer top-level lookups for this window?"""
        return True

    def index(self) -> array[int]:
        """``tag, value_start, value_end`` triples of every field in the window (cached)."""
        idx = self._idx
        if idx is None:
            idx = self._idx = _index(self.data, self.start + 1, self.end + 1)
        return idx

    def get(self, tag: int, default: bytes | None = None) -> bytes | None:
        """The value of top-level field ``tag`` (the first one), or ``default``."""
        if self._searchable() and tag not in group_tags(self._layouts()):
            data = self.data
            n = needle(tag)
            i = data.find(n, self.start, self.end)
            if i < 0:
                return default
            i += len(n)
            return data[i : data.find(b"\x01", i, self.end + 1)]
        span = self._top_level(tag)
        return default if span is None else self.data[span[0] : span[1]]

    def _top_level(self, tag: int) -> tuple[int, int] | None:
        idx = self.index()
        layouts = self._layouts()
        i, n = 0, len(idx)
        skip: frozenset[int] = frozenset()
        while i < n:
            t = idx[i]
            if t in skip:
                i += 3
                continue
            skip = frozenset()
            if t == tag:
                return idx[i + 1], idx[i + 2]
            layout = layouts.get(t)
            if layout is not None:
                skip = frozenset(layout[2])
            i += 3
        return None

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
        idx, data = self.index(), self.data
        for i in range(0, len(idx), 3):
            yield idx[i], data[idx[i + 1] : idx[i + 2]]

    def groups(self, count_tag: int) -> list[GroupEntry]:
        """The entries of repeating group ``count_tag`` (e.g. 268 NoMDEntries); ``[]`` if absent.

        Raises :class:`FixError` for an unknown group or a count that disagrees with the entries.
        """
        layout = self._layouts().get(count_tag)
        if layout is None:
            raise FixError(f"no layout for group {count_tag} here") from None
        idx, data = self.index(), self.data
        n = len(idx)
        i = 0
        while i < n and idx[i] != count_tag:
            i += 3
        if i >= n:
            return []
        try:
            count = int(data[idx[i + 1] : idx[i + 2]])
        except ValueError:
            raise FixError(f"group count {count_tag} is not a number") from None
        delimiter, members, nested = layout[1], frozenset(layout[2]), layout[3]
        entries: list[GroupEntry] = []
        i += 3
        entry_start = -1
        while i < n:
            t = idx[i]
            if t == delimiter:
                if entry_start >= 0:
                    entries.append(GroupEntry(data, entry_start, idx[i + 1] - len(str(t)) - 2, nested))
                entry_start = idx[i + 1] - len(str(t)) - 2  # the SOH before the delimiter
            elif t not in members or entry_start < 0:
                break
            i += 3
        if entry_start >= 0:
            end = idx[i - 1]  # value end (SOH) of the last member field
            entries.append(GroupEntry(data, entry_start, end, nested))
        if len(entries) != count:
            raise FixError(f"group {count_tag}: count says {count}, found {len(entries)} entries")
        return entries


class GroupEntry(_Fields):
    """One entry of a repeating group: ``get`` / ``groups`` inside its window."""

    __slots__ = ("_nested",)

    def __init__(self, data: bytes, start: int, end: int, nested: dict[int, GroupLayout]):
        self.data, self.start, self.end, self._idx = data, start, end, None
        self._nested = nested

    def _layouts(self) -> dict[int, GroupLayout]:
        return self._nested

    def _searchable(self) -> bool:
        return False  # an entry's window is short; the index also keeps nested groups apart

    def __repr__(self) -> str:
        text = bytes(self.data[self.start + 1 : self.end]).replace(b"\x01", b"|")
        return f"<GroupEntry {text!r}>"


class FixMessage(_Fields):
    """A framed message: ``msg_type`` (bytes, e.g. ``b"D"``), ``seq_num`` (int; 0 if absent),
    ``raw`` (its bytes, on demand) and field access (``get``, ``get_int``, ``groups``, ...).

    ``error`` is set when the frame was sound but the header was not (a missing SenderCompID, a
    MsgSeqNum that is not a number, ...): the session answers such a message with a Reject.
    """

    __slots__ = ("_has_data", "_layout", "body_start", "error", "msg_type", "seq_num")

    def __init__(self, data: bytes, start: int, end: int, body_start: int, msg_type: bytes) -> None:
        # start: offset of "8=", end: offset of the SOH that ends the CheckSum field
        self.data, self.start, self.end, self._idx = data, start, end, None
        self.body_start = body_start  # offset of the SOH before MsgType(35)
        self.msg_type = msg_type
        self.seq_num = 0
        self.error: FixError | None = None
        self._has_data = False
        self._layout: dict[int, GroupLayout] | None = None

    def _layouts(self) -> dict[int, GroupLayout]:
        layout = self._layout
        if layout is None:
            layout = self._layout = group_layout(self.msg_type)
        return layout

    def _searchable(self) -> bool:
        return not self._has_data

    def index(self) -> array[int]:
        idx = self._idx
        if idx is None:  # the window starts at "8=" (no SOH before it)
            idx = self._idx = _index(self.data, self.start, self.end + 1)
        return idx

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
        text = bytes(self.raw).replace(b"\x01", b"|").decode("latin-1")
        return f"<FixMessage {text if len(text) < 200 else text[:200] + '...'}>"


#: session-level message types (Heartbeat, TestRequest, ResendRequest, Reject, SequenceReset,
#: Logout, Logon): never resent, gap-filled instead
ADMIN_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
