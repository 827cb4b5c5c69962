"""The websocket's frames, both ways, as typed dicts: docs/protocol.md says what they mean.

The server builds its frames to these shapes (models.py, generation.py, consumers.py), and
tests/test_protocol_shapes.py holds real frames to them.
"""

# No `from __future__ import annotations` here: TypedDict reads NotRequired at run time.
from typing import Literal, NotRequired, TypedDict

# --- what a frame talks about --------------------------------------------------------------


class ConversationData(TypedDict):
    id: int
    title: str
    url: str
    updated: str  # ISO 8601: the sidebar groups by it in the reader's time zone
    pinned: bool


class ToolCallData(TypedDict):
    index: int
    id: str
    name: str
    arguments: str  # as the model wrote it: JSON, possibly unfinished while it streams
    state: str  # a chat.models.ToolState
    duration_ms: int | None
    result: str


class MessageData(TypedDict):
    id: int
    role: Literal["user", "assistant"]
    status: str  # a chat.models.Message.Status
    content: str  # markdown source, or the user's text; empty while streaming
    error: str
    created: str  # ISO 8601
    model: str
    finish_reason: str
    tool_calls: NotRequired[list[ToolCallData]]
    # Only on a message with other versions: their ids, oldest first, and which one this
    # is (from 1). A reply's versions are on its first round's message.
    versions: NotRequired[list[int]]
    version: NotRequired[int]


class ToolCallChange(TypedDict, total=False):
    """What changed in one tool call: `index` and only the fields that changed."""

    index: int
    id: str
    name: str
    arguments: str  # a piece to append at arguments_offset (a snapshot: all of it)
    arguments_offset: int
    state: str
    duration_ms: int | None
    result: str


# --- server → browser -----------------------------------------------------------------------


class Frame(TypedDict):
    """A reply's frame. One with only type, message, offset, text and seq may reach a
    socket opened with `?frames=compact` as its text alone (docs/protocol.md)."""

    type: Literal["frame"]
    message: int
    seq: int
    offset: NotRequired[int]  # in UTF-16 code units, as JavaScript counts
    text: NotRequired[str]
    tools: NotRequired[list[ToolCallChange]]
    status: NotRequired[str]  # the last frame's only
    error: NotRequired[str]
    length: NotRequired[int]
    model: NotRequired[str]  # the last frame's: the exact model that answered, if known


class MessageContinued(TypedDict, total=False):
    """The rest of a long message in a later entry of `history`: appended to it."""

    id: int
    content: str
    tool_calls: list[ToolCallData]


class HistoryEvent(TypedDict):
    type: Literal["history"]
    conversation: int
    messages: list[MessageData | MessageContinued]
    part: int  # a long history comes in several frames: 0, 1, … up to the `last`
    last: bool


class MessageEvent(TypedDict):
    type: Literal["message"]
    conversation: int
    message: MessageData


class ConversationEvent(TypedDict):
    type: Literal["conversation"]
    conversation: ConversationData


class DeletedEvent(TypedDict):
    type: Literal["deleted"]
    conversation: int


class SettingsEvent(TypedDict):
    type: Literal["settings"]
    conversation: int
    system_prompt: str


class ErrorEvent(TypedDict):
    type: Literal["error"]
    code: str
    message: str


# --- browser → server -----------------------------------------------------------------------


class Resume(TypedDict):
    message: int
    offset: int


class OpenFrame(TypedDict):
    type: Literal["open"]
    conversation: int
    resume: NotRequired[Resume]


class SendFrame(TypedDict):
    type: Literal["send"]
    conversation: int | None
    content: str
    model: NotRequired[str]
    system_prompt: NotRequired[str]


class StopFrame(TypedDict):
    type: Literal["stop"]
    conversation: int


class RetryFrame(TypedDict):
    type: Literal["retry"]
    conversation: int
    model: NotRequired[str]


class RegenerateFrame(TypedDict):
    """A new version of the reply `message` belongs to (any round of it)."""

    type: Literal["regenerate"]
    conversation: int
    message: int
    model: NotRequired[str]


class EditFrame(TypedDict):
    """A new version of the user message `message`, with this text; its reply follows."""

    type: Literal["edit"]
    conversation: int
    message: int
    content: str
    model: NotRequired[str]


class SwitchFrame(TypedDict):
    """Show the version `message` and its branch, down to its newest message."""

    type: Literal["switch"]
    conversation: int
    message: int


class SettingsFrame(TypedDict):
    type: Literal["settings"]
    conversation: int
    system_prompt: str
