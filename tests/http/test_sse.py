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


# After an attack (issue 19)


def event(number: int) -> bytes:
    return f"id: {number}\nevent: output\ndata: {number}\n\n".encode()


def test_events_before_a_malformed_line_are_handed_out_first() -> None:
    """Events 1-3 and a bad line in one read: none was seen, yet the error's
    last_event_id said 3, so a resume from it skipped three events."""
    decoder = EventDecoder()
    bad = b"id: 4\nevent: output\ndata: {not json\n\n"
    events = decoder.feed(event(1) + event(2) + event(3) + bad + event(5))
    assert [e["id"] for e in events] == ["1", "2", "3"]
    with pytest.raises(StreamError) as caught:
        decoder.feed(b"")
    assert caught.value.last_event_id == "3"
    with pytest.raises(StreamError):  # and it stays broken
        decoder.feed(event(6))


def test_a_malformed_first_event_raises_at_once() -> None:
    decoder = EventDecoder()
    decoder.last_id = "7"
    with pytest.raises(StreamError) as caught:
        decoder.feed(b"id: 8\nevent: output\ndata: {\n\n")
    assert caught.value.last_event_id == "7"


def test_cr_only_line_endings_dispatch_the_last_event_at_once() -> None:
    """The blank line of the terminal event, a `\\r` last in the read, waited
    for a `\\n` that never came: the event was never dispatched."""
    decoder = EventDecoder()
    events = decoder.feed(b'id: 1\revent: done\rdata: {"status": "succeeded"}\r\r')
    assert [e["event"] for e in events] == ["done"]
    # A `\n` that does come next is the end of that same line, not a new one.
    assert decoder.feed(b"\n" + event(2)) == [{"id": "2", "event": "output", "data": 2}]


def test_a_crlf_cut_between_two_reads_is_one_line_end() -> None:
    assert decode(b"id: 1\r", b"\nevent: output\r", b"\ndata: 1\r", b"\n\r", b"\n") == [
        {"id": "1", "event": "output", "data": 1}
    ]


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4])
def test_a_byte_order_mark_before_the_first_event_is_dropped(cut: int) -> None:
    data = b"\xef\xbb\xbf" + event(1)
    assert decode(data[:cut], data[cut:]) == [{"id": "1", "event": "output", "data": 1}]


def test_a_byte_order_mark_later_in_the_stream_is_not_dropped() -> None:
    decoder = EventDecoder()
    assert decoder.feed(event(1))
    assert decoder.feed(b"\xef\xbb\xbf: heartbeat?\n\n") == []  # a field, ignored
    decoder.reset()  # a new connection may start with one
    assert decoder.feed(b"\xef\xbb\xbf" + event(2))[0]["id"] == "2"


def test_a_line_fed_a_byte_at_a_time_is_searched_once() -> None:
    """A line fed in 1-byte pieces was searched from its start at every piece:
    1 MiB cost 20 s of CPU. Count the bytes searched instead of timing it."""
    import predictions._http.sse as sse

    searched: List[int] = []
    real = sse._line_end

    def counting(buffer: bytearray, start: int) -> Any:
        searched.append(len(buffer) - start)
        return real(buffer, start)

    decoder = EventDecoder()
    line = b"data: " + b"x" * 20_000
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sse, "_line_end", counting)
        for byte in line:
            decoder.feed(bytes([byte]))
    assert sum(searched) <= 2 * len(line)
