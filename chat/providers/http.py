"""What every provider shares: where its API is (`Upstream`), the one HTTP client of the
process, reading a streamed body's events with an idle timeout, and failures in words.

Every failure becomes an `UpstreamError` whose text is a plain sentence for the user.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import math
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from chat.providers.assembler import StreamError
from chat.providers.network import AsyncioTransport, yield_to_others
from chat.providers.sse import MAX_EVENT_CHARS, EventTooLarge, ServerSentEvent, aiter_sse

log = logging.getLogger(__name__)

# How much of an error body to read: enough for the provider's message, bounded because it
# is untrusted.
ERROR_BODY_LIMIT = 16_384


class UpstreamError(Exception):
    """The reply could not be had; str() says why in plain words."""


@dataclass(frozen=True)
class Upstream:
    base_url: str
    api_key: str = ""
    kind: str = "openai"  # the protocol it speaks: a module of chat.providers

    @property
    def completions_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def env_prefix(self) -> str:
        """The prefix of the settings that configure this upstream, for hints in errors."""
        return self.kind.upper()  # OPENAI_API_KEY, ANTHROPIC_API_KEY, ...

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context. Loading the CA certificates takes some 20 ms, too long
    to spend on the event loop when the first reply starts: the app loads it at startup."""
    return httpx.create_ssl_context()


# One client per process (per event loop: a pool cannot outlive the loop it was made on).
_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def shared_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        for old_loop in [old for old in _clients if old.is_closed()]:
            del _clients[old_loop]
        limits = httpx.Limits(
            # A connection for every reply this process may write, and as many again for
            # the title requests that follow them: a reply never queues for a connection.
            max_connections=2 * settings.CHAT_MAX_REPLIES,
            max_keepalive_connections=settings.CHAT_MAX_REPLIES,
        )
        client = httpx.AsyncClient(
            transport=AsyncioTransport(verify=tls_context(), limits=limits),
            timeout=httpx.Timeout(
                connect=settings.CHAT_CONNECT_TIMEOUT,
                read=settings.CHAT_READ_TIMEOUT,
                write=settings.CHAT_CONNECT_TIMEOUT,
                pool=settings.CHAT_CONNECT_TIMEOUT,
            ),
        )
        _clients[loop] = client
    return client


@contextmanager
def provider_errors(upstream: Upstream) -> Iterator[None]:
    """Turn what can fail while talking to the provider into an UpstreamError that says why."""
    try:
        yield
    except StreamError as exc:
        raise UpstreamError(str(exc)) from exc
    except httpx.PoolTimeout as exc:  # every connection of the pool in use: not the provider
        raise UpstreamError(
            "The server has too many requests to the model provider open at once. "
            "Try again in a moment."
        ) from exc
    except httpx.ConnectError as exc:
        raise UpstreamError(
            f"Could not connect to the model provider at {upstream.host}. "
            f"Check {upstream.env_prefix}_BASE_URL and that the server is running."
        ) from exc
    except httpx.TimeoutException as exc:
        raise UpstreamError(
            f"The model provider at {upstream.host} did not answer in time."
        ) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(
            "The connection to the model provider broke before the reply finished."
        ) from exc


CLOSED_EARLY = "The model provider closed the connection before the reply finished."
EVENT_TOO_LARGE = (
    f"The model provider sent one event larger than {MAX_EVENT_CHARS:,} characters, more "
    "than this site accepts, so the reply was ended."
)
# A read that finds data buffered returns without suspending, so a provider sending fast
# could keep this task running for as long as its buffer lasts. Past this much time without
# a pause, the stream lets the other tasks on the loop run (docs/security.md: the 20 ms rule).
SLICE = 0.005  # seconds
# An event this long (in characters) is work enough for a slice of its own: reading and
# decoding it, then parsing, keeping and relaying it. The stream pauses before and after.
LARGE_EVENT = 65_536


async def read_events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """A streamed body's events until it ends.

    Raises UpstreamError when no event arrives for CHAT_IDLE_TIMEOUT seconds. One timer
    watches the whole stream (a timeout per event cost a timer and a context per token):
    it stops the task only while that task is waiting here for an event. Raises it too for
    an event too large to parse without holding up the loop.
    """
    idle = settings.CHAT_IDLE_TIMEOUT
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    cancelling = task.cancelling()
    waiting_since: float | None = None  # when the wait for the next event began
    stalled = False

    def watch() -> None:
        nonlocal timer, stalled
        if waiting_since is not None and loop.time() >= waiting_since + idle:
            stalled = True
            task.cancel()
        else:
            since = loop.time() if waiting_since is None else waiting_since
            timer = loop.call_at(since + idle, watch)

    events = aiter_sse(response.aiter_bytes())
    timer = loop.call_at(loop.time() + idle, watch)
    slice_began = loop.time()
    try:
        while True:
            waiting_since = loop.time()
            if waiting_since - slice_began > SLICE:
                await yield_to_others()
                slice_began = waiting_since = loop.time()
            try:
                # Only parsed events count as progress: keep-alive comments never reach here.
                event = await anext(events)
            except StopAsyncIteration:
                return
            except EventTooLarge:
                raise UpstreamError(EVENT_TOO_LARGE) from None
            except asyncio.CancelledError:
                if stalled and task.uncancel() <= cancelling:
                    raise UpstreamError(
                        f"The model provider stopped sending for {idle:g} seconds, "
                        "so the reply was ended."
                    ) from None
                raise
            waiting_since = None
            large = len(event.data) >= LARGE_EVENT
            if large:
                await yield_to_others()
            yield event
            if large:
                slice_began = -math.inf  # pause before reading the next one
    finally:
        timer.cancel()


async def read_json(response: httpx.Response) -> dict:
    raw = await response.aread()
    try:
        body = json.loads(raw)
    except ValueError:
        raise UpstreamError("The model provider sent a reply that is not valid JSON.") from None
    if not isinstance(body, dict):
        raise UpstreamError("The model provider sent a reply of an unexpected shape.")
    return body


STATUS_MESSAGES = {
    400: "The model provider refused the request (400 Bad Request).",
    401: "The model provider rejected the API key (401 Unauthorized). Check {env}_API_KEY.",
    403: "The model provider refused access (403 Forbidden). Check the API key's permissions.",
    404: "The model provider does not know this model or endpoint (404 Not Found). "
    "Check CHAT_MODEL and {env}_BASE_URL.",
    408: "The model provider timed out (408).",
    413: "The conversation is too long for the model provider (413).",
    429: "The model provider is rate-limiting requests (429 Too Many Requests).",
}


def retry_after_seconds(value: str | None) -> int | None:
    """A Retry-After header's wait in whole seconds (it is seconds or an HTTP date), or
    None when there is none or it makes no sense."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(int(value), 86_400)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, min(math.ceil((when - datetime.now(UTC)).total_seconds()), 86_400))


def in_words(seconds: int) -> str:
    """ "20 seconds", "1 minute", "3 minutes": how long to wait, as a person says it."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def describe_status(response: httpx.Response, upstream: Upstream) -> str:
    """A sentence for a non-200 answer, with the provider's own message when it gave one."""
    status = response.status_code
    detail = ""
    try:
        raw = b""
        async for piece in response.aiter_bytes():
            raw += piece
            if len(raw) >= ERROR_BODY_LIMIT:
                break
        body = json.loads(raw[:ERROR_BODY_LIMIT])
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str):
            detail = " ".join(message.split())[:300]
    except (ValueError, httpx.HTTPError):
        pass
    if status in STATUS_MESSAGES:
        text = STATUS_MESSAGES[status].format(env=upstream.env_prefix)
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            text += (
                f" It asks to wait {in_words(wait)}: retry after that."
                if wait
                else " It did not say for how long: retry in a minute."
            )
    elif status >= 500:
        text = f"The model provider had a server error ({status}). Retry in a moment."
    else:
        text = f"The model provider answered with an unexpected status ({status})."
    return f"{text} It said: {detail}" if detail else text
