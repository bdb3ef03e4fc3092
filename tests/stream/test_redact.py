"""The redaction rules, byte for byte: what is masked, what is kept, lengths always kept."""

from __future__ import annotations

import os
import random

import pytest

from boomnet.errors import LocalError
from boomnet.stream.redact import (
    CONTEXT_LIMIT,
    DEFAULT_REDACTOR,
    DEFAULT_RULES,
    RedactionRules,
    RuleRedactor,
    _needles,
    _unmask,
)
from boomnet.ws.encoder import encode_frame

R = DEFAULT_REDACTOR


def masked(data: bytes, secret: bytes) -> bytes:
    """``data`` with ``secret`` replaced by as many ``*``: what a correct redaction gives."""
    assert secret in data
    return data.replace(secret, b"*" * len(secret))


@pytest.mark.parametrize("name", DEFAULT_RULES.headers)
def test_every_default_header_is_masked_whatever_its_case(name: str) -> None:
    for spelled in (name, name.lower(), name.upper()):
        head = f"GET / HTTP/1.1\r\nHost: x\r\n{spelled}: s3cr3t-v4lue\r\nAccept: */*\r\n\r\n".encode()
        assert R.redact_out(head) == masked(head, b"s3cr3t-v4lue")


def test_header_value_is_masked_to_its_line_end_only() -> None:
    head = b"POST /api HTTP/1.1\r\nAuthorization: Bearer abc.def\r\nContent-Length: 2\r\n\r\n{}"
    assert R.redact_out(head) == masked(head, b"Bearer abc.def")
    first = b"Authorization:Basic dXNlcjpwYXNz\r\nHost: y\r\n\r\n"  # no space, at the very start
    assert R.redact_out(first) == masked(first, b"Basic dXNlcjpwYXNz")


def test_websocket_upgrade_headers_are_kept() -> None:
    head = (
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert R.redact_out(head) is head  # nothing secret: the very same object (no copy)


def test_header_name_must_start_the_line() -> None:
    head = b"GET / HTTP/1.1\r\nX-Not-Authorization: visible\r\nMy-Cookie: visible\r\n\r\n"
    assert R.redact_out(head) == head


@pytest.mark.parametrize("name", DEFAULT_RULES.query_params)
def test_every_default_query_parameter_is_masked(name: str) -> None:
    line = f"GET /api/v3/order?symbol=BTCUSDT&{name}=0a1b2c&timestamp=1 HTTP/1.1\r\nHost: h\r\n\r\n".encode()
    assert R.redact_out(line) == masked(line, b"0a1b2c")
    first = f"GET /x?{name.upper()}=0a1b2c HTTP/1.1\r\n\r\n".encode()
    assert R.redact_out(first) == masked(first, b"0a1b2c")


def test_signed_form_body_is_masked_in_its_own_write_and_after_the_head() -> None:
    body = b"symbol=BTCUSDT&side=BUY&timestamp=1&signature=c8db56825ae71d6d79447849e617115f"
    assert R.redact_out(body) == masked(body, b"c8db56825ae71d6d79447849e617115f")
    request = b"POST /api/v3/order HTTP/1.1\r\nContent-Length: 84\r\n\r\n" + body
    assert R.redact_out(request) == masked(request, b"c8db56825ae71d6d79447849e617115f")


@pytest.mark.parametrize("sep", [b"", b"\n", b";", b"?"])
def test_parameter_at_the_start_of_a_write_of_a_line_or_after_a_semicolon(sep: bytes) -> None:
    data = b"x=1" + sep + b"token=abc&y=2" if sep else b"token=abc&y=2"
    assert R.redact_out(data) == masked(data, b"abc")


def test_parameter_names_match_whole_names_only() -> None:
    line = b"GET /x?monkey=1&keys=2&tokens=3&designature=4 HTTP/1.1\r\n\r\n"
    assert R.redact_out(line) == line


@pytest.mark.parametrize("name", DEFAULT_RULES.json_fields)
def test_every_default_json_field_is_masked(name: str) -> None:
    msg = f'{{"id":1,"params":{{"{name}":"Zm9vYmFy","symbol":"BTCUSDT"}}}}'.encode()
    assert R.redact_out(msg) == masked(msg, b"Zm9vYmFy")


@pytest.mark.parametrize(
    "msg, secrets",
    [
        (b'{"op":"auth","args":["Xk3yX",1662350400000,"S1gS"]}', (b'"Xk3yX",1662350400000,"S1gS"',)),  # Bybit
        (b'{"args": ["Xk3yX", 1, "S1gS"], "op": "authKeyExpires"}', (b'"Xk3yX", 1, "S1gS"',)),  # BitMEX, args first
        (b'{"op":"login","args":[{"apiKey":"Xk3yX","passphrase":"P","timestamp":"1","sign":"S1gS"}]}',
         (b'{"apiKey":"Xk3yX","passphrase":"P","timestamp":"1","sign":"S1gS"}',)),  # OKX
        (b'{"method":"public/auth","params":{"grant_type":"client_credentials","client_id":"id",'
         b'"client_secret":"S1gS"}}', (b"S1gS",)),  # Deribit
        (b'{"type":"subscribe","channels":["user"],"signature":"S1gS","key":"Xk3yX","passphrase":"P"}',
         (b"S1gS", b"Xk3yX", b'"passphrase":"P'[-1:])),  # Coinbase
    ],
)
def test_venue_login_shapes(msg: bytes, secrets: tuple[bytes, ...]) -> None:
    out = R.redact_out(msg)
    expected = msg
    for secret in secrets:
        expected = masked(expected, secret)
    assert out == expected


def test_op_messages_that_are_not_logins_keep_their_args() -> None:
    msg = b'{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}'
    assert R.redact_out(msg) == msg


def test_json_values_with_escapes_spaces_and_scalars() -> None:
    msg = b'{"password" : "a\\"b\\\\c", "token":12345, "secret": true, "apiKey":"k"}'
    out = R.redact_out(msg)
    assert out == b'{"password" : "*******", "token":*****, "secret": ****, "apiKey":"*"}'
    assert len(out) == len(msg)


def test_json_value_open_at_the_end_of_the_write_is_masked_to_the_end() -> None:
    msg = b'{"method":"session.logon","params":{"apiKey":"vmPUZE6mv9SD5VNHk4Hl'
    assert R.redact_out(msg) == masked(msg, b"vmPUZE6mv9SD5VNHk4Hl")


def test_ordinary_feed_messages_are_untouched() -> None:
    for msg in (
        b'{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@bookTicker"],"id":1}',
        b'{"e":"trade","E":1,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","m":true}',
        b'{"keys":["a"],"signer":"x","tokenomics":"y","authority":"z"}',  # names that merely contain one
        random.Random(7).randbytes(4096),
    ):
        assert R.redact_out(msg) == msg


FIX_LOGON = (
    b"8=FIX.4.4\x019=120\x0135=A\x0134=1\x0149=CLIENT\x0152=20240101-00:00:00.000\x0156=VENUE\x01"
    b"95=8\x0196=c2lnbmVk\x0198=0\x01108=30\x01553=trader1\x01554=hunter2\x01925=newpass9\x0110=042\x01"
)


def test_fix_logon_password_new_password_and_raw_data_are_masked() -> None:
    out = R.redact_out(FIX_LOGON)
    expected = masked(masked(masked(FIX_LOGON, b"hunter2"), b"newpass9"), b"c2lnbmVk")
    assert out == expected
    assert b"553=trader1\x01" in out and b"95=8\x01" in out  # the username and lengths stay


def test_fix_tags_match_whole_tags_only() -> None:
    msg = b"8=FIX.4.4\x019=20\x011554=x\x015540=y\x0196=\x01196=z\x0110=000\x01"
    assert R.redact_out(msg) == msg  # 1554, 5540, 196 are other tags; an empty 96 has nothing to hide
    assert R.redact_out(b"554=first\x01") == b"554=*****\x01"  # a tag at the start of a write


def test_extension_adds_rules_and_keeps_the_defaults() -> None:
    custom = (
        R.with_headers("X-My-Key")
        .with_json_fields("pin")
        .with_query_params("sig2")
        .with_fix_tags(9001)
        .with_patterns(rb"/ws/([A-Za-z0-9]{20,})", rb"SESSION-[0-9]+")
    )
    data = (
        b"GET /ws/pqrstuvwxyz0123456789AB?sig2=abc HTTP/1.1\r\nX-My-Key: k1\r\nAuthorization: a\r\n\r\n"
        b'{"pin":"1234"}\x019001=t9\x01 SESSION-42'
    )
    out = custom.redact_out(data)
    for secret in (b"pqrstuvwxyz0123456789AB", b"abc", b"k1", b"1234", b"t9", b"SESSION-42"):
        assert secret not in out, secret
    assert b"Authorization: *" in out  # the defaults still apply
    assert len(out) == len(data)
    assert R.redact_out(data) != out  # the default redactor itself is unchanged


def test_rules_are_validated_at_construction() -> None:
    with pytest.raises(TypeError):
        RedactionRules(headers="Authorization")  # type: ignore[arg-type]  # a str is not a tuple of names
    with pytest.raises(TypeError):
        RuleRedactor(headers=("x",))  # type: ignore[call-arg]
    for bad in ({"headers": ("Bad Name",)}, {"json_fields": ("",)}, {"fix_tags": (0,)}, {"fix_tags": (True,)}, {"fill": b"**"}):
        with pytest.raises(LocalError):
            RedactionRules(**bad)  # type: ignore[arg-type]


def test_fill_byte_is_configurable() -> None:
    hashes = RuleRedactor(RedactionRules(json_fields=("apiKey",), fill=b"#"))
    assert hashes.redact_out(b'{"apiKey":"abc"}') == b'{"apiKey":"###"}'


# --- WebSocket client frames (masked) ---------------------------------------------------------


def unmask_frame(frame: bytes) -> bytes:
    """The payload of one masked client frame (header parsed by hand, RFC 6455 §5.2)."""
    n = frame[1] & 0x7F
    at = 2 + (2 if n == 126 else 8 if n == 127 else 0)
    return _unmask(frame[at + 4 :], frame[at : at + 4])


LOGON = b'{"id":"1","method":"session.logon","params":{"apiKey":"K3y-0f-the-acc0unt","signature":"S1gn4ture","timestamp":1}}'


def test_masked_websocket_frame_is_unmasked_redacted_and_remasked() -> None:
    frame = encode_frame(1, LOGON, True, os.urandom(4))
    out = R.redact_out(frame)
    assert len(out) == len(frame) and out[:6] == frame[:6]  # header and mask key unchanged
    assert unmask_frame(out) == masked(masked(LOGON, b"K3y-0f-the-acc0unt"), b"S1gn4ture")


def test_masked_frames_of_every_length_encoding_and_several_per_write() -> None:
    long = LOGON[:-1] + b',"pad":"' + b"x" * 70000 + b'"}'
    frames = [encode_frame(1, p, True, os.urandom(4)) for p in (LOGON, LOGON + b" " * 200, long)]
    for frame in frames:
        assert b"K3y-0f-the-acc0unt" not in unmask_frame(R.redact_out(frame))
    both = frames[0] + encode_frame(9, b"ping", True, os.urandom(4)) + frames[1]
    out = R.redact_out(both)
    assert len(out) == len(both)
    first = unmask_frame(out[: len(frames[0])])
    last = unmask_frame(out[len(both) - len(frames[1]) :])
    assert b"K3y-0f-the-acc0unt" not in first and b"K3y-0f-the-acc0unt" not in last
    assert b'"method":"session.logon"' in first  # only the secrets are masked


def test_ordinary_masked_frames_are_returned_as_they_are() -> None:
    frame = encode_frame(1, b'{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}', True, os.urandom(4))
    assert R.redact_out(frame) is frame
    pong = encode_frame(10, b"", True, os.urandom(4))
    assert R.redact_out(pong) is pong


def test_unmasked_frames_are_plain_text_to_the_rules() -> None:
    """A server's frames (a recorded server-side stream) are not masked: the rules see the JSON."""
    frame = encode_frame(1, LOGON, True, None)
    assert R.redact_out(frame) == masked(masked(frame, b"K3y-0f-the-acc0unt"), b"S1gn4ture")


def test_a_write_mixing_masked_and_unmasked_frames_is_plain_text() -> None:
    data = encode_frame(9, b"ping", True, os.urandom(4)) + encode_frame(1, LOGON, True, None)
    out = R.redact_out(data)
    assert b"K3y-0f-the-acc0unt" not in out and b"S1gn4ture" not in out


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1\x85\x01\x02\x03\x04abc",  # RSV1 frame cut short
        b"\xc1\xfe\x00\x05\x01\x02\x03\x04abcde",  # 5 bytes in the 16-bit length form
        b"\xc0\x83\x01\x02\x03\x04abc",  # RSV1 on a continuation frame
        b"\xc1\x83\x01\x02\x03\x04abc\x00",  # one byte more than the frame
    ],
)
def test_binary_that_only_resembles_a_compressed_frame_is_not_masked(data: bytes) -> None:
    assert R.redact_out(data) == data


def test_compressed_frame_payload_is_masked_whole() -> None:
    frame = bytearray(encode_frame(1, b"deflated bytes we cannot read", True, os.urandom(4)))
    frame[0] |= 0x40  # RSV1: permessage-deflate
    out = R.redact_out(bytes(frame))
    assert out[:6] == frame[:6] and unmask_frame(out) == b"*" * (len(frame) - 6)


def _compressed_message(parts: list[bytes]) -> list[bytes]:
    """A fragmented permessage-deflate message: RSV1 on its first frame only (RFC 7692 §6.1)."""
    frames = []
    for i, part in enumerate(parts):
        frame = bytearray(encode_frame(1 if i == 0 else 0, part, i == len(parts) - 1, os.urandom(4)))
        if i == 0:
            frame[0] |= 0x40
        frames.append(bytes(frame))
    return frames


@pytest.mark.parametrize("per_write", [False, True])
def test_every_frame_of_a_compressed_message_is_masked_whole_then_plain_again(per_write: bool) -> None:
    """The continuations of a compressed message hold deflated bytes too (they may carry the
    secret): masked whole, in the same write or in later ones; the next message is read again."""
    frames = _compressed_message([b"first deflated part", b'"apiKey":"K3y-in-a-continuation"', b"last"])
    after = encode_frame(1, LOGON, True, os.urandom(4))  # an uncompressed message after it
    writes = [*frames, after] if per_write else [b"".join(frames) + after]
    out = run_after(writes)
    pos = 0
    for frame in frames:
        assert unmask_frame(out[pos : pos + len(frame)]) == b"*" * (len(frame) - 6)
        pos += len(frame)
    assert unmask_frame(out[pos:]) == masked(masked(LOGON, b"K3y-0f-the-acc0unt"), b"S1gn4ture")


def test_control_frames_between_compressed_fragments_keep_the_deflate_state() -> None:
    """A ping, or even a close (a client must not send data after it, but the recording must fail
    closed whatever it is given), between the fragments of a compressed message: the control
    frames are read as usual and the continuation after them is still masked whole."""
    first, cont = _compressed_message([b"deflated", b'"apiKey":"K3y-after-a-control-frame"'])
    ping = encode_frame(9, b"are you there", True, os.urandom(4))
    close = encode_frame(8, b"\x03\xe8bye", True, os.urandom(4))
    for control in (ping, close):
        out = run_after([first, control, cont])
        assert unmask_frame(out[len(first) : len(first) + len(control)]) == unmask_frame(control)
        assert unmask_frame(out[len(first) + len(control) :]) == b"*" * (len(cont) - 6)


def test_a_compressed_frame_with_a_64_bit_length_is_masked_whole() -> None:
    """65,536 bytes and more use the 64-bit length: still the shortest encoding, so still proof."""
    for size in (65_536, 70_000):
        frame = _compressed_message([b"z" * size])[0]
        out = R.redact_out(frame)
        assert out[:14] == frame[:14] and unmask_frame(out) == b"*" * size


def test_an_empty_compressed_frame_is_returned_as_it_is() -> None:
    """Nothing to mask: the contract says the very same object comes back."""
    first, last = _compressed_message([b"", b""])
    assert R.redact_out(first) is first
    red, context = R.redact_out_after(b"", first)
    assert red is first
    assert R.redact_out_after(context, last)[0] is last


def test_the_prefilter_needles_cover_every_name_and_are_minimal() -> None:
    """The fast path skips the rules when no needle occurs: every rule's name must contain a
    needle (or a secret would be skipped), and no needle contains another (a shorter one finds
    the same writes)."""
    rules = DEFAULT_RULES
    names = {n.lower().encode() for n in rules.headers + rules.query_params + rules.json_fields + rules.json_auth_ops}
    names |= {b"%d=" % t for t in rules.fix_tags}
    needles = _needles(rules)
    assert needles and set(needles) <= names
    assert all(any(k in n for k in needles) for n in names)
    assert not any(a != b and a in b for a in needles for b in needles)


def test_rsv1_on_a_continuation_is_no_proof_of_frames() -> None:
    """RSV1 is legal on a message's first frame only (RFC 7692 §6.1): a write that is one
    "continuation" with RSV1 is not taken as WebSocket frames (random binary passes that often),
    so its payload is not unmasked and rewritten."""
    frame = bytearray(encode_frame(0, b'{"apiKey":"K3y-0f-the-acc0unt"}', True, os.urandom(4)))
    frame[0] |= 0x40
    assert R.redact_out(bytes(frame)) == bytes(frame)


def test_an_uncompressed_message_after_a_compressed_one_ends_the_deflate_state() -> None:
    frames = _compressed_message([b"only"])  # a whole compressed message (FIN): nothing continues
    plain = encode_frame(1, b'{"op":"subscribe"}', True, os.urandom(4))
    red, context = R.redact_out_after(b"", frames[0])
    assert context == b""
    assert R.redact_out_after(context, plain)[0] == plain


def test_frame_cut_short_at_the_end_of_the_write_is_still_redacted() -> None:
    frame = encode_frame(1, LOGON, True, os.urandom(4))
    cut = frame[: 6 + LOGON.index(b"0f-the")]  # ends inside the apiKey value
    out = R.redact_out(cut)
    assert unmask_frame(out).endswith(b'"apiKey":"' + b"*" * len(b"K3y-"))


def test_split_write_masks_the_first_part_only() -> None:
    """The documented limit (redaction is per write call): a value cut by a write boundary is
    masked up to the end of the first write; the rest, alone in the next write, has no name in
    front of it and is kept. boomnet's clients write whole units, so they never split one."""
    first, second = b'{"apiKey":"AAAA', b'BBBB","x":1}'
    assert R.redact_out(first) == b'{"apiKey":"****'
    assert R.redact_out(second) == second


# --- context across calls (what RecordedStream does with a RuleRedactor) ----------------------


def run_after(pieces: list[bytes], inbound: bool = False) -> bytes:
    """Redact ``pieces`` as consecutive writes (or reads) of one stream; their redactions joined."""
    step = R.redact_in_after if inbound else R.redact_out_after
    context, out = b"", []
    for piece in pieces:
        red, context = step(context, piece)
        assert len(red) == len(piece)
        out.append(red)
    return b"".join(out)


@pytest.mark.parametrize("inbound", [False, True])
@pytest.mark.parametrize(
    "whole, secret",
    [
        (b'{"id":1,"params":{"apiKey":"AAAABBBBCCCC","symbol":"X"}}', b"AAAABBBBCCCC"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer AAAABBBBCCCC\r\n\r\n", b"Bearer AAAABBBBCCCC"),
        (b"GET /api?timestamp=1&signature=AAAABBBBCCCC HTTP/1.1\r\n\r\n", b"AAAABBBBCCCC"),
        (FIX_LOGON, b"hunter2"),
    ],
)
def test_a_secret_split_anywhere_across_calls_is_masked(whole: bytes, secret: bytes, inbound: bool) -> None:
    expected = masked(whole, secret)
    if whole is FIX_LOGON:
        expected = R.redact_out(whole)
    for cut in range(1, len(whole)):  # every split point: in the name, the separator, the value
        assert run_after([whole[:cut], whole[cut:]], inbound) == expected, cut
    thirds = [whole[i : i + 5] for i in range(0, len(whole), 5)]  # and in many small pieces
    assert run_after(thirds, inbound) == expected


def test_context_is_the_unfinished_line_only() -> None:
    _, context = R.redact_out_after(b"", b"HTTP/1.1 200 OK\r\nX-Long: abc")
    assert context == b"X-Long: abc"
    _, context = R.redact_out_after(context, b"def\r\n")
    assert context == b""
    _, context = R.redact_out_after(b"", b"8=FIX.4.4\x019=5\x0135=A\x01554=hun")
    assert context == b"554=hun"
    _, context = R.redact_out_after(b"", encode_frame(1, b"x", True, os.urandom(4)))
    assert context == b""  # whole frames carry nothing


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_context_limit_boundary(extra: int) -> None:
    """The carried line is at most CONTEXT_LIMIT bytes: a name further back than that is lost."""
    head = b'"apiKey":"'  # the name starts the write: it is in the context while len <= limit
    first = head + b"A" * (CONTEXT_LIMIT - len(head) + extra)
    red, context = R.redact_out_after(b"", first)
    assert red == head + b"*" * (len(first) - len(head)) and len(context) == min(len(first), CONTEXT_LIMIT)
    rest, _ = R.redact_out_after(context, b'BBBB"}')
    assert (rest == b'****"}') is (extra <= 0)  # limit+1: the name's first byte fell out


def frames_after(frames: list[bytes]) -> list[bytes]:
    context, out = b"", []
    for frame in frames:
        red, context = R.redact_out_after(context, frame)
        out.append(unmask_frame(red))
    return out


def test_a_secret_split_across_fragments_of_one_message_is_masked() -> None:
    first = encode_frame(1, b'{"apiKey":"AAAA', False, os.urandom(4))
    ping = encode_frame(9, b"hb", True, os.urandom(4))  # a control frame (FIN set) between fragments
    last = encode_frame(0, b'BBBB","x":1}', True, os.urandom(4))
    assert frames_after([first, ping, last]) == [b'{"apiKey":"****', b"hb", b'****","x":1}']
    together = R.redact_out_after(b"", first + last)[0]
    assert unmask_frame(together[len(first) :]) == b'****","x":1}'


def test_a_new_message_starts_without_context() -> None:
    ended = encode_frame(1, b'{"apiKey":"AAAA', True, os.urandom(4))  # FIN: the message is over
    other = encode_frame(1, b'BBBB"}', True, os.urandom(4))
    assert frames_after([ended, other]) == [b'{"apiKey":"****', b'BBBB"}']


def test_rule_sets_must_be_tuples_and_rules_a_rule_set() -> None:
    for bad in ({"fix_tags": [554]}, {"patterns": [rb"x"]}, {"json_auth_ops": "auth"}):
        with pytest.raises(TypeError, match="must be a tuple"):
            RedactionRules(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RedactionRules"):
        RuleRedactor(("Authorization",))  # type: ignore[arg-type]


def test_tiny_writes_are_returned_as_they_are() -> None:
    for data in (b"", b"a", b"\x81", b"\x81\x80", b"\x81\x80\x00\x00\x00"):
        assert R.redact_out(data) is data
        assert R.redact_out_after(b"", data)[0] == data


def test_a_frame_followed_by_an_empty_control_frame_is_still_read() -> None:
    both = encode_frame(1, LOGON, True, os.urandom(4)) + encode_frame(10, b"", True, os.urandom(4))
    out = R.redact_out(both)
    assert b"K3y-0f-the-acc0unt" not in unmask_frame(out[:-6]) and out[-6:] == both[-6:]


# --- the frame parser's edges -------------------------------------------------------------------


def masked_frame(first: int, payload: bytes, length_form: int | None = None) -> bytes:
    """A masked frame with first byte ``first``, its length in the given form (7, 16 or 64 bits;
    the shortest by default), written by hand from RFC 6455 §5.2."""
    key = os.urandom(4)
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    head = bytes([first]) + (
        bytes([0x80 | n]) if form == 7 else bytes([0x80 | 126]) + n.to_bytes(2, "big") if form == 16
        else bytes([0x80 | 127]) + n.to_bytes(8, "big")
    )
    return head + key + _unmask(payload, key)


SECRET_FRAME = encode_frame(1, LOGON, True, b"\x01\x02\x03\x04")


@pytest.mark.parametrize(
    "bad",
    [
        masked_frame(0x89, b"p" * 126),  # a ping longer than 125 bytes
        masked_frame(0x88, b"\x03\xe8" + b"r" * 124),  # a close frame longer than 125 bytes
        masked_frame(0x09, b"p"),  # a ping without FIN
        masked_frame(0xC9, b"p"),  # a ping with RSV1
        masked_frame(0xA1, b"x"),  # RSV2
        masked_frame(0x91, b"x"),  # RSV3
        masked_frame(0x83, b"x"),  # a reserved opcode
        encode_frame(1, b"odd!!", True, None),  # unmasked, odd length (the mask bit is not bit 0)
    ],
)
def test_an_invalid_frame_makes_the_write_plain_bytes(bad: bytes) -> None:
    """Not a client's frame stream: the rules see the raw (still masked) bytes, nothing changes."""
    data = SECRET_FRAME + bad
    assert R.redact_out(data) == data


def test_a_ping_of_125_bytes_is_a_valid_frame() -> None:
    out = R.redact_out(masked_frame(0x89, b"p" * 125) + SECRET_FRAME)
    assert b"K3y-0f-the-acc0unt" not in unmask_frame(out[-len(SECRET_FRAME) :])


def test_a_first_fragment_alone_is_redacted() -> None:
    fragment = masked_frame(0x01, LOGON)  # FIN clear: more fragments follow
    assert b"K3y-0f-the-acc0unt" not in unmask_frame(R.redact_out(fragment))


@pytest.mark.parametrize(
    "n, form, whole",
    [(125, 16, False), (126, 16, True), (65535, 64, False), (65536, 64, True)],
)
def test_compressed_frames_need_the_shortest_length_form(n: int, form: int, whole: bool) -> None:
    frame = masked_frame(0xC1, b"z" * n, form)
    out = R.redact_out(frame)
    assert (out != frame) is whole
    if whole:
        assert unmask_frame(out) == b"*" * n


def test_control_frames_are_redacted_without_touching_the_context() -> None:
    close = masked_frame(0x88, b'\x03\xe8{"token":"t0k"}')
    assert unmask_frame(R.redact_out(close)) == b'\x03\xe8{"token":"***"}'


def test_a_long_line_before_the_last_newline_is_not_carried() -> None:
    _, context = R.redact_out_after(b"", b"x" * 2000 + b"\nX-Long: abc")
    assert context == b"X-Long: abc"


def test_the_smallest_fix_tag_is_valid() -> None:
    assert RuleRedactor(RedactionRules(fix_tags=(1,))).redact_out(b"1=acct\x01") == b"1=****\x01"


# --- the smallest masked frame: 6 bytes (header and key, no payload) --------------------------


def test_an_empty_fragment_between_two_others_keeps_the_message_context() -> None:
    """A 6-byte write is a whole masked frame: an empty continuation between two fragments must
    not end (or pollute) the context a secret spans."""
    first = encode_frame(1, b'{"apiKey":"AAAA', False, os.urandom(4))
    empty = encode_frame(0, b"", False, os.urandom(4))
    last = encode_frame(0, b'BBBB","x":1}', True, os.urandom(4))
    assert len(empty) == 6
    assert frames_after([first, empty, last]) == [b'{"apiKey":"****', b"", b'****","x":1}']


def test_the_header_and_key_of_an_empty_masked_frame_are_never_rewritten() -> None:
    """Rules apply to payloads; the 6 bytes of an empty masked frame are all framing, even when a
    user pattern would match them as plain bytes."""
    key = b"\x01\x02\x03\x04"
    frame = encode_frame(9, b"", True, key)
    assert frame == b"\x89\x80" + key
    red = RuleRedactor(DEFAULT_RULES).with_patterns(rb"(\x01\x02\x03\x04)")
    assert red.redact_out(frame) == frame
    assert red.redact_out_after(b"", frame) == (frame, b"")
    assert red.redact_out(b"xx" + key) == b"xx****"  # the same bytes as plain text are masked


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_a_control_frame_inside_a_fragmented_message_is_redacted_on_its_own(opcode: int) -> None:
    """Close, ping and pong (opcodes 8-10, the lowest is 8) between fragments are judged alone:
    the message's open context does not run into their payload, and they leave it alone."""
    first = encode_frame(1, b'{"apiKey":"AAAA', False, os.urandom(4))
    payload = b"\x03\xe8bye" if opcode == 8 else b"hb"
    control = encode_frame(opcode, payload, True, os.urandom(4))
    last = encode_frame(0, b'BBBB","x":1}', True, os.urandom(4))
    assert frames_after([first, control, last]) == [b'{"apiKey":"****', payload, b'****","x":1}']


def test_a_frame_cut_inside_its_mask_key_is_not_a_frame() -> None:
    """The key must be whole for the frame to be unmasked: three of its four bytes make the write
    plain text to the rules (here a user pattern that matches those bytes); all four make it a
    frame whose (empty so far) payload has nothing to redact."""
    red = RuleRedactor(DEFAULT_RULES).with_patterns(rb"(\x01\x02\x03)")
    ping = encode_frame(9, b"", True, b"\x09\x09\x09\x09")  # a whole (empty) masked frame first
    cut = b"\x81\x85\x01\x02\x03"  # then a text frame cut inside its key
    assert red.redact_out(ping + cut) == ping + b"\x81\x85***"  # not frames: the pattern applies
    assert red.redact_out_after(b"", ping + cut)[0] == ping + b"\x81\x85***"
    whole_key = ping + cut + b"\x04"
    assert red.redact_out(whole_key) == whole_key  # frames: the header and key are kept
    assert red.redact_out_after(b"", whole_key)[0] == whole_key


@pytest.mark.parametrize("cut", [b"\x81\xfe\x00", b"\x81\xff\x00\x00\x00\x00\x00\x00\x01"])  # 1 of 2, 7 of 8
def test_a_write_cut_inside_a_frame_s_extended_length_is_plain_text(cut: bytes) -> None:
    """After a whole masked frame, a frame cut inside its 16- or 64-bit length: not frames (the
    rules see plain bytes), and never an error out of the redactor."""
    ping = encode_frame(9, b"", True, b"\x09\x09\x09\x09")
    data = ping + cut
    assert R.redact_out(data) == data
    assert R.redact_out_after(b"", data)[0] == data


def test_a_pattern_that_matches_only_empty_returns_the_data_itself() -> None:
    """Nothing to mask (an empty match masks nothing): the very same object comes back, no copy."""
    red = RuleRedactor(DEFAULT_RULES).with_patterns(rb"(z*)")
    data = b'{"method":"SUBSCRIBE","params":["btcusdt@trade"]}'
    assert red.redact_out(data) is data
    assert red.redact_out(b"zz") == b"**"


def test_a_compressed_frame_in_the_64_bit_form_is_masked_only_in_its_shortest_encoding() -> None:
    """A compressed frame is masked whole only if it proves to be one (lengths in their shortest
    form): 70,000 bytes in the 64-bit form is, 40,000 bytes in the 64-bit form is not."""
    key = b"\x05\x06\x07\x08"

    def compressed(n: int, head: bytes) -> bytes:
        return head + key + _unmask(b"d" * n, key)

    big = compressed(70_000, b"\xc1\xff" + (70_000).to_bytes(8, "big"))
    out = R.redact_out(big)
    assert out[:14] == big[:14] and _unmask(out[14:], key) == b"*" * 70_000
    padded = compressed(40_000, b"\xc1\xff" + (40_000).to_bytes(8, "big"))  # not the shortest form
    assert R.redact_out(padded) == padded
