"""How many replies one process writes at once (CHAT_MAX_REPLIES), and what happens past it:
a clear `busy`, never a made-up provider failure."""

import asyncio

import pytest

from chat.models import Message
from chat.providers import stream_completion
from chat.providers.assembler import StreamAssembler
from chat.providers.http import Upstream, UpstreamError
from tests.upstream_server import text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = [{"role": "user", "content": "hi"}]


async def test_a_message_past_chat_max_replies_is_refused_as_busy_and_saves_nothing(
    alice, upstream, settings
):
    settings.CHAT_MAX_REPLIES = 1
    upstream.queue(text_reply(["a ", "b ", "c"], pause=0.2))
    first = await Socket.open_as(alice)
    await first.send({"type": "send", "conversation": None, "content": "one"})
    await first.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "assistant")

    second = await Socket.open_as(alice)
    await second.send({"type": "send", "conversation": None, "content": "two"})
    refusal = await second.recv()
    assert refusal["type"] == "error"
    assert refusal["code"] == "busy"
    assert "as many replies as it can" in refusal["message"]
    assert not await Message.objects.filter(content="two").aexists()

    assert (await first.recv_reply_end())[-1]["status"] == "complete"
    await second.send({"type": "send", "conversation": None, "content": "three"})
    assert (await second.recv_reply_end())[-1]["status"] == "complete"
    await first.close()
    await second.close()


async def test_every_reply_the_process_may_write_gets_a_connection_at_once(upstream, settings):
    # More than the 100 connections httpx pools by default (and this site once did).
    settings.CHAT_MAX_REPLIES = 110
    settings.CHAT_CONNECT_TIMEOUT = 10.0  # also how long a request may wait for the pool
    upstream.default = text_reply(["x"] * 3, pause=1.0)  # 3 s each: all 110 overlap
    upstream._server.socket.listen(512)  # the test server's backlog of 5 is no pool

    async def stream(delay: float) -> float:
        await asyncio.sleep(delay)
        started = asyncio.get_running_loop().time()
        first = None
        async for _ in stream_completion(Upstream(upstream.url), MESSAGES, "m", StreamAssembler()):
            first = first or asyncio.get_running_loop().time() - started  # read on to the end
        return first

    waits = await asyncio.gather(*(stream(i * 0.01) for i in range(110)))
    # Waiting for a pooled connection would mean waiting for a stream to end: 2 s or more.
    assert max(waits) < 1.8, "a reply waited for a connection"


async def test_a_pool_with_no_free_connection_says_so_not_that_the_provider_failed(
    upstream, settings
):
    settings.CHAT_MAX_REPLIES = 1  # a pool of 2: one reply and one title request
    settings.CHAT_CONNECT_TIMEOUT = 0.3
    upstream.default = text_reply(["x"] * 10, pause=0.1)

    async def stream() -> None:
        async for _ in stream_completion(Upstream(upstream.url), MESSAGES, "m", StreamAssembler()):
            pass

    outcomes = await asyncio.gather(*(stream() for _ in range(3)), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], UpstreamError)
    assert "too many requests to the model provider open at once" in str(errors[0])
