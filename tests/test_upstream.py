"""The upstream client against a real local HTTP server."""

import json

import pytest

from chat.providers import stream_completion, upstream_for
from chat.providers.assembler import StreamAssembler
from chat.providers.http import Upstream, UpstreamError
from chat.providers.openai import complete
from tests.upstream_server import DONE, Reply, chunk, error_reply, text_reply

MESSAGES = [{"role": "user", "content": "hi"}]
TOOL_CALL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": ""},
}


async def streamed(upstream_url: str, api_key: str = "sk") -> tuple[list, dict]:
    assembler = StreamAssembler()
    progress = [
        p
        async for p in stream_completion(Upstream(upstream_url, api_key), MESSAGES, "m", assembler)
    ]
    return progress, assembler.result()


def whole_response(content: str, tool_calls: list | None = None) -> Reply:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "test-model-2024",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
    return Reply(content_type="application/json", body=[json.dumps(body).encode()])


async def test_stream_false_gives_the_same_result_as_the_stream(upstream):
    tool_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
    }
    upstream.queue(
        Reply(
            body=[
                chunk({"role": "assistant", "content": "Hello"}),
                chunk({"content": " there", "tool_calls": [TOOL_CALL]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
                chunk({}, finish_reason="tool_calls"),
                chunk(
                    None, usage={"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
                ),
                DONE,
            ]
        ),
        whole_response("Hello there", [tool_call]),
    )
    _, from_stream = await streamed(upstream.url)
    from_whole = await complete(Upstream(upstream.url, "sk"), MESSAGES, "m")
    assert from_stream == from_whole
    assert from_whole["choices"][0]["message"]["tool_calls"] == [tool_call]
    assert upstream.requests[1]["body"]["stream"] is False
    assert "stream_options" not in upstream.requests[1]["body"]


async def test_a_server_that_ignores_stream_true_is_read_in_one_piece(upstream):
    upstream.queue(whole_response("All at once"))
    progress, result = await streamed(upstream.url)
    assert [p.content for p in progress] == ["All at once"]
    assert result["choices"][0]["message"]["content"] == "All at once"
    assert result["usage"]["total_tokens"] == 18


async def test_each_delta_is_yielded_as_it_arrives(upstream):
    upstream.queue(text_reply(["a", "b", "c"]))
    progress, result = await streamed(upstream.url)
    assert [p.content for p in progress if p.content] == ["a", "b", "c"]
    assert result["choices"][0]["finish_reason"] == "stop"


async def test_the_key_is_sent_only_when_there_is_one(upstream):
    await streamed(upstream.url, api_key="")
    await streamed(upstream.url, api_key="sk-secret")
    first, second = upstream.wait_for_requests(2)
    assert "Authorization" not in first["headers"]
    assert second["headers"]["Authorization"] == "Bearer sk-secret"


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (400, "refused the request"),
        (401, "OPENAI_API_KEY"),
        (403, "refused access"),
        (404, "CHAT_MODEL"),
        (413, "too long"),
        (429, "rate-limiting"),
        (503, "server error (503)"),
        (418, "unexpected status (418)"),
    ],
)
async def test_error_statuses_become_plain_sentences_with_the_providers_words(
    upstream, status, words
):
    upstream.queue(error_reply(status, "provider says no"))
    with pytest.raises(UpstreamError) as failure:
        await streamed(upstream.url)
    assert words in str(failure.value)
    assert "provider says no" in str(failure.value)


async def test_keep_alive_comments_do_not_count_as_progress(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.5
    upstream.queue(
        Reply(
            body=[chunk({"role": "assistant", "content": "x"})] + [b": ping\n\n", 0.1] * 20 + [DONE]
        )
    )
    with pytest.raises(UpstreamError, match=r"stopped sending for 0\.5 seconds"):
        await streamed(upstream.url)


async def test_slow_but_steady_events_are_not_a_stall(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.5
    upstream.queue(text_reply(["a"] * 6, pause=0.3))
    _, result = await streamed(upstream.url)
    assert result["choices"][0]["message"]["content"] == "aaaaaa"


def test_the_demo_upstream_is_this_server(settings):
    settings.CHAT_DEMO_MODE = True
    assert upstream_for("demo", ("0.0.0.0", 8123)).base_url == ("http://127.0.0.1:8123/demo/v1")
    assert upstream_for("demo", ("::1", 8000)).base_url == "http://[::1]:8000/demo/v1"


def test_each_model_is_served_by_its_configured_provider(settings):
    settings.CHAT_DEMO_MODE = False
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = "http://ollama:11434/v1", ""
    settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY = "http://claude.test", "ak"
    settings.CHAT_MODEL_PROVIDERS = {"llama3.1:8b": "openai", "claude-x": "anthropic"}
    assert upstream_for("llama3.1:8b") == Upstream("http://ollama:11434/v1", "")
    assert upstream_for("claude-x") == Upstream("http://claude.test", "ak", "anthropic")


async def test_tools_are_offered_in_the_request_when_there_are_some(upstream):
    spec = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    assembler = StreamAssembler()
    upstream_config = Upstream(upstream.url, "sk")
    [p async for p in stream_completion(upstream_config, MESSAGES, "m", assembler, [spec])]
    [p async for p in stream_completion(upstream_config, MESSAGES, "m", StreamAssembler(), [])]
    with_tools, without = upstream.wait_for_requests(2)
    assert with_tools["body"]["tools"] == [spec]
    assert "tools" not in without["body"]


async def test_stream_false_fails_in_the_same_words_as_the_stream(upstream):
    upstream.queue(error_reply(429, "slow down"), error_reply(429, "slow down"))
    with pytest.raises(UpstreamError) as streaming:
        await streamed(upstream.url)
    with pytest.raises(UpstreamError) as whole:
        await complete(Upstream(upstream.url, "sk"), MESSAGES, "m")
    assert str(whole.value) == str(streaming.value)
    assert "rate-limiting" in str(whole.value)
