"""Replies being written are saved every CHAT_CHECKPOINT_INTERVAL, all of a process's
replies in one database call, and a checkpoint never touches a reply that has ended."""

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import replies
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
