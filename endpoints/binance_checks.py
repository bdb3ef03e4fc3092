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

Depth records (a list of levels each) keep their own per-record check (``__post_init__``, one
regex over a message's levels): a diff is one record for ~20 levels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

from .binance_records import AggTrade, BookTicker, Trade, is_decimal

__all__ = ["DECIMAL_FIELDS", "first_bad", "first_bad_python", "SPEEDUPS"]

#: record class -> the names of its decimal-string fields (what :func:`first_bad` checks)
DECIMAL_FIELDS: dict[type, tuple[str, ...]] = {
    Trade: ("price", "quantity"),
    AggTrade: ("price", "quantity"),
    BookTicker: ("bid_price", "bid_qty", "ask_price", "ask_qty"),
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
    """Index of the first record (of a :data:`DECIMAL_FIELDS` class) with a decimal field that is
    not a plain decimal string; ``-1`` if there is none. Records of other classes are skipped."""
    n = len(records)
    if not n:
        return -1
    kinds = set(map(type, records))
    if len(kinds) == 1:  # the usual batch: one record class (a connection of trades)
        cls = kinds.pop()
        getter = _GETTERS.get(cls)
        if getter is None:
            return -1
        width = _WIDTH[cls]
        values = _flatten(map(getter, records)) if width > 1 else map(getter, records)
        joined = ",".join(values)
        if _JOINED(joined) is not None and joined.count(",") == width * n - 1:
            return -1
        return _scan(records)
    total = 0
    parts: list[str] = []
    for cls, getter in _GETTERS.items():
        if cls in kinds:
            group = [r for r in records if type(r) is cls]
            total += _WIDTH[cls] * len(group)
            parts.append(",".join(_flatten(map(getter, group))))
    if not total:
        return -1
    joined = ",".join(p for p in parts if p)
    if _JOINED(joined) is not None and joined.count(",") == total - 1:
        return -1
    return _scan(records)


def _scan(records: Sequence[Any]) -> int:
    """The slow exact search, once a batch failed the joined check."""
    for i, record in enumerate(records):
        names = DECIMAL_FIELDS.get(type(record))
        if names is not None and not all(is_decimal(getattr(record, name)) for name in names):
            return i
    return -1  # unreachable for str fields (the joined check only fails on a bad one); kept safe


def _load() -> Callable[[Sequence[Any]], int] | None:
    if os.environ.get("BOOMNET_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from ._binance_speedups import first_bad as c_first_bad
    except ImportError:  # not built: the pure-Python reference (same answers, slower)
        return None
    table = DECIMAL_FIELDS

    def first_bad_c(records: Sequence[Any]) -> int:
        return c_first_bad(records, table)

    return first_bad_c


_c = _load()
#: whether the C check is in use
SPEEDUPS = _c is not None
#: the check the endpoint uses (C when built, else :func:`first_bad_python`)
first_bad: Callable[[Sequence[Any]], int] = _c if _c is not None else first_bad_python
