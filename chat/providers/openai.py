"""OpenAI's chat completions API, as OpenAI, Ollama, vLLM, llama.cpp server, LM Studio,
OpenRouter, Groq and others serve it (`OPENAI_BASE_URL`, `OPENAI_API_KEY`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from django.conf import settings

from chat.providers.assembler import (
    Progress,
    StreamAssembler,
    as_stream_chunk,
    assemble_response,
)
from chat.providers.http import (
    CLOSED_EARLY,
    Upstream,
    UpstreamError,
    describe_status,
    provider_errors,
    read_events,
    read_json,
    shared_client,
)


def upstream(server: tuple[str, int] | None = None) -> Upstream:
    return Upstream(base_url=settings.OPENAI_BASE_URL, api_key=settings.OPENAI_API_KEY)


# Servers that refused `max_tokens` and asked for `max_completion_tokens` (OpenAI's
# reasoning models), by base URL: asked that way from then on.
_completion_tokens_servers: set[str] = set()


def request_body(
    messages: list[dict],
    model: str,
    *,
    stream: bool = True,
    tools: list[dict] | None = None,
    base_url: str = "",
) -> dict:
    body: dict = {"model": model, "messages": messages, "stream": stream}
    # The longest reply the site pays for, as every provider is asked.
    limit_name = "max_completion_tokens" if base_url in _completion_tokens_servers else "max_tokens"
    body[limit_name] = settings.CHAT_MAX_TOKENS
    if tools:
        body["tools"] = tools
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _asks_for_completion_tokens(status: int, sentence: str) -> bool:
    return status == 400 and "max_completion_tokens" in sentence


async def stream_completion(
    upstream: Upstream,
    messages: list[dict],
    model: str,
    assembler: StreamAssembler,
    tools: list[dict] | None = None,
) -> AsyncIterator[Progress]:
    """Stream one completion, feeding `assembler` and yielding what each event added.

    When this ends without raising, `assembler.result()` is the whole reply.
    """
    body = request_body(messages, model, tools=tools, base_url=upstream.base_url)
    try:
        async for progress in _stream(upstream, body, assembler):
            yield progress
    except _WantsCompletionTokens:
        _completion_tokens_servers.add(upstream.base_url)
        body = request_body(messages, model, tools=tools, base_url=upstream.base_url)
        async for progress in _stream(upstream, body, assembler):
            yield progress


class _WantsCompletionTokens(Exception):
    """The server refused `max_tokens` and asked for `max_completion_tokens`."""


async def _stream(
    upstream: Upstream, body: dict, assembler: StreamAssembler
) -> AsyncIterator[Progress]:
    with provider_errors(upstream):
        async with shared_client().stream(
            "POST", upstream.completions_url, json=body, headers=upstream.headers()
        ) as response:
            if response.status_code != 200:
                sentence = await describe_status(response, upstream)
                if "max_tokens" in body and _asks_for_completion_tokens(
                    response.status_code, sentence
                ):
                    raise _WantsCompletionTokens
                raise UpstreamError(sentence)
            if response.headers.get("content-type", "").startswith("application/json"):
                # A server that ignores stream=true answers in one piece: same result.
                yield assembler.feed(as_stream_chunk(await read_json(response)))
                assembler.done = True
                return
            async for progress in _read_progress(response, assembler):
                yield progress


async def _read_progress(
    response: httpx.Response, assembler: StreamAssembler
) -> AsyncIterator[Progress]:
    async for event in read_events(response):
        progress = assembler.feed_data(event.data)
        if assembler.done:
            return
        yield progress
    raise UpstreamError(CLOSED_EARLY)


async def complete(upstream: Upstream, messages: list[dict], model: str) -> dict:
    """One completion with stream=false, in the same shape as an assembled stream."""
    with provider_errors(upstream):
        response = await shared_client().post(
            upstream.completions_url,
            json=request_body(messages, model, stream=False, base_url=upstream.base_url),
            headers=upstream.headers() | {"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise UpstreamError(await describe_status(response, upstream))
        return assemble_response(await read_json(response))
