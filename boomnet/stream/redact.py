"""Redaction of secrets from recordings: outbound bytes by default, inbound on request.

A recording holds a stream's *plaintext*, so without redaction it holds the credentials the
client sent: HTTP ``Authorization`` / ``X-MBX-APIKEY`` headers, signed query strings
(``...&signature=...``), JSON login or order messages (``"apiKey"``, ``"signature"``), FIX Logon
passwords (tag 554). :class:`~boomnet.stream.RecordedStream` passes every ``write()`` through a
:class:`Redactor` before the bytes reach the file (``redact=DEFAULT_REDACTOR`` unless told
otherwise; ``redact=None`` records clear text and logs a WARNING).

The contract (any redactor honours it)
--------------------------------------
``redact_out(data) -> bytes`` returns bytes of the **same length** as ``data``, with secret bytes
overwritten (``*`` by default) and every other byte unchanged, or ``data`` itself when nothing
matched. Same length means a replay keeps every read boundary and offset; the recording's file
header says the outbound side was redacted, so a replay with ``compare_writes=True`` redacts what
it is given the same way before comparing. A redactor must be deterministic and may be shared by
many streams: :class:`RuleRedactor` is stateless. ``redact_in(data)`` (the
:class:`InboundRedactor` protocol) is the same for inbound reads; it is **off by default**
because it would scan every byte of a market-data feed, and credentials are what *we* send;
turn it on with ``RecordedStream(..., redact_in=DEFAULT_REDACTOR)`` when a response echoes a
token (a REST ``listenKey`` reply, an OAuth token response).

What is guaranteed
------------------
``redact_out(data)`` alone works **per call**: a secret whose name and value are in ``data`` is
masked, and a value still open at the end of ``data`` is masked to its end. A
:class:`RuleRedactor` given to ``RecordedStream`` does more: the stream keeps, between calls,
the unfinished line of what came before (the bytes after the last ``\n`` or FIX SOH, at most
:data:`CONTEXT_LIMIT` = 1 KiB, in memory only) and passes it to :meth:`RuleRedactor.redact_out_after`
/ :meth:`~RuleRedactor.redact_in_after`, so a secret split across writes (or, inbound, across
reads, which TCP splits anywhere) is still masked — as long as its name starts within the last
1 KiB of the current line. Another :class:`Redactor` is called per write, without context.
boomnet's own clients write one unit per call anyway (an HTTP request head, with its body when
small; one WebSocket frame; one FIX message). Masked WebSocket client frames are
unmasked, redacted and re-masked with their own key (one or more whole frames per call, the
last one possibly cut short; the fragments of one message share the carried line, a final
fragment ends it; a single frame split across writes is not followed); a compressed message
(RSV1, permessage-deflate; boomnet's client never sends one) cannot be read without its
compression context, so the whole payload of each of its frames is masked (fail closed; its
continuation frames too, in later writes as well), provided the write that starts it is exactly
whole frames. Not covered: a write of whole masked frames that ends inside the *header* or mask
key of the next one is taken as plain text as a whole, so the frames before the cut are not
redacted (boomnet's own writers never write a partial frame; a custom writer that does should
write frame by frame).

Default rules (:data:`DEFAULT_RULES`), all matched case-insensitively
---------------------------------------------------------------------
* HTTP header values: ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``,
  ``X-MBX-APIKEY``, ``X-API-KEY``, ``X-Auth-Token``, ``X-Access-Token`` and the common venue key /
  signature / passphrase headers (OKX ``OK-ACCESS-*``, Bybit ``X-BAPI-*``, Coinbase ``CB-ACCESS-*``,
  Kraken ``API-Key`` / ``API-Sign``). ``Sec-WebSocket-Key`` is *not* a secret (a replay needs it).
* ``name=value`` parameters at the start of a line or after ``?``, ``&`` or ``;`` (request lines
  and form bodies): ``signature``, ``apiKey``, ``api_key``, ``token``, ``access_token``,
  ``password``, ``secret``, ``passphrase``, ``listenKey``, ``key``, ``sign``.
* JSON fields (string or scalar value): ``apiKey``, ``api_key``, ``apiSecret``, ``api_secret``,
  ``signature``, ``secret``, ``secretKey``, ``secret_key``, ``password``, ``passphrase``, ``token``,
  ``accessToken``, ``access_token``, ``refreshToken``, ``refresh_token``, ``client_secret``,
  ``clientSecret`` (Deribit), ``listenKey``, ``privateKey``, ``private_key``, ``sign`` (OKX),
  ``key`` (Coinbase). A ``listenKey`` is a bearer credential for the account's user-data stream,
  hence listed; a listen key in a URL *path* (``/ws/<listenKey>``) is not a named field: add a
  pattern for it. ``key`` also masks harmless fields that happen to be called so (a recording
  loses that value, the stream never does).
* Positional credentials: the whole ``args`` array of ``{"op": "auth" | "authKeyExpires" |
  "login", "args": [...]}`` (Bybit, BitMEX; either key order).
* FIX tags: 554 Password, 925 NewPassword, 96 RawData (venue signatures), 91 SecureData,
  89 Signature, 1401 EncryptedPassword, 1402 EncryptedNewPassword. 553 Username stays (an
  identity, not a credential).

Extend with ``DEFAULT_REDACTOR.with_headers("X-My-Key")``, ``.with_json_fields(...)``,
``.with_query_params(...)``, ``.with_fix_tags(...)``, ``.with_patterns(rb"/ws/([A-Za-z0-9]+)")``
(a pattern masks its group 1, or its whole match if it has no group), or build
``RuleRedactor(RedactionRules(...))``. Rules are compiled once: one regular expression for the
built-in rules, one literal pre-check, and each extra pattern as given (always run).

Cost (``perf/record_stall.py``, loaded 2-core box): a write with no rule name in it costs one
scan for the names as plain literals over the lower-cased bytes (0.7 µs for a 77-byte JSON
subscription, 1.3 µs for a 194-byte order, ~120 µs for 16 KiB of binary); only writes that contain
a name pay for the full expression and the masking (7.5 µs for an order with apiKey and
signature). A masked WebSocket frame adds an unmask and re-mask (4 µs for the order in a frame).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from ..errors import LocalError

__all__ = [
    "Redactor", "InboundRedactor", "RedactionRules", "RuleRedactor", "DEFAULT_RULES", "DEFAULT_REDACTOR",
    "CONTEXT_LIMIT",
]


class Redactor(Protocol):
    """Masks secrets in outbound bytes: same length out, secret bytes overwritten."""

    def redact_out(self, data: bytes) -> bytes: ...


class InboundRedactor(Protocol):
    """Masks secrets in inbound bytes: same length out, secret bytes overwritten."""

    def redact_in(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class RedactionRules:
    """The names whose values are secrets. Frozen; extend with :func:`dataclasses.replace` or the
    ``with_*`` methods of :class:`RuleRedactor`."""

    headers: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()
    json_fields: tuple[str, ...] = ()
    fix_tags: tuple[int, ...] = ()
    #: ``{"op": <name>, "args": [...]}`` messages whose args are positional credentials (Bybit,
    #: BitMEX): the whole args array is masked
    json_auth_ops: tuple[str, ...] = ()
    #: extra regular expressions (bytes or str, compiled ASCII); group 1 (or the match) is masked
    patterns: tuple[bytes | str, ...] = ()
    #: the byte written over every secret byte
    fill: bytes = b"*"

    def __post_init__(self) -> None:
        for field in ("headers", "query_params", "json_fields", "fix_tags", "json_auth_ops", "patterns"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)) or not isinstance(value, tuple):
                raise TypeError(f"RedactionRules.{field} must be a tuple, got {type(value).__name__}")
        for name in self.headers + self.query_params + self.json_fields + self.json_auth_ops:
            if not isinstance(name, str) or not name or not _TOKEN.fullmatch(name):
                raise LocalError(f"not a header/parameter/field name: {name!r}")
        for tag in self.fix_tags:
            if not isinstance(tag, int) or isinstance(tag, bool) or tag <= 0:
                raise LocalError(f"not a FIX tag number: {tag!r}")
        if not isinstance(self.fill, bytes) or len(self.fill) != 1:
            raise LocalError(f"fill must be one byte, got {self.fill!r}")


_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")

#: how much of an unfinished line a stream carries into its next redaction (bytes)
CONTEXT_LIMIT = 1024

DEFAULT_RULES = RedactionRules(
    headers=(
        "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
        "X-MBX-APIKEY", "X-API-KEY", "X-Auth-Token", "X-Access-Token", "API-Key", "API-Sign",
        "OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-PASSPHRASE",
        "X-BAPI-API-KEY", "X-BAPI-SIGN", "CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-PASSPHRASE",
    ),
    query_params=(
        "signature", "apiKey", "api_key", "token", "access_token", "password", "secret",
        "passphrase", "listenKey", "key", "sign",
    ),
    json_fields=(
        "apiKey", "api_key", "apiSecret", "api_secret", "signature", "secret", "secretKey", "secret_key",
        "password", "passphrase", "token", "accessToken", "access_token", "refreshToken", "refresh_token",
        "client_secret", "clientSecret", "listenKey", "privateKey", "private_key", "sign", "key",
    ),
    fix_tags=(554, 925, 96, 91, 89, 1401, 1402),
    json_auth_ops=("auth", "authKeyExpires", "login"),
)


def _alternatives(names: Iterable[str]) -> bytes:
    # lower case (the data is lowered before matching); every branch is followed by a required
    # separator, so backtracking finds "secretkey" after "secret" whatever the order: sorted only
    # to make the pattern stable
    unique = {n.lower().encode() for n in names}
    return b"|".join(re.escape(n) for n in sorted(unique))


def _needles(rules: RedactionRules) -> tuple[bytes, ...]:
    """The fewest lower-case substrings one of which every rule match contains: a name that
    contains another name is covered by it (``x-mbx-apikey`` by ``key``, ``signature`` by
    ``sign``). No match of their plain alternation proves no built-in rule can match; that scan
    of literals is ~4x cheaper than the full expression (measured: 0.6 µs for a 77-byte
    subscription, 1.3 µs for a 194-byte order)."""
    names = {n.lower().encode() for n in rules.headers + rules.query_params + rules.json_fields + rules.json_auth_ops}
    names |= {b"%d=" % t for t in rules.fix_tags}
    minimal = {n for n in names if not any(o != n and o in n for o in names)}
    return tuple(sorted(minimal, key=len))


def _compile(rules: RedactionRules) -> tuple[re.Pattern[bytes] | None, tuple[re.Pattern[bytes], ...]]:
    """One case-sensitive expression over the *lower-cased* data with ``\n`` prepended.

    Every branch then starts with a character class (``\n``, ``?&;``, ``"``, SOH), which lets the
    regex engine skip to candidate positions instead of trying every branch at every byte (about
    3x faster than ``re.IGNORECASE`` with ``^`` anchors); lower-casing bytes keeps every offset."""
    parts = []
    if rules.headers:
        # at a line start; the value up to the end of the line (or of the data)
        parts.append(rb"\n(?:" + _alternatives(rules.headers) + rb")[ \t]*:[ \t]*([^\r\n]*)")
    if rules.query_params:
        parts.append(rb"[?&;\n](?:" + _alternatives(rules.query_params) + rb")=([^&;#\s\"']*)")
    if rules.json_fields:
        # "name" : "string value (escapes kept inside)"  or  "name" : scalar
        parts.append(
            rb"\"(?:" + _alternatives(rules.json_fields) + rb")\"\s*:\s*"
            rb"(?:\"([^\"\\]*(?:\\.[^\"\\]*)*)|([^\s\",}\]\[{][^,}\]\s]*))"  # unrolled: no per-char branch
        )
    if rules.json_auth_ops:
        ops = _alternatives(rules.json_auth_ops)
        op = rb"\"op\"\s*:\s*\"(?:" + ops + rb")\""
        args = rb"\"args\"\s*:\s*\["
        parts.append(op + rb"\s*,\s*" + args + rb"([^\]]*)")  # "op" first: args to "]" or the end
        parts.append(args + rb"([^\]]*)\]\s*,\s*" + op)  # "args" first
    if rules.fix_tags:
        tags = b"|".join(str(t).encode() for t in sorted(set(rules.fix_tags)))
        parts.append(rb"[\x01\n](?:" + tags + rb")=([^\x01]*)")
    combined = re.compile(b"|".join(parts)) if parts else None
    extra = tuple(re.compile(p if isinstance(p, bytes) else p.encode("ascii")) for p in rules.patterns)
    return combined, extra


class RuleRedactor:
    """A stateless :class:`Redactor` (and :class:`InboundRedactor`) built from
    :class:`RedactionRules`; compiled once at construction."""

    __slots__ = ("_extra", "_fill", "_needles", "_rx", "rules")

    def __init__(self, rules: RedactionRules = DEFAULT_RULES) -> None:
        if not isinstance(rules, RedactionRules):
            raise TypeError(f"rules must be RedactionRules, got {type(rules).__name__}")
        self.rules = rules
        self._rx, self._extra = _compile(rules)
        needles = _needles(rules)
        # every rule behind _rx has a name, so _rx exists only with needles (an empty alternation,
        # for rules without names, matches everywhere: it is never consulted then)
        self._needles = re.compile(b"|".join(re.escape(n) for n in needles))
        (self._fill,) = rules.fill  # one byte (checked by RedactionRules)

    # --- extension ----------------------------------------------------------------------------

    def with_headers(self, *names: str) -> RuleRedactor:
        return RuleRedactor(replace(self.rules, headers=self.rules.headers + names))

    def with_query_params(self, *names: str) -> RuleRedactor:
        return RuleRedactor(replace(self.rules, query_params=self.rules.query_params + names))

    def with_json_fields(self, *names: str) -> RuleRedactor:
        return RuleRedactor(replace(self.rules, json_fields=self.rules.json_fields + names))

    def with_fix_tags(self, *tags: int) -> RuleRedactor:
        return RuleRedactor(replace(self.rules, fix_tags=self.rules.fix_tags + tags))

    def with_patterns(self, *patterns: bytes | str) -> RuleRedactor:
        return RuleRedactor(replace(self.rules, patterns=self.rules.patterns + patterns))

    # --- the protocol -------------------------------------------------------------------------

    def redact_out(self, data: bytes) -> bytes:
        """``data`` with secrets masked (same length); ``data`` itself if nothing matched."""
        if len(data) >= 6 and data[1] & 0x80:  # equivalent-mutant: 6 -> 5, 128 -> 129: a pre-filter only: what it lets through in addition (5 bytes, or no mask bit) _masked_frames refuses, and the plain path runs as before
            framed = self._redact_frames(b"", data)
            if framed is not None:
                return framed[0]
        return self._redact_plain(data)

    def redact_out_after(self, context: bytes, data: bytes) -> tuple[bytes, bytes]:
        """:meth:`redact_out` for ``data`` written after ``context`` (what the previous call on
        the same stream returned as context; ``b""`` at first): ``(redacted data, context for
        the next call)``. A secret begun in an earlier write is found here."""
        if len(data) >= 6 and data[1] & 0x80:  # equivalent-mutant: 6 -> 5, 128 -> 129: a pre-filter only: what it lets through in addition (5 bytes, or no mask bit) _masked_frames refuses, and the plain path runs as before
            framed = self._redact_frames(context, data)
            if framed is not None:
                return framed
        return self._redact_after(context, data)

    def redact_in_after(self, context: bytes, data: bytes) -> tuple[bytes, bytes]:
        """:meth:`redact_in` for a read that follows ``context`` (see :meth:`redact_out_after`)."""
        return self._redact_after(context, data)

    def _redact_after(self, context: bytes, data: bytes) -> tuple[bytes, bytes]:
        if context:
            joined = context + data
            red = self._redact_plain(joined)
            out = data if red is joined else red[len(context) :]
        else:
            joined = data
            out = self._redact_plain(data)
        # carry the unfinished line: a name there may own a value that continues next time
        cut = max(joined.rfind(b"\n"), joined.rfind(b"\x01")) + 1
        cut = max(cut, len(joined) - CONTEXT_LIMIT)  # of a long line, only its last CONTEXT_LIMIT bytes
        return out, joined[cut:]

    def redact_in(self, data: bytes) -> bytes:
        """Inbound: the same rules (server frames are not masked, so no framing is needed)."""
        return self._redact_plain(data)

    def _redact_plain(self, data: bytes) -> bytes:
        out: bytearray | None = None
        rx = self._rx
        if rx is not None:
            low = data.lower()
            if self._needles.search(low) is None:  # the fast path
                rx = None
        if rx is not None:
            low = b"\n" + low  # offsets in low are offsets in data + 1
            m = rx.search(low)
            if m is not None:
                out = bytearray(data)
                for found in rx.finditer(low, m.start()):
                    for start, end in found.regs[1:]:
                        if end > start:  # unmatched groups are (-1, -1)  # equivalent-mutant: Gt -> GtE: an empty fill into an empty slice leaves out (already a copy: m matched) unchanged
                            out[start - 1 : end - 1] = self._fill_bytes(end - start)
        for pattern in self._extra:
            group = 1 if pattern.groups else 0
            for m in pattern.finditer(data):
                start, end = m.span(group)
                if end > start:
                    if out is None:
                        out = bytearray(data)
                    out[start:end] = self._fill_bytes(end - start)
        return data if out is None else bytes(out)

    def _fill_bytes(self, n: int) -> bytes:
        return bytes((self._fill,)) * n

    def _redact_frames(self, context: bytes, data: bytes) -> tuple[bytes, bytes] | None:
        """Masked client WebSocket frames tiling ``data`` (the last may be cut short): each
        payload unmasked, redacted, re-masked; ``(data, context)``, or ``None`` if ``data`` is
        not such frames. ``context`` carries the unfinished line of a fragmented message from
        fragment to fragment; a final fragment ends it (a secret never spans two messages)."""
        spans = _masked_frames(data)
        if spans is None:
            return None
        out: bytearray | None = None
        # inside a compressed (RSV1) message its continuations are deflated bytes too: the state
        # crosses writes as a sentinel context (were a carried line ever equal to it, more is masked)
        deflating = context == _DEFLATING
        if deflating:
            context = b""
        for fin, rsv1, opcode, key_at, start, end in spans:
            if opcode < 8:  # equivalent-mutant: 8 -> 7: _masked_frames refuses the reserved opcodes 3-7, so no frame here has opcode 7
                if opcode:  # a message's first frame decides whether the message is compressed
                    deflating = rsv1
                if deflating:
                    if end > start:
                        if out is None:
                            out = bytearray(data)
                        out[start:end] = _unmask(self._fill_bytes(end - start), data[key_at : key_at + 4])
                    context = b""
                    deflating = not fin
                    continue
            if end == start:
                continue
            key = data[key_at : key_at + 4]
            if opcode >= 8:  # close / ping / pong: may sit between fragments, leave their context alone  # equivalent-mutant: 8 -> 7: _masked_frames refuses the reserved opcodes 3-7, so no frame here has opcode 7
                clear = _unmask(data[start:end], key)
                red = self._redact_plain(clear)
                if red is clear:
                    red = b""
            else:  # (a message's first frame follows a FIN, which ended the context)
                clear = _unmask(data[start:end], key)
                red, context = self._redact_after(context, clear)
                if red is clear:
                    red = b""
            if red:
                if out is None:
                    out = bytearray(data)
                out[start:end] = _unmask(red, key)
            if fin and opcode < 8:  # equivalent-mutant: 8 -> 7: no frame here has a reserved opcode 3-7 (_masked_frames refuses them)
                context = b""
        return (data if out is None else bytes(out)), (_DEFLATING if deflating else context)


#: the context that says "the next frames continue a compressed message" (see _redact_frames)
_DEFLATING = b"\x00\xffdeflating\xff\x00"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
_OPCODES = frozenset((0, 1, 2, 8, 9, 10))


def _masked_frames(data: bytes) -> list[tuple[bool, bool, int, int, int, int]] | None:
    """``[(fin, rsv1, opcode, mask key offset, payload start, payload end)]`` if ``data`` is a run of
    masked client frames (RFC 6455 §5.2), the last possibly cut short; else ``None``.

    Text protocols never parse: ASCII letters, ``{``, ``[`` and ``8`` (FIX) set RSV2/RSV3 or a
    reserved opcode in the first byte. Random binary data can, by chance (measured: 1.6% of
    random 20-byte writes, 0.02% of 200-byte ones); that only costs a scan of the unmasked
    bytes, except for a compressed frame, whose payload is masked whole: that needs a stricter
    proof (the frames tile ``data`` exactly, lengths in their shortest encoding, RSV1 only on a
    data frame's first fragment), which random 20-byte writes pass 1 time in 15,000 (their
    *recorded* copy is then masked; the stream is never changed)."""
    pos, size, frames, strict = 0, len(data), [], True
    while pos < size:
        if pos + 2 > size:  # equivalent-mutant: Gt -> GtE, 2 -> 3: with exactly 2 bytes left no masked frame fits (its header is at least 6 bytes): every path below returns None too
            return None
        b0, b1 = data[pos], data[pos + 1]
        opcode = b0 & 0x0F
        if b0 & 0x30 or opcode not in _OPCODES or not b1 & 0x80:
            return None
        rsv1 = bool(b0 & 0x40)
        n = b1 & 0x7F
        at = pos + 2
        if opcode >= 8 and (n > 125 or not b0 & 0x80 or rsv1):  # equivalent-mutant: 8 -> 7: opcode 7 (reserved) was refused just above
            return None
        if n == 126:
            if at + 2 > size:  # equivalent-mutant: Gt -> GtE, 2 -> 3: at + 2 == size leaves no room for the mask key: the key check below returns None too
                return None
            (n,) = _U16.unpack_from(data, at)
            strict = strict and n >= 126
            at += 2
        elif n == 127:
            if at + 8 > size:  # equivalent-mutant: Gt -> GtE, 8 -> 9: at + 8 == size leaves no room for the mask key: the key check below returns None too
                return None
            (n,) = _U64.unpack_from(data, at)
            strict = strict and 1 << 16 <= n < 0x8000000000000000  # equivalent-mutant: Lt -> LtE, 9223372036854775808 -> 9223372036854775809, 9223372036854775808 -> 9223372036854775807: a frame of 2**63 - 1 bytes or more cannot end where the write ends, so strict (which needs pos == size) is false for it either way
            at += 8
        if at + 4 > size:
            return None
        start = at + 4
        end = min(start + n, size)
        frames.append((bool(b0 & 0x80), rsv1, opcode, at, start, end))
        pos = start + n
    if any(f[1] for f in frames) and not (strict and pos == size and all(f[2] != 0 for f in frames if f[1])):
        return None
    return frames


def _unmask(payload: bytes, key: bytes) -> bytes:
    """XOR with the repeating 4-byte key (its own inverse), as one big-int operation."""
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]  # equivalent-mutant: 1 -> 2, 4 -> 3: the repeated key only has to reach n bytes before [:n] cuts it
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


#: The default redactor: :data:`DEFAULT_RULES`, shared (it is stateless).
DEFAULT_REDACTOR = RuleRedactor(DEFAULT_RULES)
