"""The TLS engines' small contracts, on the engine objects themselves (memory mode, no peer):
``has_outgoing`` answers for a single waiting byte, errors translate into the right
:mod:`boomnet.errors` class with their reason, and a pyOpenSSL read that finds no data is never a
silent ``None``. The end-to-end paths (real handshakes, cuts, resets) are in test_tls_close.py.

Some of the errors below cannot be produced by a peer on this install (pyOpenSSL 26 maps
OpenSSL 3's "unexpected eof" to ``SysCallError`` itself); they are the translations older or
differently built bindings reach, so the table is pinned here directly.
"""

from __future__ import annotations

import ssl

import pytest

from boomnet.errors import CertificateError, ConnectionClosed, TlsError, TruncatedStream
from boomnet.stream.options import TlsOptions
from boomnet.stream.tls import tls_context
from boomnet.stream.tls_engines import PyOpenSslEngine, StdlibEngine


def stdlib_engine() -> StdlibEngine:
    return StdlibEngine(tls_context(TlsOptions()), "localhost", None)


def pyopenssl_engine(verify: bool = True) -> PyOpenSslEngine:
    return PyOpenSslEngine(tls_context(TlsOptions(backend="pyopenssl", verify=verify)), "localhost", None, verify)


def openssl_error(text: str) -> Exception:
    from OpenSSL import SSL

    return SSL.Error([("SSL routines", "", text)])


# --- has_outgoing at its boundary: 0 bytes waiting, then exactly 1 ---------------------------------


def test_stdlib_has_outgoing_sees_a_single_waiting_byte() -> None:
    engine = stdlib_engine()
    assert not engine.has_outgoing()
    assert engine._out is not None
    engine._out.write(b"x")  # what the engine would send next: one byte is still something to send
    assert engine.has_outgoing()
    assert engine.outgoing() == b"x"
    assert not engine.has_outgoing()


def test_pyopenssl_has_outgoing_sees_a_single_waiting_byte() -> None:
    from OpenSSL._util import lib

    engine = pyopenssl_engine()
    assert engine._bio_pending is not None  # the cheap check, not the "always ask" fallback
    assert not engine.has_outgoing()
    assert lib.BIO_write(engine._conn._from_ssl, b"x", 1) == 1
    assert engine.has_outgoing()
    assert engine.outgoing() == b"x"
    assert not engine.has_outgoing()


# --- pyOpenSSL: a failed read is an answer, never None -----------------------------------------


def test_pyopenssl_read_whose_error_check_returns_is_a_close_not_none(monkeypatch) -> None:
    """``SSL_read`` <= 0 and pyOpenSSL's error check returning without raising (it does so only
    for SSL_ERROR_NONE) must still end the read loudly, not hand ``None`` to the caller."""
    from OpenSSL import SSL

    monkeypatch.setattr(SSL.Connection, "_raise_ssl_error", lambda self, ssl_ptr, result: None)
    engine = pyopenssl_engine()
    assert engine.read_into != engine._read_into  # the cffi reader, which holds this check
    with pytest.raises(ConnectionClosed, match="no data"):
        engine.read_into(bytearray(16))


# --- error translation --------------------------------------------------------------------------


def test_pyopenssl_unexpected_eof_after_the_handshake_is_a_truncation() -> None:
    engine = pyopenssl_engine()
    engine._handshaking = False
    err = engine._translate(openssl_error("unexpected eof while reading"))
    assert isinstance(err, TruncatedStream), err


def test_pyopenssl_unexpected_eof_during_the_handshake_is_a_tls_error() -> None:
    engine = pyopenssl_engine()
    assert engine._handshaking
    err = engine._translate(openssl_error("unexpected eof while reading"))
    assert type(err) is TlsError, err
    assert "unexpected eof" in str(err)


def test_pyopenssl_verify_failure_named_only_by_the_error_text_is_a_certificate_error() -> None:
    """OpenSSL's verify result may be unset (X509_V_OK) when the failure is reported only in the
    error text: still a CertificateError, with that text."""
    engine = pyopenssl_engine()
    assert engine._verify_failure() is None  # no verification has run on this connection
    err = engine._translate(openssl_error("certificate verify failed"))
    assert isinstance(err, CertificateError), err
    assert "certificate verify failed" in str(err)


def test_pyopenssl_other_handshake_failure_is_not_blamed_on_the_certificate() -> None:
    engine = pyopenssl_engine()
    err = engine._translate(openssl_error("wrong version number"))
    assert type(err) is TlsError, err
    assert "wrong version number" in str(err)


def test_pyopenssl_verify_off_never_reports_a_certificate_error() -> None:
    engine = pyopenssl_engine(verify=False)
    err = engine._translate(openssl_error("certificate verify failed"))
    assert type(err) is TlsError, err


def test_stdlib_ssl_error_without_a_reason_keeps_its_text() -> None:
    """An ``ssl.SSLError`` built without OpenSSL's reason code (``reason is None``) still says why."""
    engine = stdlib_engine()
    raw = ssl.SSLError(1, "the record layer gave up")
    raw.reason = None  # what _ssl sets when OpenSSL's error queue held no reason
    err = engine._translate(raw)
    assert type(err) is TlsError, err
    assert "the record layer gave up" in str(err) and "None" not in str(err)


def test_stdlib_ssl_error_with_a_reason_names_it() -> None:
    engine = stdlib_engine()
    raw = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    raw.reason = "WRONG_VERSION_NUMBER"
    err = engine._translate(raw)
    assert str(err).endswith(": WRONG_VERSION_NUMBER"), err


def test_stdlib_fill_raises_an_end_found_before_any_byte_and_returns_one_found_after() -> None:
    """``fill`` reports an end with the bytes read before it; with none, it raises the end."""

    class Script:
        def __init__(self, *steps) -> None:
            self.steps = list(steps)

        def read(self, n: int, buf) -> int:
            step = self.steps.pop(0)
            if isinstance(step, BaseException):
                raise step
            buf[: len(step)] = step
            return len(step)

    engine = stdlib_engine()
    engine._in = None  # as in direct mode: fill reads until the object says want-read
    bad_mac = ssl.SSLError(1, "bad record mac")
    engine._obj = Script(bad_mac)
    with pytest.raises(TlsError) as caught:
        engine.fill(bytearray(16))
    assert caught.value.__cause__ is bad_mac
    engine._obj = Script(b"abc", bad_mac)
    buf = bytearray(16)
    n, end = engine.fill(buf)
    assert (n, bytes(buf[:3]), type(end)) == (3, b"abc", TlsError) and end.__cause__ is bad_mac
    engine._obj = Script(b"")  # close_notify before any byte
    with pytest.raises(ConnectionClosed, match="close_notify"):
        engine.fill(bytearray(16))
    engine._obj = Script(b"xy", b"")
    n, end = engine.fill(bytearray(16))
    assert n == 2 and type(end) is ConnectionClosed
    engine._obj = Script(b"x", ssl.SSLWantReadError())
    assert engine.fill(bytearray(16)) == (1, None)


def test_stdlib_memory_fill_reads_only_while_something_is_held() -> None:
    """Memory mode: no read of an empty BIO (it could only raise want-read); a read while the BIO
    holds ciphertext or the object holds decrypted bytes; the loop stops when both are empty."""

    class Script:
        def __init__(self, engine: StdlibEngine, *steps: bytes) -> None:
            self.engine, self.steps, self.reads, self.left = engine, list(steps), 0, 0

        def read(self, n: int, buf) -> int:
            self.reads += 1
            step, self.left = self.steps.pop(0)
            buf[: len(step)] = step
            self.engine._in.read()  # the object took the ciphertext
            return len(step)

        def pending(self) -> int:
            return self.left

    engine = stdlib_engine()
    script = Script(engine, (b"abc", 0), (b"de", 4), (b"fghi", 0))
    engine._obj, engine.pending = script, script.pending
    assert engine.fill(bytearray(16)) == (0, None) and script.reads == 0  # nothing held: no read
    assert engine.held() == 0
    engine.feed(memoryview(b"\x17\x03\x03"))
    assert engine.held() == 3
    buf = bytearray(16)
    assert engine.fill(buf) == (3, None) and script.reads == 1 and bytes(buf[:3]) == b"abc"
    engine.feed(memoryview(b"x"))  # then decrypted bytes left inside the object: read on, BIO empty
    n, end = engine.fill(buf)
    assert (script.reads, n, end, bytes(buf[:n])) == (3, 6, None, b"defghi")
