"""The small FIX 4.4 dictionary boomnet needs: group layouts per message type, data fields.

boomnet parses any message type; it knows the *repeating group* layouts of the types it supports
(admin messages, MarketDataRequest V, MarketDataSnapshotFullRefresh W, MarketDataIncrementalRefresh
X, MarketDataRequestReject Y, NewOrderSingle D, ExecutionReport 8, OrderCancelRequest F,
OrderCancelReplaceRequest G, OrderCancelReject 9, BusinessMessageReject j). The layouts are
generated from QuickFIX's FIX44.xml (``tests/fix/gen_dictionary.py``); a test keeps them equal.
:func:`register_groups` adds layouts for other message types (e.g. a venue's custom ones).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ._dict44 import DATA_FIELDS, GROUPS

__all__ = ["DATA_FIELDS", "GroupLayout", "GroupSpec", "group_layout", "group_tags", "register_groups"]

#: what :func:`register_groups` takes: ``(count_tag, delimiter_tag, member_tags, nested)``
GroupSpec = tuple[int, int, tuple[int, ...] | frozenset[int], dict[int, Any]]
#: the resolved form: ``(count_tag, delimiter_tag, member_tags, nested, nested_tags)`` with
#: frozensets (membership is tested per field on the hot path); nested maps count tag -> layout,
#: nested_tags are the tags inside the nested groups (lookups of others may use a plain find)
GroupLayout = tuple[int, int, frozenset[int], dict[int, Any], frozenset[int]]

_EMPTY: dict[int, GroupLayout] = {}


def group_layout(msg_type: bytes) -> dict[int, GroupLayout]:
    """Count tag -> layout of the groups of ``msg_type`` (header groups included)."""
    return _layouts(msg_type)


def _frozen(layouts: dict[int, Any]) -> dict[int, GroupLayout]:
    out: dict[int, GroupLayout] = {}
    for count, (_, delim, members, nested) in layouts.items():
        inner = _frozen(nested)
        inner_tags = frozenset(t for layout in inner.values() for t in layout[2])
        out[count] = (count, delim, frozenset(members), inner, inner_tags)
    return out


@lru_cache(maxsize=256)
def _layouts(msg_type: bytes) -> dict[int, GroupLayout]:
    key = msg_type.decode("latin-1")
    body = GROUPS.get(key) or {}
    return _frozen({**GROUPS["header"], **body})


_TAGS: dict[int, frozenset[int]] = {}


def group_tags(layouts: dict[int, GroupLayout]) -> frozenset[int]:
    """Every tag that occurs *inside* one of ``layouts``' groups (cached per layout dict)."""
    key = id(layouts)
    tags = _TAGS.get(key)
    if tags is None:
        found: set[int] = set()
        for layout in layouts.values():
            found.update(layout[2])
        tags = _TAGS[key] = frozenset(found)
        _KEEP.append(layouts)  # id() stays valid: the dict is never freed
    return tags


_KEEP: list[dict[int, GroupLayout]] = []


def register_groups(msg_type: str, layouts: dict[int, GroupSpec]) -> None:
    """Add (or replace) the group layouts of ``msg_type`` (e.g. a venue's custom message)."""
    for count, layout in layouts.items():
        if len(layout) != 4 or layout[0] != count:
            raise ValueError(f"layout for group {count} must be (count_tag, delimiter, members, nested)")
    GROUPS[msg_type] = dict(layouts)
    _layouts.cache_clear()
