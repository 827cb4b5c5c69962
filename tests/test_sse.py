"""The SSE decoder against the WHATWG "event stream interpretation" rules, one rule a test."""

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.providers.sse import EventTooLarge, ServerSentEvent, SSEDecoder, aiter_sse

FIXTURES_DIR = Path(
    os.environ.get(
        "CHAT_FIXTURES_DIR", Path(__file__).resolve().parents[2] / "shared/fixtures/upstream"
    )
)


def require_fixtures() -> Path:
    """The recorded upstream streams: skip without them locally, fail without them in CI."""
    if not FIXTURES_DIR.is_dir():
        reason = f"recorded upstream streams not found in {FIXTURES_DIR} (set CHAT_FIXTURES_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return FIXTURES_DIR


def fixture_files(pattern: str) -> list[Path]:
    """For parametrising at collection time; empty when the directory is missing."""
    return sorted(FIXTURES_DIR.glob(pattern)) if FIXTURES_DIR.is_dir() else []


def decode(*parts: bytes) -> list[ServerSentEvent]:
    """Feed the parts as separate reads, then end the stream."""
    decoder = SSEDecoder()
    events = []
    for part in parts:
        events += decoder.feed(part)
    return events + decoder.close()


def test_fixtures_are_present() -> None:
    directory = require_fixtures()
    assert list(directory.glob("openai_*.sse"))


# Fields and values


def test_data_line_then_blank_line_dispatches_a_message_event() -> None:
    assert decode(b"data: hello\n\n") == [ServerSentEvent(data="hello")]


def test_value_without_space_after_colon() -> None:
    assert decode(b"data:hello\n\n") == [ServerSentEvent(data="hello")]


def test_exactly_one_leading_space_is_removed_from_the_value() -> None:
    assert decode(b"data:  two spaces \n\n") == [ServerSentEvent(data=" two spaces ")]


def test_field_without_colon_has_an_empty_value() -> None:
    assert decode(b"data\n\n") == [ServerSentEvent(data="")]


def test_colon_inside_the_value_is_kept() -> None:
    assert decode(b'data: {"a": 1}\n\n') == [ServerSentEvent(data='{"a": 1}')]


def test_comment_lines_are_ignored() -> None:
    assert decode(b": keep-alive\n\n") == []
    assert decode(b"data: a\n: comment\ndata: b\n\n") == [ServerSentEvent(data="a\nb")]


def test_data_lines_are_joined_with_newlines() -> None:
    assert decode(b"data: a\ndata: b\ndata: c\n\n") == [ServerSentEvent(data="a\nb\nc")]


def test_only_one_trailing_newline_is_removed_at_dispatch() -> None:
    assert decode(b"data: a\ndata\n\n") == [ServerSentEvent(data="a\n")]


def test_event_without_data_is_not_dispatched_and_its_type_is_reset() -> None:
    assert decode(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent(data="x")]


def test_event_field_sets_the_type_for_one_event_only() -> None:
    assert decode(b"event: delta\ndata: 1\n\ndata: 2\n\n") == [
        ServerSentEvent(data="1", event="delta"),
        ServerSentEvent(data="2"),
    ]


def test_empty_event_type_means_message() -> None:
    assert decode(b"event:\ndata: x\n\n") == [ServerSentEvent(data="x", event="message")]


def test_id_sets_the_last_event_id_which_persists_across_events() -> None:
    events = decode(b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [event.id for event in events] == ["7", "7", ""]


def test_id_containing_nul_is_ignored() -> None:
    assert decode(b"id: 1\n\nid: 2\x003\ndata: x\n\n") == [ServerSentEvent(data="x", id="1")]


def test_id_alone_dispatches_nothing() -> None:
    assert decode(b"id: 1\n\n") == []


def test_retry_is_kept_only_when_all_ascii_digits() -> None:
    stream = "retry: 1500\n\nretry: 10a\nretry: -5\nretry:  5\nretry: \u0663\nretry\ndata: x\n\n"
    assert decode(stream.encode()) == [ServerSentEvent(data="x", retry=1500)]


def test_latest_valid_retry_wins() -> None:
    events = decode(b"data: a\n\nretry: 100\ndata: b\n\nretry: 200\ndata: c\n\n")
    assert [event.retry for event in events] == [None, 100, 200]


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nData: no\ndata: x\n\n") == [ServerSentEvent(data="x")]


# Line ends


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_end_style(end: bytes) -> None:
    stream = b"data: a" + end + b"data: b" + end + end
    assert decode(stream) == [ServerSentEvent(data="a\nb")]


def test_mixed_line_ends() -> None:
    assert decode(b"data: a\r\ndata: b\rdata: c\n\r\n") == [ServerSentEvent(data="a\nb\nc")]


def test_crlf_split_across_reads_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # Were the LF a line end of its own, "a" would be dispatched alone here.
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="a\nb")]


def test_crlf_split_by_an_empty_read_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="a\nb")]


def test_cr_at_the_end_of_a_read_ends_the_line_at_once() -> None:
    # A live stream must not wait for the next read to learn that "\r\r" ended an event.
    assert SSEDecoder().feed(b"data: a\r\r") == [ServerSentEvent(data="a")]


def test_cr_cr_lf_is_a_line_end_then_a_blank_line() -> None:
    assert decode(b"data: a\r", b"\r\n") == [ServerSentEvent(data="a")]


# Decoding


def test_utf8_characters_split_across_reads() -> None:
    stream = "data: é€😀\n\n".encode()
    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == [ServerSentEvent(data="é€😀")]
    assert decode(*[bytes([byte]) for byte in stream]) == [ServerSentEvent(data="é€😀")]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert decode(b"data: a\xffb\xe2\x82\n\n") == [ServerSentEvent(data="a\ufffdb\ufffd")]


def test_leading_bom_is_stripped() -> None:
    assert decode(b"\xef\xbb\xbfdata: x\n\n") == [ServerSentEvent(data="x")]


def test_leading_bom_split_across_reads_is_stripped() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent(data="x")]


def test_only_one_bom_is_stripped() -> None:
    # The second BOM becomes part of the field name, "\ufeffdata", an unknown field.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []
    assert decode(b"data: \xef\xbb\xbfx\n\n") == [ServerSentEvent(data="\ufeffx")]


# End of stream


def test_unterminated_final_event_is_not_dispatched() -> None:
    assert decode(b"data: a\n\ndata: b") == [ServerSentEvent(data="a")]
    assert decode(b"data: a\n\ndata: b\n") == [ServerSentEvent(data="a")]


def test_an_event_up_to_the_limit_is_decoded() -> None:
    decoder = SSEDecoder(max_event_chars=100)
    assert decoder.feed(b"data: " + b"x" * 90 + b"\n\n") == [ServerSentEvent("x" * 90)]


def test_a_line_longer_than_the_limit_is_refused_before_it_ends() -> None:
    decoder = SSEDecoder(max_event_chars=100)
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"x" * 60)  # no line end yet: refused without waiting for one


def test_many_data_lines_past_the_limit_are_refused() -> None:
    decoder = SSEDecoder(max_event_chars=100)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: xxxxxxxxxx\n" * 20)


def test_the_limit_counts_one_event_not_the_stream() -> None:
    decoder = SSEDecoder(max_event_chars=100)
    events = decoder.feed(b"data: " + b"x" * 60 + b"\n\n" + b"data: " + b"y" * 60 + b"\n\n")
    assert [e.data for e in events] == ["x" * 60, "y" * 60]


def test_close_returns_nothing_and_resets_the_decoder() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\nevent: e\ndata: half\xe2\x82")
    assert decoder.close() == []
    assert decoder.feed(b"\xef\xbb\xbfdata: new\n\n") == [ServerSentEvent(data="new")]


async def test_aiter_sse_yields_the_events_of_an_async_byte_stream() -> None:
    async def reads() -> AsyncIterator[bytes]:
        for part in (b"data: a\r", b"\n\r", b"\nevent: e\ndata: \xe2\x82", b"\xac\n\ndata: z"):
            yield part

    events = [event async for event in aiter_sse(reads())]
    assert events == [ServerSentEvent(data="a"), ServerSentEvent(data="€", event="e")]


# However the bytes are split, the events are those of the whole stream

HAND_WRITTEN = {
    "crlf-bom-utf8": (
        b"\xef\xbb\xbfid: 1\r\nevent: greet\r\ndata: h\xc3\xa9llo \xe2\x82\xac\r\n"
        b"data:  two\r\n\r\n",
        [ServerSentEvent(data="héllo €\n two", event="greet", id="1")],
    ),
    "cr-only": (
        b": comment\rretry: 1500\rdata: a\r\rdata\r\r",
        [ServerSentEvent(data="a", retry=1500), ServerSentEvent(data="", retry=1500)],
    ),
    "mixed-ends-and-blank-lines": (
        b"data: x\n\r\ndata: y\r\n\n\r\rid: 7\ndata: z\n\n",
        [ServerSentEvent(data="x"), ServerSentEvent(data="y"), ServerSentEvent(data="z", id="7")],
    ),
    "invalid-bytes": (
        b"data: \xff\xfe\xe2\x82\ndata: \xf0\x9f\x98\x80\n\n",
        [ServerSentEvent(data="\ufffd\ufffd\ufffd\n😀")],
    ),
    "unterminated-tail": (
        b"data: a\n\nevent: x\ndata: b",
        [ServerSentEvent(data="a")],
    ),
}


@pytest.mark.parametrize(("stream", "expected"), HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_hand_written_stream_split_anywhere(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode(stream) == expected
    assert decode(*[bytes([byte]) for byte in stream]) == expected
    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == expected
        for second_cut in range(cut, len(stream) + 1):
            assert decode(stream[:cut], stream[cut:second_cut], stream[second_cut:]) == expected


def split_offsets(stream: bytes) -> list[int]:
    """Every offset; for a big file (quadratic cost) its head, tail and non-ASCII text."""
    if len(stream) <= 16_384:
        return list(range(len(stream) + 1))
    near_non_ascii = {i + d for i, byte in enumerate(stream) if byte > 0x7F for d in range(-3, 4)}
    return sorted({*range(4096), *range(len(stream) - 1024, len(stream) + 1), *near_non_ascii})


@pytest.mark.parametrize("path", fixture_files("*.sse"), ids=lambda path: path.name)
def test_recorded_stream_split_anywhere(path: Path) -> None:
    stream = path.read_bytes()
    whole = decode(stream)
    assert whole
    assert decode(*[bytes([byte]) for byte in stream]) == whole
    for cut in split_offsets(stream):
        assert decode(stream[:cut], stream[cut:]) == whole


@pytest.mark.parametrize("path", fixture_files("openai_*.sse"), ids=lambda path: path.name)
def test_recorded_openai_stream_is_json_chunks_then_done(path: Path) -> None:
    events = decode(path.read_bytes())
    assert {event.event for event in events} == {"message"}
    assert events[-1].data == "[DONE]"
    assert all(isinstance(json.loads(event.data), dict) for event in events[:-1])


@pytest.mark.parametrize("path", fixture_files("anthropic_*.sse"), ids=lambda path: path.name)
def test_recorded_anthropic_stream_loses_its_unterminated_message_stop(path: Path) -> None:
    # These recordings end without the blank line after `message_stop`, so by the spec
    # that last event is never dispatched: an Anthropic client must not wait for it.
    events = decode(path.read_bytes())
    assert all(json.loads(event.data)["type"] == event.event for event in events)
    assert events[-1].event == "message_delta"
    assert b"message_stop" in path.read_bytes()
