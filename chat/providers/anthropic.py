"""Anthropic's Messages API behind the same interface as chat.providers.openai.

The rest of the app speaks OpenAI's chat format, so the request is translated into
Anthropic's and every streamed event into OpenAI chat.completion.chunk dicts: the one
StreamAssembler then builds the very same reply shape whichever provider answered.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from django.conf import settings

from chat.providers.assembler import (
    Progress,
    StreamAssembler,
    get_checked,
    provider_error,
    unreadable,
)
from chat.providers.http import (
    CLOSED_EARLY,
    Upstream,
    UpstreamError,
    describe_status,
    provider_errors,
    read_events,
    shared_client,
)

API_VERSION = "2023-06-01"


def upstream(server: tuple[str, int] | None = None) -> Upstream:
    return Upstream(settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY, kind="anthropic")


# Anthropic's stop reasons in OpenAI's words; others (e.g. "pause_turn") pass through as is.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}

# Anthropic counts cached prompt tokens apart from `input_tokens`; OpenAI's prompt_tokens
# includes them, so all three make up the prompt.
PROMPT_TOKENS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
TOKEN_COUNTS = (*PROMPT_TOKENS, "output_tokens")


def request_body(
    messages: list[dict], model: str, tools: list[dict] | None, max_tokens: int
) -> dict:
    """The Messages API request for a conversation and tools in the OpenAI format."""
    system = [m["content"] for m in messages if m["role"] == "system" and m.get("content")]
    turns: list[dict] = []
    for message in messages:
        role, text = message["role"], message.get("content") or ""
        if role == "system":
            continue
        if role == "assistant":
            turns.append({"role": "assistant", "content": _assistant_blocks(message)})
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message["tool_call_id"],
                "content": text,
            }
            # Anthropic wants all the results for one assistant turn in one user message.
            if _ends_with_tool_results(turns):
                turns[-1]["content"].append(result)
            else:
                turns.append({"role": "user", "content": [result]})
        elif _ends_with_tool_results(turns):
            # Two user messages in a row are not allowed: the words join the tool results.
            if text:
                turns[-1]["content"].append({"type": "text", "text": text})
        else:
            turns.append({"role": "user", "content": text})

    body: dict = {"model": model, "max_tokens": max_tokens, "messages": turns, "stream": True}
    if system:
        body["system"] = "\n\n".join(system)
    if tools:
        body["tools"] = [_tool(spec["function"]) for spec in tools]
    return body


def _ends_with_tool_results(turns: list[dict]) -> bool:
    # Only a user turn of tool results holds a list of blocks; a plain one holds a string.
    return bool(turns) and turns[-1]["role"] == "user" and isinstance(turns[-1]["content"], list)


def _assistant_blocks(message: dict) -> list[dict]:
    blocks = [{"type": "text", "text": message["content"]}] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        function = call["function"]
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": function["name"],
                "input": _tool_input(function.get("arguments")),
            }
        )
    return blocks


def _tool_input(arguments: object) -> dict:
    """A tool call's arguments as the object Anthropic requires.

    A model may have written broken JSON; that must not make the conversation unsendable.
    """
    if not isinstance(arguments, str):
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool(function: dict) -> dict:
    tool = {
        "name": function["name"],
        # Anthropic requires a schema where OpenAI's is optional: an empty one takes no input.
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


class AnthropicChunks:
    """Turns Anthropic stream events into OpenAI chat.completion.chunk dicts, so
    StreamAssembler joins both alike."""

    def __init__(self) -> None:
        self.stop_reason_seen = False  # a message_delta with a stop_reason arrived
        self._id: str | None = None
        self._model: str | None = None
        # Anthropic's stream has no creation time; the moment the reply started stands in.
        self._created = int(time.time())
        self._tokens: dict[str, int] = {}
        # Anthropic numbers all content blocks, OpenAI only tool calls: block index -> call index.
        self._tool_calls: dict[int | None, int] = {}

    def feed(self, event: str, data: dict) -> list[dict]:
        """The OpenAI chunks for one event (`event` is the SSE event name)."""
        match event:
            case "message_start":
                message = get_checked(data, "message", dict) or {}
                self._id = get_checked(message, "id", str)
                self._model = get_checked(message, "model", str)
                self._count(get_checked(message, "usage", dict) or {})
                return [self._chunk({"role": "assistant", "content": ""})]
            case "content_block_start":
                return self._block_start(data)
            case "content_block_delta":
                return self._block_delta(data)
            case "message_delta":
                return self._message_delta(data)
            case "error":
                raise provider_error(data.get("error"))
        return []  # ping, content_block_stop, message_stop: nothing to add

    def _block_start(self, data: dict) -> list[dict]:
        block = get_checked(data, "content_block", dict) or {}
        if block.get("type") == "text":
            text = get_checked(block, "text", str)
            return [self._chunk({"content": text})] if text else []
        if block.get("type") != "tool_use":
            return []  # thinking and server-side tools are not part of the reply
        index = self._tool_calls[get_checked(data, "index", int)] = len(self._tool_calls)
        # The input usually follows in input_json_delta events; a complete one may come here.
        tool_input = get_checked(block, "input", dict)
        call = {
            "index": index,
            "id": block.get("id"),
            "type": "function",
            "function": {
                "name": block.get("name"),
                "arguments": json.dumps(tool_input) if tool_input else "",
            },
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, data: dict) -> list[dict]:
        delta = get_checked(data, "delta", dict) or {}
        if delta.get("type") == "text_delta":
            text = get_checked(delta, "text", str)
            return [self._chunk({"content": text})] if text else []
        if delta.get("type") != "input_json_delta":
            return []  # thinking, signatures, citations: not shown
        index = self._tool_calls.get(get_checked(data, "index", int))
        if index is None:
            raise unreadable("a tool's input came for no tool call")
        arguments = get_checked(delta, "partial_json", str)
        if not arguments:
            return []
        return [
            self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})
        ]

    def _message_delta(self, data: dict) -> list[dict]:
        chunks = []
        stop_reason = get_checked(get_checked(data, "delta", dict) or {}, "stop_reason", str)
        if stop_reason:
            self.stop_reason_seen = True
            chunks.append(self._chunk({}, FINISH_REASONS.get(stop_reason, stop_reason)))
        usage = get_checked(data, "usage", dict)
        if usage:
            self._count(usage)
            prompt = sum(self._tokens.get(key, 0) for key in PROMPT_TOKENS)
            completion = self._tokens.get("output_tokens", 0)
            chunks.append(
                self._chunk(None)
                | {
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": completion,
                        "total_tokens": prompt + completion,
                    }
                }
            )
        return chunks

    def _count(self, usage: dict) -> None:
        # message_delta's counts are cumulative and may repeat message_start's: latest wins.
        for key in TOKEN_COUNTS:
            value = get_checked(usage, key, int)
            if value is not None:
                self._tokens[key] = value

    def _chunk(self, delta: dict | None, finish_reason: str | None = None) -> dict:
        """An OpenAI chunk for choice 0, or with no choice when `delta` is None."""
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


async def stream_completion(
    upstream: Upstream,
    messages: list[dict],
    model: str,
    assembler: StreamAssembler,
    tools: list[dict] | None = None,
) -> AsyncIterator[Progress]:
    """chat.providers.openai.stream_completion for Anthropic: feed `assembler`, yield what each
    event added; when this ends without raising, `assembler.result()` is the whole reply."""
    max_tokens = settings.CHAT_MAX_TOKENS
    body = request_body(messages, model, tools, max_tokens)
    chunks = AnthropicChunks()
    with provider_errors(upstream):
        async with shared_client().stream(
            "POST", f"{upstream.base_url}/v1/messages", json=body, headers=_headers(upstream)
        ) as response:
            if response.status_code != 200:
                raise UpstreamError(await describe_status(response, upstream))
            async for event in read_events(response):
                if event.event == "message_stop":
                    break
                for chunk in chunks.feed(event.event, _event_data(event.data)):
                    yield assembler.feed(chunk)
            else:
                # A body may end without the blank line that dispatches message_stop (the
                # recorded real streams do): once a stop reason came, the reply is whole.
                if not chunks.stop_reason_seen:
                    raise UpstreamError(CLOSED_EARLY)
            assembler.done = True


def _headers(upstream: Upstream) -> dict[str, str]:
    headers = {
        "anthropic-version": API_VERSION,
        "content-type": "application/json",
        "accept": "text/event-stream",
    }
    if upstream.api_key:
        headers["x-api-key"] = upstream.api_key
    return headers


def _event_data(data: str) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        raise unreadable("an event was not valid JSON") from None
    if not isinstance(value, dict):
        raise unreadable("an event was not a JSON object")
    return value
