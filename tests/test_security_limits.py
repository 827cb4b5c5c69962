"""What one user may use (OWASP LLM10): replies being written at once, messages a minute,
pages open at once, and the length of a reply. Each refusal says in words what the limit
is and when to try again, and comes before anything is saved or any provider is asked."""

import asyncio

import pytest

from chat.models import Conversation, Message
from tests.upstream_server import error_reply, text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def start(socket: Socket, content: str = "hi") -> dict:
    await socket.send({"type": "send", "conversation": None, "content": content})
    return await socket.recv()


async def test_replies_at_once_are_limited_per_user(alice, bob, upstream, settings):
    settings.CHAT_USER_MAX_REPLIES = 2
    for _ in range(4):
        upstream.queue(text_reply([f"w{i} " for i in range(40)], pause=0.05))
    sockets = [await Socket.open_as(alice) for _ in range(3)]
    assert (await start(sockets[0]))["type"] == "conversation"
    assert (await start(sockets[1]))["type"] == "conversation"
    await sockets[2].send({"type": "send", "conversation": None, "content": "third"})
    refused = await sockets[2].recv()
    assert refused["code"] == "too_many_replies" and "2 replies being written" in refused["message"]
    assert not await Message.objects.filter(content="third").aexists()  # nothing saved
    assert await Conversation.objects.acount() == 2
    assert len(upstream.wait_for_requests(3, timeout=1)) == 2  # no third provider request
    other = await Socket.open_as(bob)  # another user is not limited by alice's replies
    assert (await start(other))["type"] == "conversation"
    for socket in [*sockets, other]:
        await socket.close()


async def test_messages_a_minute_are_limited_with_the_wait_in_words(alice, upstream, settings):
    settings.CHAT_USER_MESSAGES_PER_MINUTE = 3
    socket = await Socket.open_as(alice)
    for _ in range(3):
        await start(socket)
        await socket.recv_reply_end()
    await socket.send({"type": "send", "conversation": None, "content": "fourth"})
    refused = await socket.recv()
    assert refused["code"] == "too_many_messages"
    assert 1 <= refused["retry_after"] <= 60
    assert f"Try again in {refused['retry_after']} second" in refused["message"]
    assert not await Message.objects.filter(content="fourth").aexists()
    assert await Conversation.objects.acount() == 3
    await socket.close()


async def test_pages_open_at_once_are_limited_per_user(alice, settings):
    settings.CHAT_USER_MAX_SOCKETS = 2
    first, second = await Socket.open_as(alice), await Socket.open_as(alice)
    third = await Socket.open_as(alice)  # accepted, told why, then closed
    refused = await third.recv()
    assert refused["code"] == "too_many_sockets" and "2 pages" in refused["message"]
    assert (await third.communicator.receive_output(timeout=2))["code"] == 4429
    await first.close()  # one closed: room for another
    fourth = await Socket.open_as(alice)
    assert await fourth.nothing()
    for socket in (second, fourth):
        await socket.close()


async def test_every_request_asks_for_at_most_chat_max_tokens(alice, upstream, settings):
    settings.CHAT_MAX_TOKENS = 777
    socket = await Socket.open_as(alice)
    await start(socket)
    await socket.recv_reply_end()
    assert upstream.wait_for_requests(1)[0]["body"]["max_tokens"] == 777
    await socket.close()


async def test_a_server_that_wants_max_completion_tokens_is_asked_that_way(alice, upstream):
    upstream.queue(
        error_reply(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        ),
        text_reply(["Fine."]),
        text_reply(["Again."]),
    )
    socket = await Socket.open_as(alice)
    await start(socket)
    assert (await socket.recv_reply_end())[-1]["status"] == "complete"
    await start(socket)
    await socket.recv_reply_end()
    first, second, third = upstream.wait_for_requests(3)
    assert "max_tokens" in first["body"] and "max_completion_tokens" not in first["body"]
    assert second["body"]["max_completion_tokens"] == 4096 and "max_tokens" not in second["body"]
    assert "max_completion_tokens" in third["body"]  # remembered for that server
    await socket.close()


async def test_two_sockets_sending_at_once_start_one_reply_and_save_one_message(alice, upstream):
    conversation = await Conversation.objects.acreate(user=alice)
    upstream.queue(text_reply([f"w{i} " for i in range(20)], pause=0.05))
    sockets = [await Socket.open_as(alice) for _ in range(2)]
    for socket in sockets:
        await socket.send({"type": "open", "conversation": conversation.pk})
        await socket.recv()
    await asyncio.gather(
        *(
            socket.send({"type": "send", "conversation": conversation.pk, "content": f"from {i}"})
            for i, socket in enumerate(sockets)
        )
    )
    answers = [
        await socket.recv_until(lambda f: f["type"] in {"error", "message"}) for socket in sockets
    ]
    refused = [a[-1] for a in answers if a[-1]["type"] == "error"]
    assert len(refused) == 1 and refused[0]["code"] == "busy"
    assert await Message.objects.filter(role="user").acount() == 1  # the refused one unsaved
    for socket in sockets:
        await socket.close()
