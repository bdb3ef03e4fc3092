"""What the service needs from a target (a stream, or a protocol client over one).

The service never imports a protocol package: it drives anything that satisfies
:class:`Target`. ``read_hint()`` replaces probing attributes: it says whether the target must be
polled again even when its descriptor is not readable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Target"]


@runtime_checkable
class Target(Protocol):
    """The small contract between the service and what an endpoint connects.

    * ``establish()`` advances connect/handshakes without blocking; ``True`` once ready. Raises a
      :class:`~boomnet.errors.BoomnetError` when establishing failed.
    * ``fileno()``: the descriptor a selector waits on; ``-1`` for none (a replay: polled always).
    * ``read_hint()``: ``> 0`` when the target has work without new readiness — bytes decrypted or
      buffered inside it, writes still pending, a close it has yet to report — so the selector
      returns it again on the next ``select()``; ``0`` when only readiness of the descriptor can
      bring news. Called only for targets returned by the previous ``select()``.
    * ``close()``: release everything; idempotent.
    """

    def establish(self) -> bool: ...

    def fileno(self) -> int: ...

    def read_hint(self) -> int: ...

    def close(self) -> None: ...
