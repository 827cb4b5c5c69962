"""Server-Sent Events decoder, following the WHATWG HTML "event stream interpretation".

Upstream model providers stream their replies as SSE. Bytes arrive in arbitrary pieces (a
UTF-8 character or a CRLF may be cut between two reads), so the decoder keeps every bit of
state it needs between calls to ``feed``.
"""

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

_LINE_END = re.compile(r"\r\n|\r|\n")

# A provider sends an event per token; an event of megabytes is a broken or hostile server,
# and parsing it would hold the event loop for every other stream.
MAX_EVENT_CHARS = 1_000_000


class EventTooLarge(ValueError):
    """An event (or a line of one) grew past the decoder's limit."""


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str = ""  # the last event id in force when the event was dispatched
    retry: int | None = None  # the latest valid reconnection time seen in the stream


class SSEDecoder:
    """Turns a byte stream into events. One decoder per stream (or call ``close`` to reuse)."""

    def __init__(self, max_event_chars: int = MAX_EVENT_CHARS) -> None:
        self.max_event_chars = max_event_chars
        self._reset()

    def _reset(self) -> None:
        # "utf-8-sig" strips one leading BOM (even one split across reads) and no other;
        # "replace" turns invalid bytes into U+FFFD as the spec requires.
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._partial_line = ""
        # A CR ends a line at once; when the next read starts with LF, that LF is the second
        # half of a CRLF, not an empty line.
        self._after_cr = False
        self._data: list[str] = []
        self._data_chars = 0
        self._event_type = ""
        self._last_event_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the next piece of the stream; return the events it completed."""
        events = []
        for line in self._lines(self._decoder.decode(chunk)):
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: discard what is unfinished and start afresh.

        The spec drops an event that no blank line terminated, and bytes of an unfinished
        UTF-8 sequence can only belong to that unterminated last line, so nothing is ever
        dispatched here. It returns a list so that callers handle every end alike.
        """
        self._reset()
        return []

    def _lines(self, text: str) -> list[str]:
        if not text:
            return []
        if self._after_cr and text[0] == "\n":
            text = text[1:]
        self._after_cr = text.endswith("\r")
        # Split in C: a provider's chunk is a line or two, once per token, on every stream.
        lines = _LINE_END.split(text) if "\r" in text else text.split("\n")
        lines[0] = self._partial_line + lines[0]
        self._partial_line = lines.pop()  # what follows the last line end: unfinished
        if len(self._partial_line) + self._data_chars > self.max_event_chars:
            raise EventTooLarge(f"an event longer than {self.max_event_chars:,} characters")
        return lines

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment
        field, _, value = line.partition(":")  # no colon: the whole line is the name
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data_chars += len(value) + 1
            if self._data_chars > self.max_event_chars:
                raise EventTooLarge(f"an event longer than {self.max_event_chars:,} characters")
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        # Any other field, an id containing NUL and a retry that is not all digits are ignored.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event_type = self._data, self._event_type or "message"
        self._data, self._data_chars, self._event_type = [], 0, ""
        if not data:
            return None  # no data field since the last blank line: nothing to deliver
        # Joining with LF is the spec's "append the value and LF, then drop the final LF".
        return ServerSentEvent(
            data="\n".join(data), event=event_type, id=self._last_event_id, retry=self._retry
        )


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Yield the events of a byte stream, e.g. ``response.aiter_bytes()``."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event
