"""HTTP options are typed and validated where they are written (issue 11, board contract 1)."""

from __future__ import annotations

import socket

import pytest

from boomnet.errors import LocalError
from boomnet.http import HttpClient, HttpConnection, HttpEndpoint, HttpLimits, HttpOptions, request
from boomnet.stream import TcpStream
from boomnet.stream.options import TcpOptions, TlsOptions


@pytest.mark.parametrize(
    "make",
    [
        lambda: HttpEndpoint("http://127.0.0.1:1", request_timout=1),
        lambda: HttpEndpoint("http://127.0.0.1:1", pipelinning=True),
        lambda: HttpClient(requst_timeout=1),
        lambda: HttpClient(cafile="x"),
        lambda: HttpOptions(max_pipline=2),
        lambda: HttpLimits(max_body=1),
    ],
)
def test_misspelt_keyword_is_a_type_error_at_construction(make):
    with pytest.raises(TypeError):
        make()


def test_misspelt_keyword_on_a_connection():
    a, b = socket.socketpair()
    try:
        with pytest.raises(TypeError):
            HttpConnection(TcpStream.from_socket(a), "h", limts=HttpLimits())
    finally:
        a.close()
        b.close()


def test_misspelt_keyword_on_one_shot_request_fails_before_connecting():
    with pytest.raises(TypeError):
        request("GET", "http://127.0.0.1:1/", verfy=False)


@pytest.mark.parametrize(
    "changes",
    [
        {"request_timeout": 0},
        {"request_timeout": -1},
        {"request_timeout": float("inf")},
        {"expect_continue_timeout": 0},
        {"check_interval": "fast"},
        {"max_pipeline": 0},
        {"max_per_key": 1.5},
        {"pipelining": "yes"},
        {"limits": {"max_body_size": 1}},
    ],
)
def test_values_out_of_range_are_local_errors(changes):
    with pytest.raises(LocalError):
        HttpOptions(**changes)
    with pytest.raises(LocalError):
        HttpClient(**changes)


@pytest.mark.parametrize("name", ["max_header_bytes", "max_header_count", "max_body_size", "max_chunk_line", "max_informational"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_limits_must_be_positive_ints(name, value):
    with pytest.raises(LocalError):
        HttpLimits(**{name: value})


def test_options_objects_and_overrides_compose():
    base = HttpOptions(pipelining=True, headers={"X-A": "1"})
    assert base.headers == (("X-A", "1"),)  # any HeadersArg, stored as pairs
    ep = HttpEndpoint("https://example.test/api", http=base, max_pipeline=3, ca_file="/tmp/ca.pem", connect_timeout=2.0)
    assert ep.options.pipelining and ep.options.max_pipeline == 3
    assert ep.tls.ca_file == "/tmp/ca.pem" and ep.tls.alpn == ("h2", "http/1.1") and ep.tls.verify
    assert ep.tcp.connect_timeout == 2.0 and ep.prefix == "/api"
    client = HttpClient(tcp=TcpOptions(connect_timeout=1.0), tls=TlsOptions(verify=False), request_timeout=4)
    assert client.timeout == 4 and client.tcp.connect_timeout == 1.0 and client.tls.verify is False
    assert client.tls.alpn == ("h2", "http/1.1")  # ALPN: HTTP/2 first, HTTP/1.1 as the fallback
    client.close()


def test_defaults_are_safe():
    options = HttpOptions()
    assert options.pipelining is False and options.limits == HttpLimits()
    ep = HttpEndpoint("https://example.test")
    assert ep.tls.verify is True  # verification on unless asked otherwise
    # the documented protocol defaults: ALPN decides (h2 first), no h2c guess, two retries of
    # requests the server certainly did not process
    assert (options.http2, options.h2c, options.retries) == ("alpn", False, 2)
    assert ep.tls.alpn == ("h2", "http/1.1")
    assert HttpEndpoint("https://example.test", http2="off").tls.alpn == ("http/1.1",)
    assert HttpEndpoint("https://example.test", http2="require").tls.alpn == ("h2",)


def test_without_the_h2_package_only_http11_is_offered(monkeypatch):
    from boomnet.errors import MissingExtra
    from boomnet.http import negotiate

    monkeypatch.setattr(negotiate, "H2_AVAILABLE", False)
    client = HttpClient()
    assert client.tls.alpn == ("http/1.1",)  # the server can still answer; responses say 1.1
    client.close()
    for changes in ({"h2c": True}, {"http2": "require"}):
        with pytest.raises(MissingExtra):
            HttpClient(**changes)
        with pytest.raises(MissingExtra):
            HttpEndpoint("https://example.test", **changes)
