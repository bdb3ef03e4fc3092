"""boomnet — low-latency, busy-poll network clients for exchange market data.

Layers, bottom-up: ``boomnet.stream`` (TCP, Unix, TLS/kTLS, recorded/replay), ``boomnet.ws`` and
``boomnet.http`` (sans-I/O protocol cores over one buffer), ``boomnet.service`` (the busy-poll
``IOService`` that owns user ``Endpoint``s). Errors: ``boomnet.errors``.
"""

__version__ = "0.1.0"
