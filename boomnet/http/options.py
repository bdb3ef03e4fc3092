"""How the HTTP client behaves: :class:`HttpOptions`, one frozen, validated dataclass.

The transport has its own objects (:class:`~boomnet.stream.options.TcpOptions`,
:class:`~boomnet.stream.options.TlsOptions`); what a server may make the client buffer is
:class:`~boomnet.http.limits.HttpLimits`. Constructors take ``http: HttpOptions | None = None,
**overrides`` and build ``replace(http or HttpOptions(), **overrides)``, so a misspelt keyword
is a ``TypeError`` where it is written and a value out of range a
:class:`~boomnet.errors.LocalError` there too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..errors import LocalError
from .headers import HeadersArg, header_pairs
from .limits import DEFAULT_LIMITS, HttpLimits

__all__ = ["HttpOptions", "DEFAULT_OPTIONS", "http_options", "split_overrides"]


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """HTTP behaviour shared by :class:`~boomnet.http.HttpClient`, :class:`~boomnet.http.HttpEndpoint`
    and :class:`~boomnet.http.HttpConnection` (a field that one of them does not use says so).

    ``limits``: what a response may make the client buffer (:class:`HttpLimits`).
    ``request_timeout``: seconds from submission to the complete response (default 30).
    ``expect_continue_timeout``: a request sent with ``Expect: 100-continue`` sends its body
    anyway after this many seconds without an answer (RFC 9110 10.1.1; default 1, as curl).
    ``headers``: sent with every request, before the request's own.
    ``pipelining`` / ``max_pipeline`` (endpoint and connection): let up to ``max_pipeline``
    idempotent requests share the wire before their responses (off by default; HTTP/1.1 only:
    HTTP/2 multiplexes). ``expect_continue_timeout`` is HTTP/1.1's too.
    ``check_interval`` (endpoint): how often deadlines and the 100-continue wait are checked.
    ``max_per_key`` / ``idle_timeout`` (client): keep-alive pool size per origin and how long
    an idle connection is kept.
    ``http2``: ``"alpn"`` (default: over TLS offer h2 and http/1.1, speak what the server
    picked), ``"off"`` (HTTP/1.1 only) or ``"require"`` (HTTP/2 only; another ALPN answer is an
    error); see :mod:`boomnet.http.negotiate`.
    ``h2c``: plain ``http://`` origins speak HTTP/2 with prior knowledge (RFC 9113 3.3).
    ``retries``: how many times a request the server certainly did not process (an HTTP/2
    stream above a GOAWAY's last stream id, or refused with ``REFUSED_STREAM``) is sent again on
    another connection (requests never written at all do not count).
    """

    limits: HttpLimits = DEFAULT_LIMITS
    request_timeout: float = 30.0
    expect_continue_timeout: float = 1.0
    headers: tuple[tuple[str, str], ...] = ()
    pipelining: bool = False
    max_pipeline: int = 8
    check_interval: float = 0.05
    max_per_key: int = 10
    idle_timeout: float = 30.0
    http2: str = "alpn"
    h2c: bool = False
    retries: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.limits, HttpLimits):
            raise LocalError(f"limits must be an HttpLimits, not {type(self.limits).__name__}")
        for name in ("request_timeout", "expect_continue_timeout", "check_interval", "idle_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
                raise LocalError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_pipeline", "max_per_key"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LocalError(f"{name} must be an int >= 1, not {value!r}")
        for name in ("pipelining", "h2c"):
            if not isinstance(getattr(self, name), bool):
                raise LocalError(f"{name} must be a bool, not {getattr(self, name)!r}")
        if self.http2 not in ("alpn", "off", "require"):
            raise LocalError(f"http2 must be 'alpn', 'off' or 'require', not {self.http2!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise LocalError(f"retries must be an int >= 0, not {self.retries!r}")
        headers: HeadersArg = self.headers  # any HeadersArg is accepted; stored as a tuple of pairs
        object.__setattr__(self, "headers", tuple(header_pairs(headers)))

    def replace(self, **changes: object) -> HttpOptions:
        """A copy with ``changes`` (unknown names are a ``TypeError``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_OPTIONS = HttpOptions()


def http_options(options: HttpOptions | None, overrides: dict[str, object]) -> HttpOptions:
    """``options`` (default :data:`DEFAULT_OPTIONS`) with ``overrides`` applied and validated."""
    if options is not None and not isinstance(options, HttpOptions):
        raise TypeError(f"http options must be an HttpOptions, not {type(options).__name__}")
    base = options or DEFAULT_OPTIONS
    return base.replace(**overrides) if overrides else base


def split_overrides(
    owner: str, overrides: dict[str, object]
) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """Split loose keywords into (HttpOptions, TcpOptions, TlsOptions) field changes, so
    ``HttpClient(ca_file=..., request_timeout=5)`` works like the option objects do; a name no
    options class has is a ``TypeError`` naming ``owner``."""
    from ..stream.options import TcpOptions, TlsOptions

    http_fields = HttpOptions.__dataclass_fields__
    tcp_fields = TcpOptions.__dataclass_fields__
    tls_fields = TlsOptions.__dataclass_fields__
    unknown = [k for k in overrides if k not in http_fields and k not in tcp_fields and k not in tls_fields]
    if unknown:
        raise TypeError(f"{owner}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    return (
        {k: v for k, v in overrides.items() if k in http_fields},
        {k: v for k, v in overrides.items() if k in tcp_fields},
        {k: v for k, v in overrides.items() if k in tls_fields},
    )
