"""Smoke tests of the perf/ harness: it runs end to end in a tiny mode and builds its table.

No timing assertions here (figures belong in perf/results); these check that the harness
works and that it refuses wrong deliveries.
"""

from __future__ import annotations

import json

import orjson
import pytest

from perf import run
from perf.frames import CYCLE, accept_key, apply_mask, client_frame, feed, server_frame, trade_message
from perf.runner import _check_blast
from perf.stats import percentile, rtt_summary


def test_accept_key_matches_rfc6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_feed_accounting_matches_the_frames_it_sends() -> None:
    count = CYCLE + 123  # crosses a cycle boundary
    f = feed(count)
    wire = b"".join(bytes(c) for c in f.chunks(batch=10_000))
    assert len(wire) == f.wire_bytes
    ids = 0
    nbytes = 0
    pos = 0
    for _ in range(count):
        assert wire[pos] == 0x81 and wire[pos + 1] == 126  # FIN+TEXT, 16-bit length, unmasked
        length = int.from_bytes(wire[pos + 2 : pos + 4], "big")
        msg = orjson.loads(wire[pos + 4 : pos + 4 + length])
        ids += msg["t"]
        nbytes += length
        pos += 4 + length
    assert pos == len(wire)
    assert (ids, nbytes) == (f.id_sum, f.payload_bytes)


def test_trade_messages_look_like_binance_and_vary() -> None:
    a, b = orjson.loads(trade_message(1)), orjson.loads(trade_message(2))
    assert a["e"] == "trade" and a["s"] == "BTCUSDT" and a["t"] != b["t"]
    assert 170 <= len(server_frame(trade_message(7))) <= 190


def test_client_frame_masking_round_trips() -> None:
    key = b"\x01\x02\x03\x04"
    frame = client_frame(b"hello world", 0x1, key)
    assert frame[1] == 0x80 | 11 and frame[2:6] == key
    assert apply_mask(frame[6:], key) == b"hello world"


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 1001))
    assert percentile(values, 0.5) == 500
    assert percentile(values, 0.99) == 990
    assert percentile(values, 0.999) == 999
    assert rtt_summary([1000, 2000, 3000])["p50"] == 2.0


def test_wrong_deliveries_are_rejected() -> None:
    f = feed(100)
    good = {"msgs": 100, "bytes": f.payload_bytes, "id_sum": f.id_sum, "seconds": 0.1}
    assert _check_blast(good, f, "orjson", "boomnet") is None
    assert "delivered" in _check_blast({**good, "msgs": 99}, f, "len", "boomnet")
    assert "payload bytes" in _check_blast({**good, "bytes": 1}, f, "len", "boomnet")
    assert "trade id" in _check_blast({**good, "id_sum": 5}, f, "orjson", "boomnet")


def test_harness_runs_and_reports_every_row(tmp_path) -> None:
    results = run.main(
        [
            "--jobs", "blast,echo,alloc",
            "--clients", "raw,boomnet,picows",
            "--transports", "plain",
            "--rounds", "1",
            "--count", "2000",
            "--echo-samples", "200",
            "--quick",
            "--quiet",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    markdown = (tmp_path / "latest.md").read_text()
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert saved["jobs"].keys() == results["jobs"].keys() == {"blast_plain", "echo_plain", "alloc"}
    blast = saved["jobs"]["blast_plain"]["clients"]
    for name in ("raw", "boomnet", "picows"):
        assert blast[name]["errors"] == [], blast[name]["errors"]
        assert blast[name]["median"] > 0
    assert blast["boomnet"]["ratio"] == pytest.approx(1.0)
    assert blast["picows"]["ratio"] > 0
    echo = saved["jobs"]["echo_plain"]["clients"]
    assert set(echo) == {"boomnet", "picows"}  # the raw counter cannot echo
    assert all(echo[c]["median"]["p50"] > 0 for c in echo)
    alloc = saved["jobs"]["alloc"]["clients"]["boomnet"]["values"][0]
    assert alloc["frames"] > 0 and "growth_blocks" in alloc
    for row in ("raw socket (server check)", "boomnet (read_batch busy loop)", "picows + uvloop", "## Targets"):
        assert row in markdown
    names = {t["name"] for t in saved["targets"]}
    assert "blast plain, msgs/s" in names and "echo RTT p50" in names
