"""The event decoder: bytes in, in pieces cut anywhere; events out, whole."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from predictions._http.sse import EventDecoder, StreamError

STREAM = (
    b": a heartbeat\n"
    b'id: 1\nevent: init\ndata: {"id": "p1", "status": "starting"}\n\n'
    b'id: 2\r\nevent: output\r\ndata: "caf\xc3\xa9 \xe2\x80\xa8 line"\r\n\r\n'
    b"id: 3\revent: output\rdata: [1,\rdata: 2]\r\r"
    b": another\n\n"
    b'id: 4\nevent: done\ndata:{"id": "p1",\ndata: "status": "succeeded"}\n\n'
)
EXPECTED = [
    {"id": "1", "event": "init", "data": {"id": "p1", "status": "starting"}},
    {"id": "2", "event": "output", "data": "café \u2028 line"},
    {"id": "3", "event": "output", "data": [1, 2]},
    {"id": "4", "event": "done", "data": {"id": "p1", "status": "succeeded"}},
]


def decode(*pieces: bytes) -> List[Dict[str, Any]]:
    decoder = EventDecoder()
    events: List[Dict[str, Any]] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events


def test_a_whole_stream() -> None:
    assert decode(STREAM) == EXPECTED


def test_cut_at_every_byte_into_two_pieces() -> None:
    """Lines, characters and CRLF pairs split across pieces anywhere."""
    for cut in range(len(STREAM) + 1):
        assert decode(STREAM[:cut], STREAM[cut:]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    assert decode(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_a_unicode_line_separator_inside_a_string_is_not_a_line_break() -> None:
    for separator in ("\u2028", "\u2029", "\u0085", "\x0b", "\x0c"):
        text = f"a{separator}b"
        raw = f"id: 9\nevent: output\ndata: {json.dumps(text, ensure_ascii=False)}\n\n"
        assert decode(raw.encode()) == [{"id": "9", "event": "output", "data": text}]


def test_the_last_event_id_is_kept() -> None:
    decoder = EventDecoder()
    decoder.feed(STREAM[: STREAM.index(b"id: 3")])
    assert decoder.last_id == "2"


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (b"event: output\ndata: 1\n\n", "without 'id'"),
        (b"id: 1\ndata: 1\n\n", "without 'event'"),
        (b"id: 1\nevent: output\n\n", "no data"),
        (b"id: 1\nevent: output\ndata: not json\n\n", "not JSON"),
        (b"id: 1\nevent: output\ndata: \xff\xfe\n\n", "not UTF-8"),
    ],
)
def test_a_malformed_event_is_a_typed_error(raw: bytes, what: str) -> None:
    decoder = EventDecoder()
    decoder.feed(b'id: 0\nevent: init\ndata: {"id": "p"}\n\n')
    with pytest.raises(StreamError, match=what) as info:
        decoder.feed(raw)
    assert info.value.last_event_id == "0", "the error says where to resume"


def test_a_huge_line_is_refused_before_it_is_whole() -> None:
    """A line of 10 MB: an error, with memory bounded by the limit."""
    decoder = EventDecoder(max_event_bytes=64 * 1024)
    decoder.feed(b'id: 1\nevent: output\ndata: "')
    held: List[int] = []

    def feed_ten_megabytes() -> None:
        for _ in range(10 * 1024 * 1024 // 8192):
            decoder.feed(b"x" * 8192)
            held.append(len(decoder._buffer))

    with pytest.raises(StreamError, match="longer than"):
        feed_ten_megabytes()
    assert max(held) <= 64 * 1024 + 8192


def test_an_event_of_many_lines_is_bounded_too() -> None:
    decoder = EventDecoder(max_event_bytes=1000)
    with pytest.raises(StreamError, match="longer than"):
        decoder.feed(b"id: 1\nevent: output\n" + b"data: 1\n" * 200)
