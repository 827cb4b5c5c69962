"""Joins OpenAI chat-completion stream chunks into the shape of a non-streamed response.

Streamed and non-streamed replies end up in the same dict, so the rest of the app handles
one shape only. Everything from the provider is checked: a malformed chunk raises
``StreamError`` with a sentence fit to show a user, never a traceback.
"""

import json
from dataclasses import dataclass, field
from typing import Any


class StreamError(Exception):
    """The upstream sent an error object inside the stream (or an unreadable chunk)."""


@dataclass
class Progress:
    """What one chunk added to choice 0, the choice the app shows while it streams."""

    content: str = ""  # text appended to choice 0's content by this chunk
    refusal: str = ""  # text appended to choice 0's refusal by this chunk
    tool_calls: bool = False  # choice 0's tool calls changed (new call or argument fragment)


@dataclass
class _ToolCall:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Choice:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None


def unreadable(what: str) -> StreamError:
    return StreamError(f"The model provider sent a reply that could not be read ({what}).")


def get_checked(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``obj[key]`` if it is of the expected kind, None if absent or null."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise unreadable(f"'{key}' has an unexpected type")
    return value


def provider_error(error: object) -> StreamError:
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        message = "no details given"
    return StreamError(f"The model provider reported an error: {message}")


class StreamAssembler:
    """Accumulates a stream's chunks; ``result()`` may be called at any point."""

    def __init__(self) -> None:
        self.done = False
        self._id: str | None = None
        self._created: int | None = None
        self._model: str | None = None
        self._usage: dict[str, Any] | None = None
        self._choices: dict[int, _Choice] = {}

    def feed_data(self, data: str) -> Progress:
        """Feed the data of one SSE event: a JSON chunk, or the ``[DONE]`` sentinel."""
        if data.strip() == "[DONE]":
            self.done = True
            return Progress()
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise unreadable("a stream chunk was not valid JSON") from exc
        return self.feed(chunk)

    def feed(self, chunk: object) -> Progress:
        """Feed one parsed chunk; return what it added to choice 0."""
        if not isinstance(chunk, dict):
            raise unreadable("a stream chunk was not a JSON object")
        if chunk.get("error"):  # truthy, as the official SDK checks
            raise provider_error(chunk["error"])
        # Azure's first chunk carries an empty id and model and `created: 0`: keep real values.
        self._id = get_checked(chunk, "id", str) or self._id
        self._created = get_checked(chunk, "created", int) or self._created
        self._model = get_checked(chunk, "model", str) or self._model
        self._usage = get_checked(chunk, "usage", dict) or self._usage

        progress = Progress()
        for position, choice in enumerate(get_checked(chunk, "choices", list) or []):
            if not isinstance(choice, dict):
                raise unreadable("a choice was not a JSON object")
            index = get_checked(choice, "index", int)
            if index is None:
                index = position
            state = self._choices.setdefault(index, _Choice())
            delta = get_checked(choice, "delta", dict) or {}
            content = get_checked(delta, "content", str) or ""
            refusal = get_checked(delta, "refusal", str) or ""
            if content:
                state.content.append(content)
            if refusal:
                state.refusal.append(refusal)
            tool_calls_changed = False
            for fragment in get_checked(delta, "tool_calls", list) or []:
                tool_calls_changed |= _merge_tool_call(state.tool_calls, fragment)
            state.finish_reason = get_checked(choice, "finish_reason", str) or state.finish_reason
            if index == 0:
                progress = Progress(content=content, refusal=refusal, tool_calls=tool_calls_changed)
        return progress

    def tool_calls(self, index: int = 0) -> list[dict[str, Any]]:
        """Choice `index`'s tool calls so far, without assembling the whole reply."""
        choice = self._choices.get(index)
        return _tool_calls_result(choice) if choice else []

    def ending(self) -> dict[str, Any]:
        """What ``result()`` says of how the reply ended (the first choice's
        finish_reason, the model, the usage) without joining its text, which may be
        megabytes."""
        first = self._choices[min(self._choices)] if self._choices else None
        return {
            "finish_reason": first.finish_reason if first else None,
            "model": self._model,
            "usage": self._usage,
        }

    def result(self) -> dict[str, Any]:
        """The reply so far, shaped like OpenAI's response to ``stream=false``."""
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [_choice_result(i, self._choices[i]) for i in sorted(self._choices)],
            "usage": self._usage,
        }


def _merge_tool_call(calls: dict[int, _ToolCall], fragment: object) -> bool:
    """Merge one ``tool_calls`` fragment; return whether it changed anything."""
    if not isinstance(fragment, dict):
        raise unreadable("a tool call was not a JSON object")
    call_id = get_checked(fragment, "id", str)
    index = get_checked(fragment, "index", int)
    if index is None:
        # Some OpenAI-compatible servers, and non-streamed replies, send no index: an id
        # starts a new call, a fragment without one continues the latest call.
        index = max(calls, default=-1) + 1 if call_id or not calls else max(calls)
    is_new = index not in calls
    call = calls.setdefault(index, _ToolCall())
    # Providers may repeat the id, type and name in every fragment: set, never append.
    call.id = call_id or call.id
    call.type = get_checked(fragment, "type", str) or call.type
    function = get_checked(fragment, "function", dict) or {}
    name = get_checked(function, "name", str) or ""
    if name and not call.name:
        call.name = name
    arguments = get_checked(function, "arguments", str) or ""
    if arguments:
        call.arguments.append(arguments)
    return is_new or bool(name or arguments)


def _tool_calls_result(choice: _Choice) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": call.type,
            "function": {"name": call.name, "arguments": "".join(call.arguments)},
        }
        for _, call in sorted(choice.tool_calls.items())
    ]


def _choice_result(index: int, choice: _Choice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        # OpenAI gives null, not "", when a reply has no text (a refusal, a tool call).
        "content": "".join(choice.content) or None,
        "refusal": "".join(choice.refusal) or None,
    }
    if choice.tool_calls:
        message["tool_calls"] = _tool_calls_result(choice)
    return {"index": index, "message": message, "finish_reason": choice.finish_reason}


def assemble_response(body: object) -> dict[str, Any]:
    """Check and normalise a ``stream=false`` response body into ``result()``'s shape.

    A whole reply is a single chunk whose deltas are the finished messages, so it goes
    through the same checks as a stream and comes out in exactly the same shape.
    """
    assembler = StreamAssembler()
    assembler.feed(as_stream_chunk(body))
    return assembler.result()


def as_stream_chunk(body: object) -> object:
    """A whole (stream=false) response as one stream chunk carrying the finished messages."""
    if isinstance(body, dict) and isinstance(body.get("choices"), list):
        return {**body, "choices": [_message_as_delta(choice) for choice in body["choices"]]}
    return body


def _message_as_delta(choice: object) -> object:
    if isinstance(choice, dict) and "message" in choice:
        return {**choice, "delta": choice["message"]}
    return choice
