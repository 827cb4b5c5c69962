"""Frames small enough for any socket: a websocket message over daphne's limit (1 MiB)
closes the socket, so a reply's frames and a conversation's history are cut into several
frames well under it, whatever the text holds.

A piece of text is at most TEXT_PIECE characters, and a character is at most 6 bytes once
JSON-escaped (`\\u0001`), so a piece is at most 384 KiB: a frame of one piece and its few
other fields stays under FRAME_LIMIT without encoding anything twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from chat.protocol import Frame, MessageData, ToolCallChange

FRAME_LIMIT = 512 * 1024  # bytes of JSON; half of daphne's limit
TEXT_PIECE = 64 * 1024  # characters
# Below this many characters a frame cannot reach FRAME_LIMIT: it is sent as it is.
SMALL = (FRAME_LIMIT - 16 * 1024) // 6


# The fields of a reply's last frame, which the last of its pieces carries.
ENDING = ("status", "error", "length", "model")


def utf16_length(text: str) -> int:
    """Length as the browser counts it: offsets on the wire are in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def pieces(text: str) -> Iterator[tuple[int, str]]:
    """`text` cut into pieces of at most TEXT_PIECE characters, each with its UTF-16
    offset from the start of `text` (a Python character is never cut in two)."""
    offset = 0
    for start in range(0, len(text), TEXT_PIECE):
        piece = text[start : start + TEXT_PIECE]
        yield offset, piece
        offset += utf16_length(piece)


def text_after(text: str, offset: int) -> str:
    """`text` from a UTF-16 offset, found piece by piece (encoding megabytes in one go would
    hold up the event loop); an offset inside a surrogate pair leaves its second half as
    U+FFFD."""
    at = 0  # the UTF-16 offset of text[start]
    for start in range(0, len(text), TEXT_PIECE):
        piece = text[start : start + TEXT_PIECE]
        length = utf16_length(piece)
        if at + length > offset:
            rest = piece.encode("utf-16-le")[2 * (offset - at) :].decode("utf-16-le", "replace")
            return rest + text[start + TEXT_PIECE :]
        at += length
    return ""


def _size(frame: Frame) -> int:
    """Characters in a frame's variable fields: an upper bound on its size / 6."""
    size = len(frame.get("text", "")) + len(frame.get("error", ""))
    for change in frame.get("tools", ()):
        size += len(change.get("arguments", "")) + len(change.get("result", ""))
        size += len(change.get("name", "")) + len(change.get("id", ""))
    return size


def split_frame(frame: Frame) -> list[Frame]:
    """`frame` (without its seq) as one or more frames under FRAME_LIMIT, in order: its
    text in pieces, then each tool call's change on its own (long arguments in pieces),
    the reply's status on the last. The caller numbers them."""
    return list(iter_split(frame))


def split_count(frame: Frame) -> int:
    """How many frames `split_frame(frame)` gives, without cutting anything."""
    if _size(frame) <= SMALL:
        return 1
    count = -(-len(frame.get("text", "")) // TEXT_PIECE)
    for change in frame.get("tools", ()):
        count += max(1, -(-len(change.get("arguments", "")) // TEXT_PIECE))
    return count + any(key in frame for key in ENDING)


def iter_split(frame: Frame) -> Iterator[Frame]:
    """`split_frame`, one frame at a time: a caller cutting megabytes can pause between."""
    if _size(frame) <= SMALL:
        yield frame
        return
    base: Frame = {"type": "frame", "message": frame["message"]}
    if "text" in frame:
        start = frame["offset"]
        for at, piece in pieces(frame["text"]):
            yield base | {"offset": start + at, "text": piece}
    for change in frame.get("tools", ()):
        for part in _split_change(change):
            yield base | {"tools": [part]}
    ending = {key: frame[key] for key in ENDING if key in frame}
    if ending:
        yield base | ending


def _split_change(change: ToolCallChange) -> list[ToolCallChange]:
    arguments = change.get("arguments", "")
    if len(arguments) <= TEXT_PIECE:
        return [change]
    start = change.get("arguments_offset", 0)
    first, *rest = pieces(arguments)
    return [change | {"arguments": first[1], "arguments_offset": start}] + [
        {"index": change["index"], "arguments": piece, "arguments_offset": start + at}
        for at, piece in rest
    ]


def history_parts(messages: list[MessageData]) -> list[list[MessageData]]:
    """A conversation's messages as the `messages` of several `history` frames, each
    under FRAME_LIMIT. A long message is continued by entries with its `id` and only the
    rest: more `content` (appended) or more `tool_calls` (appended), one call an entry."""
    parts: list[list[MessageData]] = [[]]
    room = SMALL
    for entry, size in _entries(messages):
        if size > room and parts[-1]:
            parts.append([])
            room = SMALL
        parts[-1].append(entry)
        room -= size
    return parts


def _entries(messages: list[MessageData]) -> Iterator[tuple[MessageData, int]]:
    """Each message as one entry or, when long, several; with each entry's size bound."""
    for message in messages:
        calls = message.get("tool_calls", [])
        size = message_size(message)
        if size <= TEXT_PIECE:
            yield message, size + 512
            continue
        head = {key: value for key, value in message.items() if key != "tool_calls"}
        (_, first), *rest = list(pieces(message["content"])) or [(0, "")]
        yield head | {"content": first}, len(first) + len(message["error"]) + 512
        for _, piece in rest:
            yield {"id": message["id"], "content": piece}, len(piece) + 64
        for call in calls:
            yield {"id": message["id"], "tool_calls": [call]}, _call_size(call) + 256


def message_size(message: MessageData) -> int:
    """Characters in a message's variable fields: text, error, tool calls and results."""
    calls = message.get("tool_calls", [])
    return len(message["content"]) + len(message["error"]) + sum(map(_call_size, calls))


def newest_within(messages: list[MessageData], budget: int) -> list[MessageData]:
    """The newest of `messages` whose sizes add up to at most `budget` characters."""
    start = len(messages)
    for message in reversed(messages):
        budget -= message_size(message)
        if budget < 0:
            break
        start -= 1
    return messages[start:]


def _call_size(call: dict) -> int:
    return len(call["arguments"]) + len(call["result"]) + len(call["name"]) + len(call["id"])
