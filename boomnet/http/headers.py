"""Header fields: :class:`Headers` (an ordered list of (name, value) with case-insensitive lookup)
and :func:`header_pairs`, the one place header arguments are normalised.

Every layer that accepts caller headers (``encode_request``, ``HttpClient``, ``HttpEndpoint``,
the WebSocket upgrade) turns them into pairs with :func:`header_pairs`, so a ``dict``, a list of
tuples, a :class:`Headers` or ``None`` mean the same everywhere.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, Union

__all__ = ["Headers", "HeadersArg", "header_pairs"]

#: what callers may pass as headers: a mapping, pairs in order, received Headers, or nothing
HeadersArg = Union[Mapping[str, str], Iterable[tuple[str, str]], "Headers", None]


def header_pairs(headers: HeadersArg) -> list[tuple[str, str]]:
    """``headers`` as a new list of ``(name, value)`` string pairs, order kept, duplicates kept.

    A ``bytes`` value is decoded as latin-1 (the wire's own charset); any other non-``str``
    value is ``str()``-ed (``{"Content-Length": 5}``). Names and values are *not* validated
    here: the encoder that writes them does that (and raises ``InvalidHttpRequest``).
    """
    if not headers:
        return []
    if isinstance(headers, Headers):
        items: Iterable[tuple[str, object]] = headers.items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    out: list[tuple[str, str]] = []
    for name, value in items:
        if not isinstance(value, str):
            value = value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)
        out.append((name, value))
    return out


class Headers:
    """Header fields as received, in order, names in their original case.

    Lookups ignore case. ``get`` returns the first value; ``get_all`` every value of a name.
    The lookup index is built on first use, so responses nobody inspects cost nothing extra.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = items if items is not None else []
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._items:
                key = name.lower()
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
            self._index = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (any case), or ``default``."""
        values = self._lookup().get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order (empty list if absent)."""
        return list(self._lookup().get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        values = self._lookup().get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order, duplicates included."""
        return list(self._items)

    def keys(self) -> list[str]:
        return [name for name, _ in self._items]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
