"""A demo model behind a real OpenAI-compatible endpoint, so a fresh install works at once.

It is served by this same site at /demo/v1/chat/completions when no provider is configured
(chat/providers/demo.py points the replies there),
and streams a markdown-rich reply at a model's pace over real HTTP, through the same client
code a real provider goes through.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

DEMO_MODEL = "demo"

REPLY = """\
**This is the demo model**, not a real LLM: the site has no provider configured yet. \
You said:

> {quote}

Here is what a real reply can look like while it streams.

## Markdown, rendered as it grows

- Lists, **bold**, *italics* and ~~strikethrough~~
- Links such as [the Django docs](https://docs.djangoproject.com/)
- Inline `code` and fenced code with highlighting:

```python
def fibonacci(n: int) -> list[int]:
    \"\"\"The first n Fibonacci numbers.\"\"\"
    numbers = [0, 1]
    while len(numbers) < n:
        numbers.append(numbers[-1] + numbers[-2])
    return numbers[:n]
```

| Setting | What it does |
|---|---|
| `OPENAI_API_KEY` | the key for your provider |
| `OPENAI_BASE_URL` | any OpenAI-compatible server |
| `CHAT_MODEL` | the model to ask |

### To connect a real model

1. Set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for Ollama, vLLM or LM Studio).
2. Restart the site.

- [x] Streaming works
- [ ] Connect a real provider

Ask me `what time is it in Asia/Tokyo?` or `calculate 12*(3+4)` to see a tool call.
"""

TOOL_REPLY = """\
The `{name}` tool answered:

{fence}json
{result}
{fence}

The block above shows the call as it happened: its arguments, how long it took and its \
result. A real model uses results like this to write its answer.
"""

ARITHMETIC = re.compile(r"[-+*/().\d\s]*\d\s*[-+*/]\s*[-+*/().\d\s]*\d[)\s]*")
TIME_ZONE = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z_]+(?:/[A-Za-z_]+)?\b")


def demo_tool_call(messages: list, offered: set[str]) -> tuple[str, dict] | None:
    """The tool the demo calls for the last user message, if it reads as a request for one."""
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    text = last.get("content") if last.get("role") == "user" else None
    if not isinstance(text, str):
        return None
    if "calculator" in offered and (match := ARITHMETIC.search(text)):
        return "calculator", {"expression": match.group().strip()}
    if "get_current_time" in offered and re.search(r"\btime\b", text, re.IGNORECASE):
        zone = TIME_ZONE.search(text)
        return "get_current_time", {"timezone": zone.group() if zone else "UTC"}
    return None


def demo_tool_answer(messages: list) -> str:
    """The demo's answer once its tool call has a result (the last message)."""
    names = {
        call["id"]: call["function"]["name"]
        for m in messages
        if isinstance(m, dict)
        for call in m.get("tool_calls") or []
    }
    result = _pretty_json(str(messages[-1].get("content", "")))
    longest = max((len(run) for run in re.findall(r"`+", result)), default=0)
    return TOOL_REPLY.format(
        name=names.get(messages[-1].get("tool_call_id"), "tool"),
        result=result,
        fence="`" * max(3, longest + 1),  # a fence the result cannot close
    )


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def demo_reply(messages: list) -> str:
    last_user = next(
        (
            m.get("content")
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
        ),
        "",
    )
    quote = " ".join(last_user.split())[:200] or "(nothing)"
    # Quoted as text: the demo must not turn the user's words into markdown.
    quote = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~])", r"\\\1", quote)
    return REPLY.format(quote=quote)


def _chunk(
    completion_id: str,
    created: int,
    delta: dict,
    finish_reason: str | None = None,
    usage: dict | None = None,
) -> bytes:
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": DEMO_MODEL,
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage:
        chunk["usage"] = usage
    return f"data: {json.dumps(chunk)}\n\n".encode()


async def _stream_tool_call(name: str, arguments: dict) -> AsyncIterator[bytes]:
    completion_id, created = f"chatcmpl-demo-{time.time_ns()}", int(time.time())
    yield _chunk(completion_id, created, {"role": "assistant", "content": None})
    call = {
        "index": 0,
        "id": f"call_demo_{time.time_ns()}",
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    yield _chunk(completion_id, created, {"tool_calls": [call]})
    encoded = json.dumps(arguments)
    for start in range(0, len(encoded), 4):  # arguments arrive in fragments, as they do
        await asyncio.sleep(settings.CHAT_DEMO_DELAY)
        fragment = {"index": 0, "function": {"arguments": encoded[start : start + 4]}}
        yield _chunk(completion_id, created, {"tool_calls": [fragment]})
    yield _chunk(completion_id, created, {}, finish_reason="tool_calls")
    yield b"data: [DONE]\n\n"


async def _stream(text: str) -> AsyncIterator[bytes]:
    completion_id, created = f"chatcmpl-demo-{time.time_ns()}", int(time.time())
    yield _chunk(completion_id, created, {"role": "assistant", "content": ""})
    # A word or so at a time, like tokens.
    for piece in [*re.findall(r"\s*\S+", text), text[len(text.rstrip()) :]]:
        await asyncio.sleep(settings.CHAT_DEMO_DELAY)
        yield _chunk(completion_id, created, {"content": piece})
    yield _chunk(completion_id, created, {}, finish_reason="stop")
    words = len(text.split())
    yield _chunk(
        completion_id,
        created,
        {},
        usage={"prompt_tokens": 20, "completion_tokens": words, "total_tokens": 20 + words},
    )
    yield b"data: [DONE]\n\n"


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if not settings.CHAT_DEMO_MODE:
        raise Http404("The demo model is off because a real provider is configured.")
    if request.method != "POST":
        return JsonResponse({"error": {"message": "Use POST."}}, status=405)
    try:
        body = json.loads(request.body)
        messages = body["messages"]
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"error": {"message": "Expected a JSON body with messages."}}, status=400
        )
    messages = messages if isinstance(messages, list) else []
    offered = {
        spec["function"].get("name")
        for spec in body.get("tools") or []
        if isinstance(spec, dict) and isinstance(spec.get("function"), dict)
    }
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    wanted = demo_tool_call(messages, offered) if body.get("stream") else None
    if wanted:
        return _event_stream(_stream_tool_call(*wanted))
    text = demo_tool_answer(messages) if last.get("role") == "tool" else demo_reply(messages)
    if not body.get("stream"):
        words = len(text.split())
        return JsonResponse(
            {
                "id": f"chatcmpl-demo-{time.time_ns()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": DEMO_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": words,
                    "total_tokens": 20 + words,
                },
            }
        )
    return _event_stream(_stream(text))


def _event_stream(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
