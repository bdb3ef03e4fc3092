"""Deprecated: :class:`AutoClient` is :class:`boomnet.http.HttpClient` now.

``HttpClient`` itself chooses HTTP/2 or HTTP/1.1 per origin as ALPN decides, over the one
generic pool (see :mod:`boomnet.http.client`). ``AutoClient(...)`` maps its old keywords
(``timeout``, ``limits``, ``h2c_prior_knowledge``, ``retries``, ``max_idle_per_key``,
``idle_timeout``, ``connector``, ``tcp``, ``tls``) onto ``HttpClient`` and warns once.
"""

from __future__ import annotations

import warnings

from ..connect import Connector
from ..stream.options import TcpOptions, TlsOptions
from .client import HttpClient
from .limits import DEFAULT_LIMITS, HttpLimits
from .options import HttpOptions

__all__ = ["AutoClient"]


class AutoClient(HttpClient):
    """Deprecated alias of :class:`~boomnet.http.HttpClient` (module doc)."""

    def __init__(self, *, tcp: TcpOptions | None = None, tls: TlsOptions | None = None, timeout: float = 10.0,
                 limits: HttpLimits = DEFAULT_LIMITS, connector: Connector | None = None,
                 h2c_prior_knowledge: bool = False, retries: int = 2, max_idle_per_key: int = 4,
                 idle_timeout: float = 30.0) -> None:
        warnings.warn("boomnet.http.auto.AutoClient is deprecated: HttpClient chooses HTTP/2 or HTTP/1.1 itself",
                      DeprecationWarning, stacklevel=2)
        options = HttpOptions(limits=limits, request_timeout=timeout, h2c=h2c_prior_knowledge, retries=retries,
                              max_per_key=max_idle_per_key, idle_timeout=idle_timeout)
        super().__init__(tcp=tcp, tls=tls, http=options, connector=connector)
