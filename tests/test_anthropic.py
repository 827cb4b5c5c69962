"""The Anthropic adapter: recorded real streams, the request mapping, and the client against a
real local HTTP server."""

import json
import time

import pytest

from chat.providers.anthropic import AnthropicChunks, request_body, stream_completion
from chat.providers.assembler import StreamAssembler, StreamError
from chat.providers.http import Upstream, UpstreamError
from chat.providers.sse import SSEDecoder
from tests.test_sse import fixture_files, require_fixtures
from tests.upstream_server import Reply

# What the official SDK's stop_reason means in OpenAI's words (an independent statement of the
# mapping, not the module's own table).
OPENAI_FINISH = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "max_tokens": "length",
}
CUT_SHORT = "anthropic_incomplete_partial_json_response.sse"


# Recorded streams


def assemble_recording(raw: bytes) -> tuple[AnthropicChunks, dict]:
    decoder = SSEDecoder()
    events = decoder.feed(raw) + decoder.close()
    chunks, assembler = AnthropicChunks(), StreamAssembler()
    for event in events:
        for chunk in chunks.feed(event.event, json.loads(event.data)):
            assembler.feed(chunk)
    return chunks, assembler.result()


def test_anthropic_fixtures_are_present() -> None:
    assert list(require_fixtures().glob("anthropic_*.sse"))


@pytest.mark.parametrize("path", fixture_files("anthropic_*.sse"), ids=lambda path: path.name)
def test_recorded_stream_assembles_as_the_official_sdk_does(path) -> None:
    expected = json.loads((require_fixtures() / "expected.json").read_text())[path.name]
    chunks, result = assemble_recording(path.read_bytes())

    assert chunks.stop_reason_seen
    [choice] = result["choices"]
    assert choice["finish_reason"] == OPENAI_FINISH[expected["stop_reason"]]
    message = choice["message"]
    texts = [block["text"] for block in expected["content"] if block["type"] == "text"]
    assert (message["content"] or "") == "".join(texts)

    tool_uses = [block for block in expected["content"] if block["type"] == "tool_use"]
    calls = message.get("tool_calls", [])
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        (block["id"], "function", block["name"]) for block in tool_uses
    ]
    for call, block in zip(calls, tool_uses, strict=True):
        arguments = call["function"]["arguments"]
        if path.name == CUT_SHORT:
            # The JSON was cut midway: the raw string is kept, and everything the SDK read
            # from it so far is in it.
            with pytest.raises(ValueError):
                json.loads(arguments)
            assert arguments.startswith('{"filename": "taxes.txt"')
            for line in block["input"]["lines_of_text"]:
                assert json.dumps(line) in arguments
        else:
            assert json.loads(arguments) == block["input"]

    usage = expected["usage"]
    prompt = usage["input_tokens"] + usage.get("cache_creation_input_tokens", 0)
    prompt += usage.get("cache_read_input_tokens", 0)
    assert result["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": usage["output_tokens"],
        "total_tokens": prompt + usage["output_tokens"],
    }


# The request


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def tool_call(call_id: str, arguments: str) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "lookup", "arguments": arguments},
    }


def test_request_body_maps_a_conversation_with_tool_calls() -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": "Define two words."},
        {
            "role": "assistant",
            "content": "Looking them up.",
            "tool_calls": [
                tool_call("call_1", '{"q": "alpha"}'),
                tool_call("call_2", '{"q": "beta"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "first letter"},
        {"role": "tool", "tool_call_id": "call_2", "content": "second letter"},
        {"role": "user", "content": "Thanks, and shorter please."},
    ]
    assert request_body(history, "claude-x", TOOLS, 1000) == {
        "model": "claude-x",
        "max_tokens": 1000,
        "stream": True,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "Define two words."},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking them up."},
                    {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "alpha"}},
                    {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {"q": "beta"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "first letter"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "second letter"},
                    {"type": "text", "text": "Thanks, and shorter please."},
                ],
            },
        ],
        "tools": [
            {
                "name": "lookup",
                "description": "Look a word up.",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
    }


@pytest.mark.parametrize("arguments", ['{"q": ', "[1, 2]", "null", ""])
def test_tool_call_arguments_that_are_not_a_json_object_become_an_empty_input(arguments) -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call("call_1", arguments)]},
    ]
    body = request_body(history, "claude-x", None, 10)
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {}}
    ]
    assert "system" not in body
    assert "tools" not in body


# Events


def test_a_tool_input_given_whole_at_block_start_becomes_the_arguments() -> None:
    chunks = AnthropicChunks()
    [chunk] = chunks.feed(
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": 1}},
        },
    )
    [call] = chunk["choices"][0]["delta"]["tool_calls"]
    assert call == {
        "index": 0,
        "id": "t1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": 1}'},
    }


def test_an_error_event_raises_with_the_providers_message() -> None:
    with pytest.raises(StreamError, match="reported an error: Overloaded"):
        AnthropicChunks().feed(
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )


# The client against a real server


def event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


MESSAGE_START = event(
    "message_start",
    {
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        }
    },
)
PING = event("ping", {})
MESSAGE_STOP = event("message_stop", {})


def text_start(index: int = 0) -> bytes:
    return event(
        "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
    )


def text_delta(text: str, index: int = 0) -> bytes:
    return event(
        "content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": text}}
    )


def block_stop(index: int) -> bytes:
    return event("content_block_stop", {"index": index})


def message_delta(stop_reason: str, output_tokens: int = 5) -> bytes:
    return event(
        "message_delta",
        {
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    )


def tool_use(index: int, tool_id: str, name: str, arguments: str) -> list[bytes]:
    """A tool_use block whose input arrives one character per event."""
    start = event(
        "content_block_start",
        {
            "index": index,
            "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}},
        },
    )
    deltas = [
        event(
            "content_block_delta",
            {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
        )
        for piece in ["", *arguments]
    ]
    return [start, *deltas, block_stop(index)]


HELLO = [
    MESSAGE_START,
    text_start(),
    PING,
    text_delta("Hel"),
    text_delta("lo!"),
    block_stop(0),
    message_delta("end_turn"),
    MESSAGE_STOP,
]


def anthropic_upstream(server_url: str) -> Upstream:
    return Upstream(base_url=server_url.removesuffix("/v1"), api_key="k", kind="anthropic")


async def streamed(server_url: str, tools: list[dict] | None = None) -> tuple[list, dict]:
    assembler = StreamAssembler()
    progress = [
        p
        async for p in stream_completion(
            anthropic_upstream(server_url),
            [{"role": "user", "content": "hi"}],
            "m",
            assembler,
            tools,
        )
    ]
    assert assembler.done
    return progress, assembler.result()


async def test_a_text_reply_in_the_openai_shape(upstream, settings):
    settings.CHAT_MAX_TOKENS = 321
    upstream.queue(Reply(body=HELLO))
    progress, result = await streamed(upstream.url)

    assert "".join(p.content for p in progress) == "Hello!"
    assert isinstance(result.pop("created"), int)
    assert result == {
        "id": "msg_1",
        "object": "chat.completion",
        "model": "claude-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


async def test_the_request_goes_to_the_messages_api(upstream, settings):
    settings.CHAT_MAX_TOKENS = 321
    upstream.queue(Reply(body=HELLO))
    await streamed(upstream.url, TOOLS)

    [request] = upstream.requests
    headers = {key.lower(): value for key, value in request["headers"].items()}
    assert request["path"] == "/v1/messages"
    assert headers["x-api-key"] == "k"
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert request["body"] == {
        "model": "m",
        "max_tokens": 321,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {
                "name": "lookup",
                "description": "Look a word up.",
                "input_schema": TOOLS[0]["function"]["parameters"],
            }
        ],
    }


async def test_tool_use_in_many_fragments_assembles_into_openai_tool_calls(upstream):
    upstream.queue(
        Reply(
            body=[
                MESSAGE_START,
                text_start(0),
                text_delta("Checking."),
                block_stop(0),
                *tool_use(1, "toolu_a", "lookup", '{"q": "Paris", "n": [1, 2]}'),
                *tool_use(2, "toolu_b", "lookup", '{"q": "Rome"}'),
                message_delta("tool_use"),
                MESSAGE_STOP,
            ]
        )
    )
    progress, result = await streamed(upstream.url)

    assert sum(p.tool_calls for p in progress) > 10
    [choice] = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_a",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "Paris", "n": [1, 2]}'},
        },
        {
            "id": "toolu_b",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": "Rome"}'},
        },
    ]


async def test_the_reply_is_whole_when_the_body_ends_after_a_stop_reason(upstream):
    # As in the recordings: message_stop has no blank line after it, so it never dispatches.
    upstream.queue(Reply(body=[*HELLO[:-1], b'event: message_stop\ndata: {"type":"message_stop"}']))
    _, result = await streamed(upstream.url)
    assert result["choices"][0]["message"]["content"] == "Hello!"


async def test_message_stop_ends_the_reply_without_waiting_for_the_body_to_end(upstream):
    upstream.queue(Reply(body=[*HELLO, 2.0, PING]))
    started = time.monotonic()
    await streamed(upstream.url)
    assert time.monotonic() - started < 1.5


async def test_an_error_event_mid_stream_is_an_upstream_error(upstream):
    error = {"error": {"type": "overloaded_error", "message": "Overloaded right now"}}
    upstream.queue(
        Reply(body=[MESSAGE_START, text_start(), text_delta("Hel"), event("error", error)])
    )
    with pytest.raises(UpstreamError, match="reported an error: Overloaded right now"):
        await streamed(upstream.url)


async def test_a_rejected_key_says_so_with_the_providers_message(upstream):
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    upstream.queue(
        Reply(status=401, content_type="application/json", body=[json.dumps(body).encode()])
    )
    with pytest.raises(UpstreamError) as caught:
        await streamed(upstream.url)
    assert "rejected the API key" in str(caught.value)
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert "invalid x-api-key" in str(caught.value)


async def test_a_body_cut_before_any_stop_reason_is_an_upstream_error(upstream):
    upstream.queue(Reply(body=[MESSAGE_START, text_start(), text_delta("Hel")]))
    with pytest.raises(UpstreamError, match="closed the connection before the reply finished"):
        await streamed(upstream.url)


async def test_a_silent_provider_is_an_upstream_error(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.2
    upstream.queue(Reply(body=[MESSAGE_START, text_start(), 1.0, *HELLO[3:]]))
    with pytest.raises(UpstreamError, match=r"stopped sending for 0\.2 seconds"):
        await streamed(upstream.url)
