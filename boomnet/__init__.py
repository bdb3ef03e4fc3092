"""boomnet — low-latency, busy-poll network clients for exchange market data.

Layers, bottom-up: ``boomnet.stream`` (TCP, Unix, TLS/kTLS, recorded/replay), ``boomnet.ws`` and
``boomnet.http`` (sans-I/O protocol cores over one buffer), ``boomnet.service`` (the busy-poll
``IOService`` that owns user ``Endpoint``s). Errors: ``boomnet.errors``.

``speedups_enabled()`` says whether the WebSocket C fast path is in use (``speedups_status()``
says why not: not built, an untested CPython, or ``BOOMNET_PURE_PYTHON=1``). When it is off for
any reason but that variable, importing ``boomnet.ws`` warns once (``RuntimeWarning``).
"""

__version__ = "0.1.0"

__all__ = ["speedups_enabled", "speedups_status", "__version__"]


def speedups_enabled() -> bool:
    """Whether ``boomnet.ws`` decodes and masks with its C fast path (imports ``boomnet.ws``)."""
    from .ws import _native

    return _native.speedups is not None


def speedups_status() -> str:
    """``"enabled"``, or why the C fast path is off (e.g. ``"disabled by BOOMNET_PURE_PYTHON"``)."""
    from .ws import _native

    return _native.reason
