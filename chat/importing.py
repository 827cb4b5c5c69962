"""Reading an uploaded conversations file: this site's own export, or ChatGPT's
`conversations.json` (its "Export data"), into plain conversations ready to save.

Everything in the file is untrusted. Whatever is wrong with it is an `ImportRefused` whose
text says what and where, in words, and nothing is saved (chat/exporting.py saves all of a
file or none of it). Text no database stores is kept with U+FFFD in its place, as a
model's reply is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chat.models import TITLE_LENGTH, Message, cut_title, storable, storable_json

FORMAT = "chatsite.conversations"
FORMAT_VERSION = 1

MAX_CONVERSATIONS = 20_000
MAX_MESSAGES = 500_000  # in one file
MAX_ID_LENGTH = 200  # a tool call's id, a model's name: the columns hold 200

ROLES = {Message.Role.USER, Message.Role.ASSISTANT, Message.Role.TOOL}
# A reply cannot still be being written once it is in a file: one exported mid-stream comes
# back as interrupted, with what it had.
STATUSES = {status for status in Message.Status if status != Message.Status.STREAMING}


class ImportRefused(Exception):
    """The file cannot be imported; str() says why in words."""


@dataclass
class ImportedMessage:
    key: str  # the message's id in the file
    parent: str | None
    role: str
    content: str = ""
    tool_calls: list[dict] | None = None
    tool_call_id: str = ""
    status: str = Message.Status.COMPLETE
    error: str = ""
    model: str = ""
    finish_reason: str = ""
    usage: dict | None = None
    duration_ms: int | None = None  # a tool's run
    created: datetime | None = None


@dataclass
class ImportedConversation:
    title: str
    model: str = ""
    system_prompt: str = ""
    created: datetime | None = None
    updated: datetime | None = None
    pinned: datetime | None = None  # when it was pinned
    # Every message, each after its parent; `current` is the key of the shown branch's leaf.
    messages: list[ImportedMessage] = field(default_factory=list)
    current: str | None = None


def read_conversations(raw: bytes) -> list[ImportedConversation]:
    """The conversations of an uploaded file, whichever of the two formats it is."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested thousands deep
        raise ImportRefused(
            "The file is not JSON: choose an export of this site or ChatGPT's conversations.json."
        ) from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        conversations = data.get("conversations")
        if data.get("version") != FORMAT_VERSION or not isinstance(conversations, list):
            raise ImportRefused(
                f"The file is an export of this site in a version this site does not read "
                f"(it reads version {FORMAT_VERSION})."
            )
        read = _read_ours
    elif isinstance(data, list) and all(isinstance(c, dict) and "mapping" in c for c in data):
        conversations, read = data, _read_chatgpt
    else:
        raise ImportRefused(
            "The file is neither an export of this site nor ChatGPT's conversations.json."
        )
    if len(conversations) > MAX_CONVERSATIONS:
        raise ImportRefused(
            f"The file holds {len(conversations):,} conversations; at most "
            f"{MAX_CONVERSATIONS:,} can be imported at once."
        )
    result = []
    for number, conversation in enumerate(conversations, start=1):
        try:
            result.append(read(conversation))
        except ImportRefused as exc:
            raise ImportRefused(f"Conversation {number}: {exc}") from None
    if sum(len(c.messages) for c in result) > MAX_MESSAGES:
        raise ImportRefused(f"The file holds more than {MAX_MESSAGES:,} messages.")
    return result


# --- this site's own export ---------------------------------------------------------------


def _read_ours(data: object) -> ImportedConversation:
    data = _object(data, "it")
    conversation = ImportedConversation(
        title=_title(_text(data, "title")),
        model=_text(data, "model")[:MAX_ID_LENGTH],
        system_prompt=_text(data, "system_prompt"),
        created=_time(data.get("created"), "created"),
        updated=_time(data.get("updated"), "updated"),
        pinned=_pinned(data.get("pinned")),
    )
    messages = data.get("messages")
    if not isinstance(messages, list):
        raise ImportRefused("`messages` must be a list.")
    for number, entry in enumerate(messages, start=1):
        try:
            conversation.messages.append(_read_message(entry))
        except ImportRefused as exc:
            raise ImportRefused(f"message {number}: {exc}") from None
    current = data.get("current")
    conversation.current = None if current is None else _key(current, "current")
    return _in_tree_order(conversation)


def _read_message(entry: object) -> ImportedMessage:
    entry = _object(entry, "a message")
    role = entry.get("role")
    if role not in ROLES:
        raise ImportRefused("`role` must be user, assistant or tool.")
    status = entry.get("status", Message.Status.COMPLETE)
    if status == Message.Status.STREAMING:
        status = Message.Status.INTERRUPTED
    if status not in STATUSES:
        raise ImportRefused(f"`status` must be one of {', '.join(sorted(STATUSES))}.")
    parent = entry.get("parent")
    return ImportedMessage(
        key=_key(entry.get("id"), "id"),
        parent=None if parent is None else _key(parent, "parent"),
        role=role,
        content=_text(entry, "content"),
        tool_calls=_tool_calls(entry.get("tool_calls")) if role == "assistant" else None,
        tool_call_id=_text(entry, "tool_call_id")[:MAX_ID_LENGTH],
        status=status,
        error=_text(entry, "error"),
        model=_text(entry, "model")[:MAX_ID_LENGTH],
        finish_reason=_text(entry, "finish_reason")[:32],
        usage=storable_json(entry["usage"]) if isinstance(entry.get("usage"), dict) else None,
        duration_ms=_duration(entry.get("duration_ms")),
        created=_time(entry.get("created"), "created"),
    )


def _tool_calls(value: object) -> list[dict] | None:
    """Tool calls in the OpenAI shape, checked field by field."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ImportRefused("`tool_calls` must be a list.")
    calls = []
    for call in value:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise ImportRefused("each tool call needs a `function` with `name` and `arguments`.")
        calls.append(
            {
                "id": _text(call, "id")[:MAX_ID_LENGTH],
                "type": "function",
                "function": {
                    "name": _text(function, "name")[:MAX_ID_LENGTH],
                    "arguments": _text(function, "arguments"),
                },
            }
        )
    return calls or None


# --- ChatGPT's conversations.json ------------------------------------------------------------

# What ChatGPT's nodes hold, by `content.content_type`, and what of it is brought over.
_SKIPPED_TYPES = {
    "thoughts",
    "reasoning_recap",
    "user_editable_context",  # the custom instructions, which are not this conversation's
    "model_editable_context",  # its memory
    "system_error",
    "tether_browsing_display",
    "tether_quote",
    "sonic_webpage",
}


def _read_chatgpt(data: dict) -> ImportedConversation:
    mapping = data.get("mapping")
    if not isinstance(mapping, dict):
        raise ImportRefused("`mapping` must be an object of messages.")
    conversation = ImportedConversation(
        title=_title(_text(data, "title")),
        model=(_text(data, "default_model_slug"))[:MAX_ID_LENGTH],
        created=_time(data.get("create_time"), "create_time"),
        updated=_time(data.get("update_time"), "update_time"),
        pinned=_pinned(data.get("pinned_time") or data.get("is_pinned")),
    )
    parents: dict[str, str | None] = {}
    kept: dict[str, ImportedMessage] = {}
    for key, node in mapping.items():
        node = _object(node, "a node of `mapping`")
        parent = node.get("parent")
        parents[str(key)] = None if parent is None else _key(parent, "parent")
        message = _chatgpt_message(str(key), node.get("message"))
        if message is not None:
            kept[str(key)] = message

    def kept_ancestor(key: str | None) -> str | None:
        """The nearest node above `key` that is brought over (hidden ones are skipped)."""
        seen = 0
        while key is not None and key not in kept:
            key = parents.get(key)
            seen += 1
            if seen > len(parents):
                raise ImportRefused("its messages' `parent` links go round in a circle.")
        return key

    for key, message in kept.items():
        message.parent = kept_ancestor(parents.get(key))
    conversation.messages = list(kept.values())
    current = data.get("current_node")
    conversation.current = kept_ancestor(str(current)) if current is not None else None
    return _in_tree_order(conversation)


def _chatgpt_message(key: str, message: object) -> ImportedMessage | None:
    """One node's message as this site keeps it, or None for what is not shown in a chat
    (the empty root, system and hidden messages, tools' plumbing, reasoning)."""
    if not isinstance(message, dict):
        return None
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    role, kind = author.get("role"), content.get("content_type")
    if metadata.get("is_visually_hidden_from_conversation") or kind in _SKIPPED_TYPES:
        return None
    if role == "user":
        text = _chatgpt_text(content)
    elif role == "assistant":
        text = _chatgpt_text(content)
        if kind == "code":  # code the model ran (Code Interpreter): shown as it ran it
            language = content.get("language") if content.get("language") != "unknown" else ""
            text = f"```{_plain(language)}\n{_plain(content.get('text'))}\n```"
    elif role == "tool" and kind == "execution_output":  # what that code printed
        text, role = f"```\n{_plain(content.get('text'))}\n```", "assistant"
    else:
        return None  # system prompts, browsing and image tools' plumbing
    if not text.strip():
        return None
    return ImportedMessage(
        key=key,
        parent=None,
        role=role,
        content=text,
        model=_plain(metadata.get("model_slug"))[:MAX_ID_LENGTH],
        created=_time(message.get("create_time"), "create_time"),
        finish_reason="stop" if role == "assistant" else "",
    )


def _chatgpt_text(content: dict) -> str:
    """The text of ChatGPT's `parts`: strings as they are, an image or a file as a mention
    (the file itself is not in conversations.json)."""
    if "text" in content and "parts" not in content:
        return _plain(content.get("text"))
    parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict):
            kind = str(part.get("content_type", "attachment")).replace("_asset_pointer", "")
            pieces.append(f"*[{_plain(kind).replace('_', ' ')} not imported]*")
    return storable("\n\n".join(piece for piece in pieces if piece))


# --- shared checks --------------------------------------------------------------------------


def _in_tree_order(conversation: ImportedConversation) -> ImportedConversation:
    """Each message after its parent; refused when a parent is missing, a key repeats or
    the links go round in a circle."""
    by_key: dict[str, ImportedMessage] = {}
    for message in conversation.messages:
        if message.key in by_key:
            raise ImportRefused(f"two messages have the id {message.key!r}.")
        by_key[message.key] = message
    ordered: list[ImportedMessage] = []
    placed: set[str] = set()
    for message in conversation.messages:
        chain = []
        key: str | None = message.key
        while key is not None and key not in placed:
            if key not in by_key:
                raise ImportRefused(f"a message's parent {key!r} is not in the file.")
            if key in chain:
                raise ImportRefused("its messages' `parent` links go round in a circle.")
            chain.append(key)
            key = by_key[key].parent
        for key in reversed(chain):
            ordered.append(by_key[key])
            placed.add(key)
    conversation.messages = ordered
    if conversation.current is not None and conversation.current not in by_key:
        conversation.current = None  # the last message is shown instead
    return conversation


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ImportRefused(f"{what} must be a JSON object.")
    return value


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportRefused(f"`{name}` must be text.")
    return storable(value)


def _plain(value: object) -> str:
    return storable(value) if isinstance(value, str) else ""


def _key(value: object, name: str) -> str:
    """A message's id in the file: text or a whole number, kept as text."""
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise ImportRefused(f"`{name}` must be a message id (text or a whole number).")
    return str(value)[:MAX_ID_LENGTH]


def _pinned(value: object) -> datetime | None:
    """When a conversation was pinned: a time, or `true` (pinned, time unknown: now)."""
    if value is True:
        return datetime.now(tz=UTC)
    if value in (None, False):
        return None
    return _time(value, "pinned")


def _duration(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ImportRefused("`duration_ms` must be a whole number of milliseconds.")
    return value


def _title(title: str) -> str:
    return cut_title(title, TITLE_LENGTH)


def _time(value: object, name: str) -> datetime | None:
    """ISO 8601 text (this site) or seconds since 1970 (ChatGPT); None when absent."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise ImportRefused(f"`{name}` must be a time (ISO 8601, or seconds since 1970).")
