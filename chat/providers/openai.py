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


# What servers refused, by base URL, and so how each is asked from then on:
# - "max_completion_tokens": it refused `max_tokens` and asked for `max_completion_tokens`
#   (OpenAI's reasoning models);
# - "no_stream_options": it refused `stream_options` (some older OpenAI-compatible servers):
#   it is not asked for usage, which is then estimated from the text (chat/usage.py).
_quirks: dict[str, set[str]] = {}


def request_body(
    messages: list[dict],
    model: str,
    *,
    stream: bool = True,
    tools: list[dict] | None = None,
    base_url: str = "",
) -> dict:
    quirks = _quirks.get(base_url, set())
    body: dict = {"model": model, "messages": messages, "stream": stream}
    # The longest reply the site pays for, as every provider is asked.
    limit_name = "max_completion_tokens" if "max_completion_tokens" in quirks else "max_tokens"
    body[limit_name] = settings.CHAT_MAX_TOKENS
    if tools:
        body["tools"] = tools
    if stream and "no_stream_options" not in quirks:
        body["stream_options"] = {"include_usage": True}  # a last chunk with the tokens used
    return body


def _quirk(status: int, sentence: str, body: dict) -> str | None:
    """What a refusal says the server wants asked otherwise, if that is all it says."""
    if status not in (400, 422):
        return None
    if "max_tokens" in body and "max_completion_tokens" in sentence:
        return "max_completion_tokens"
    if "stream_options" in body and "stream_options" in sentence:
        return "no_stream_options"
    return None


async def stream_completion(
    upstream: Upstream,
    messages: list[dict],
    model: str,
    assembler: StreamAssembler,
    tools: list[dict] | None = None,
) -> AsyncIterator[Progress]:
    """Stream one completion, feeding `assembler` and yielding what each event added.

    When this ends without raising, `assembler.result()` is the whole reply. A server that
    refuses a part of the request it can do without is asked again without it, and
    remembered.
    """
    for _ in range(3):  # at most once for each quirk, then the refusal stands
        body = request_body(messages, model, tools=tools, base_url=upstream.base_url)
        try:
            async for progress in _stream(upstream, body, assembler):
                yield progress
            return
        except _Refused as refused:
            _quirks.setdefault(upstream.base_url, set()).add(refused.quirk)
    raise UpstreamError("The model provider refused the request.")


class _Refused(Exception):
    """The server refused a part of the request it can do without (a quirk)."""

    def __init__(self, quirk: str) -> None:
        self.quirk = quirk


async def _stream(
    upstream: Upstream, body: dict, assembler: StreamAssembler
) -> AsyncIterator[Progress]:
    with provider_errors(upstream):
        async with shared_client().stream(
            "POST", upstream.completions_url, json=body, headers=upstream.headers()
        ) as response:
            if response.status_code != 200:
                sentence = await describe_status(response, upstream)
                quirk = _quirk(response.status_code, sentence, body)
                if quirk is not None:
                    raise _Refused(quirk)
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
