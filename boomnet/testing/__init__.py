"""Embedded peers and pytest fixtures for testing code built on boomnet.

* :mod:`boomnet.testing.binance`: a local Binance-compatible exchange (market streams over
  WebSocket with TLS, the REST depth snapshot, fault injection) — ``Exchange``.
* :mod:`boomnet.testing.fix`: an offline FIX 4.4 venue (market data and order entry).
* :mod:`boomnet.testing.plugin`: pytest fixtures (registered as the ``boomnet`` pytest plugin):
  ``binance_exchange``, ``fix_venue``, ``echo_server``, ``replay``, ``record_session``.

These need the ``demo`` extra (``websockets``, ``trustme``): ``pip install boomnet[demo]``.
"""
