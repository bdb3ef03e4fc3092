"""Decimal-string checks of decoded records, a batch at a time.

msgspec checks every field's JSON type in C, but not that a price is a *decimal* string: its
``Meta(pattern=...)`` calls Python's ``re`` per field (~300 ns a field, measured), and a
``__post_init__`` is a Python call per record (~130-250 ns a trade). So the endpoint decodes a
whole ``read_batch()`` first, then checks the decimal fields of all its records in one call
(:func:`first_bad`), then dispatches; a batch that fails the check goes back through the careful
per-message path, which delivers the good records before the bad one and raises for it.

:func:`first_bad` is the optional C function of ``_binance_speedups.c`` (one loop over the
records and their fields' bytes, ~10-30 ns a record) when it was built, else the pure-Python
reference below (one ``str.join`` and one regex over the batch's strings). Both accept exactly
what :func:`~endpoints.binance_records.is_decimal` accepts; the tests run both and fuzz them
against it. ``BOOMNET_PURE_PYTHON=1`` forces the Python one.

Depth records are checked the same way (every level a ``(price, qty)`` pair of decimal strings):
in C one loop over the levels, in Python one join and regex per message
(:func:`~endpoints.binance_records.levels_ok`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import Any

from .binance_records import AggTrade, BookTicker, DepthUpdate, PartialDepth, Trade, is_decimal, levels_ok

__all__ = ["DECIMAL_FIELDS", "LEVEL_FIELDS", "first_bad", "first_bad_python", "SPEEDUPS"]

#: record class -> the names of its decimal-string fields (what :func:`first_bad` checks)
DECIMAL_FIELDS: dict[type, tuple[str, ...]] = {
    Trade: ("price", "quantity"),
    AggTrade: ("price", "quantity"),
    BookTicker: ("bid_price", "bid_qty", "ask_price", "ask_qty"),
}

#: record class -> its book-level fields (lists of ``(price, qty)`` decimal strings)
LEVEL_FIELDS: dict[type, tuple[str, ...]] = {
    DepthUpdate: ("bids", "asks"),
    PartialDepth: ("bids", "asks"),
}

_GETTERS: dict[type, Callable[[Any], Any]] = {cls: attrgetter(*names) for cls, names in DECIMAL_FIELDS.items()}
_WIDTH = {cls: len(names) for cls, names in DECIMAL_FIELDS.items()}
# One decimal, possessive (no backtracking): exactly what is_decimal accepts.
_D = r"(?:[0-9]++\.?+[0-9]*+|\.[0-9]++)"
# Many decimals joined by ",": "," cannot occur in a decimal, and the comma count (checked
# alongside) rules out a "," inside one string passing as a separator.
_JOINED = re.compile(rf"(?:{_D},)*+{_D}").fullmatch
_flatten = chain.from_iterable


def first_bad_python(records: Sequence[Any]) -> int:
    """Index of the first record (of a :data:`DECIMAL_FIELDS` or :data:`LEVEL_FIELDS` class) with
    a decimal field that is not a plain decimal string, or a book level that is not a pair of
    them; ``-1`` if there is none. Records of other classes are skipped.

    Fast answer for a good batch (one join + regex per record class, one per depth message);
    a batch that fails it is searched record by record for the index."""
    if not records:
        return -1
    kinds = set(map(type, records))
    for cls in kinds.intersection(LEVEL_FIELDS):
        names = LEVEL_FIELDS[cls]
        if not all(levels_ok(*map(r.__getattribute__, names)) for r in records if type(r) is cls):
            return _scan(records)
    total = 0
    parts: list[str] = []
    for cls in kinds.intersection(_GETTERS):
        getter, width = _GETTERS[cls], _WIDTH[cls]
        group = records if len(kinds) == 1 else [r for r in records if type(r) is cls]
        total += width * len(group)
        parts.append(",".join(_flatten(map(getter, group)) if width > 1 else map(getter, group)))
    if not total:
        return -1
    joined = ",".join(parts)
    # the comma count rules out a "," inside one string passing as a separator
    if _JOINED(joined) is not None and joined.count(",") == total - 1:
        return -1
    return _scan(records)


def _scan(records: Sequence[Any]) -> int:
    """The exact search, record by record (a batch that failed the joined check, or depth)."""
    for i, record in enumerate(records):
        cls = type(record)
        names = DECIMAL_FIELDS.get(cls)
        if names is not None and not all(type(v) is str and is_decimal(v) for v in map(record.__getattribute__, names)):
            return i
        sides = LEVEL_FIELDS.get(cls)
        if sides is not None and not levels_ok(*(getattr(record, name) for name in sides)):
            return i
    return -1


def _load() -> Callable[[Sequence[Any]], int] | None:
    if os.environ.get("BOOMNET_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from ._binance_speedups import first_bad as c_first_bad
    except ImportError:  # not built: the pure-Python reference (same answers, slower)
        return None
    # partial: the C function called straight from the endpoint's loop, no Python frame between
    return partial(c_first_bad, DECIMAL_FIELDS, LEVEL_FIELDS)


_c = _load()
#: whether the C check is in use
SPEEDUPS = _c is not None
#: the check the endpoint uses (C when built, else :func:`first_bad_python`)
first_bad: Callable[[Sequence[Any]], int] = _c if _c is not None else first_bad_python
