"""The idle limit on a streamed reply (CHAT_IDLE_TIMEOUT) counts only the time spent
waiting for the provider's next event: one watch per stream, never a false stall."""

import asyncio

import pytest

from chat.providers import stream_completion
from chat.providers.assembler import StreamAssembler
from chat.providers.http import Upstream, UpstreamError
from tests.upstream_server import DONE, Reply, chunk, text_reply

MESSAGES = [{"role": "user", "content": "hi"}]


def stream(url: str):
    return stream_completion(Upstream(url), MESSAGES, "m", StreamAssembler())


async def test_time_spent_between_events_by_the_reader_is_not_a_stall(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.3
    upstream.queue(text_reply(["a", "b", "c"]))
    pieces = []
    async for progress in stream(upstream.url):
        pieces.append(progress.content)
        await asyncio.sleep(0.4)  # longer than the limit, but not waiting for the provider
    assert "".join(pieces) == "abc"


async def test_a_stall_ends_the_stream_and_leaves_the_task_usable(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.3
    upstream.queue(Reply(body=[chunk({"role": "assistant", "content": "x"}), 2.0, DONE]))
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamError, match=r"stopped sending for 0\.3 seconds"):
        async for _ in stream(upstream.url):
            pass
    assert asyncio.get_running_loop().time() - started < 1.5
    assert asyncio.current_task().cancelling() == 0
    await asyncio.sleep(0.01)  # not cancelled: the reply can still be saved


async def test_cancelling_the_reader_while_it_waits_is_a_cancel_not_a_stall(upstream, settings):
    settings.CHAT_IDLE_TIMEOUT = 0.3
    upstream.queue(Reply(body=[chunk({"role": "assistant", "content": "x"}), 2.0, DONE]))

    async def read() -> None:
        async for _ in stream(upstream.url):
            pass

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
