"""Replies being written are saved every CHAT_CHECKPOINT_INTERVAL, all of a process's
replies in one database call, and a checkpoint never touches a reply that has ended."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import replies, running
from chat.models import Conversation, Message
from tests.upstream_server import text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_every_reply_being_written_is_checkpointed(alice, upstream, settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 0.1
    upstream.queue(*(text_reply([f"w{i} " for i in range(30)], pause=0.05) for _ in range(2)))
    sockets = [await Socket.open_as(alice) for _ in range(2)]
    for socket in sockets:
        await socket.send({"type": "send", "conversation": None, "content": "go"})
    await asyncio.sleep(0.8)
    streaming = [m async for m in Message.objects.filter(role="assistant")]
    assert [m.status for m in streaming] == ["streaming", "streaming"]
    assert all(m.content.startswith("w0 w1 ") for m in streaming)
    for socket in sockets:
        assert (await socket.recv_reply_end())[-1]["status"] == "complete"
        await socket.close()
    ended = [m async for m in Message.objects.filter(role="assistant")]
    assert all(m.content == "".join(f"w{i} " for i in range(30)) for m in ended)


async def test_a_checkpoint_saves_text_and_time_and_leaves_ended_replies_alone(alice):
    conversation = await Conversation.objects.acreate(user=alice)
    long_ago = timezone.now() - timedelta(hours=1)
    live = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="streaming", updated=long_ago
    )
    ended = await Message.objects.acreate(
        conversation=conversation, role="assistant", status="complete", content="Final"
    )
    await replies.checkpoint_all({live.pk: "So far é 🙂", ended.pk: "Fin"})
    await live.arefresh_from_db()
    await ended.arefresh_from_db()
    assert live.content == "So far é 🙂"
    assert timezone.now() - live.updated < timedelta(minutes=1)
    assert ended.content == "Final"


async def test_bytes_written_grow_with_a_reply_not_with_its_square(
    alice, upstream, settings, monkeypatch
):
    """At a fixed rate, a reply ten times longer is checkpointed with about ten times the
    bytes (measured: 34 kB and 414 kB), where rewriting it whole every interval cost about a
    hundred times (43 kB and 4.8 MB)."""
    settings.CHAT_CHECKPOINT_INTERVAL = 0.02
    written: list[int] = []
    checkpoint_all = replies.checkpoint_all

    async def counted(texts: dict) -> None:
        written.append(sum(len(text) for text in texts.values() if text is not None))
        await checkpoint_all(texts)

    monkeypatch.setattr(running.replies, "checkpoint_all", counted)

    async def bytes_for(length: int) -> int:
        written.clear()
        upstream.queue(text_reply(["x" * 500] * (length // 500), pause=0.01))  # 50 kB/s
        socket = await Socket.open_as(alice)
        await socket.send({"type": "send", "conversation": None, "content": "go"})
        assert (await socket.recv_reply_end(timeout=30))[-1]["status"] == "complete"
        await socket.close()
        return sum(written)

    short, long = await bytes_for(10_000), await bytes_for(100_000)
    assert short > 0 and long <= 6 * 100_000, (short, long)  # a few times the text at most
    assert long <= 20 * short, (short, long)  # ten times the text, not a hundred
