"""A reply streams to the browser, is saved, and survives reconnects."""

import asyncio

import pytest

from chat.models import Conversation, Message
from tests.upstream_server import DONE, Reply, chunk, text_reply
from tests.ws import ReplyView, Socket, frames_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_first_message_creates_a_conversation_and_streams_the_reply(alice, upstream):
    upstream.queue(text_reply(["# Title\n\n", "Some **bold**", " text.\n\n", "- a\n- b\n"]))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "Hi there"})

    created = await socket.recv()
    assert created["type"] == "conversation"
    assert created["conversation"]["title"] == "Hi there"
    assert created["conversation"]["url"] == f"/c/{created['conversation']['id']}/"
    user_message = await socket.recv()
    assert user_message["type"] == "message"
    assert user_message["message"]["role"] == "user"
    assert user_message["message"]["content"] == "Hi there"
    started = await socket.recv()
    assert started["message"]["role"] == "assistant"
    assert started["message"]["status"] == "streaming"
    assert started["message"]["content"] == ""

    frames = frames_of(await socket.recv_reply_end())
    view = ReplyView()
    for frame in frames:
        view.apply(frame)
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert view.status == "complete"
    assert view.text == "# Title\n\nSome **bold** text.\n\n- a\n- b\n"

    reply = await Message.objects.aget(pk=started["message"]["id"])
    assert reply.status == "complete"
    assert reply.content == "# Title\n\nSome **bold** text.\n\n- a\n- b\n"
    assert reply.content == view.text
    assert reply.finish_reason == "stop"
    assert reply.usage == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert reply.model == "test-model-2024"
    await socket.close()


async def test_the_upstream_receives_a_streaming_request_with_the_history(
    alice, upstream, settings
):
    settings.CHAT_TOOLS = []  # no tools: the plainest request (the tool loop has its tests)
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "First"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_reply_end()
    await socket.send({"type": "send", "conversation": conversation_id, "content": "Second"})
    await socket.recv_reply_end()

    first, second = upstream.wait_for_requests(2)
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == "Bearer sk-test-key"
    assert first["body"] == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "First"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 4096,  # CHAT_MAX_TOKENS: the longest reply the site pays for
    }
    assert second["body"]["messages"] == [
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": "Hello there!"},
        {"role": "user", "content": "Second"},
    ]
    await socket.close()


async def test_the_user_message_is_saved_before_the_upstream_is_called(alice, upstream):
    upstream.queue(text_reply(["slow"], pause=0.5))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "Keep me"})
    await socket.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "user")
    assert await Message.objects.filter(role="user", content="Keep me").aexists()
    await socket.recv_reply_end()
    await socket.close()


async def test_the_reply_is_checkpointed_while_it_streams(alice, upstream, settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 0.1
    upstream.queue(text_reply([f"word{i} " for i in range(30)], pause=0.05))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "go"})
    await asyncio.sleep(0.8)
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "streaming"
    assert reply.content.startswith("word0 word1 ")
    await socket.recv_reply_end()
    await socket.close()


async def test_two_tabs_on_one_conversation_both_see_the_reply(alice, upstream):
    upstream.queue(text_reply(["one ", "two ", "three"], pause=0.1))
    first = await Socket.open_as(alice)
    await first.send({"type": "send", "conversation": None, "content": "hello"})
    conversation_id = (await first.recv())["conversation"]["id"]
    second = await Socket.open_as(alice)
    await second.send({"type": "open", "conversation": conversation_id})

    views = []
    for socket in (first, second):
        view = ReplyView.of(await socket.recv_reply_end())
        views.append(view)
    assert views[0].text == views[1].text == "one two three"
    await first.close()
    await second.close()


async def test_reconnecting_mid_reply_shows_everything_once_and_goes_on_live(alice, upstream):
    paragraphs = [f"Paragraph {i} has some words in it.\n\n" for i in range(12)]
    upstream.queue(text_reply(paragraphs, pause=0.08))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "write"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_until(lambda f: f["type"] == "frame" and f["seq"] >= 3)
    await socket.close()  # the tab is closed: the reply must go on

    await asyncio.sleep(0.3)
    again = await Socket.open_as(alice)
    await again.send({"type": "open", "conversation": conversation_id})
    history = await again.recv()
    assert history["type"] == "history"
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    assert history["messages"][1]["status"] == "streaming"
    snapshot = await again.recv()
    assert snapshot["type"] == "frame" and snapshot["offset"] == 0
    assert snapshot["seq"] >= 3

    view = ReplyView()
    view.apply(snapshot)
    live = frames_of(await again.recv_reply_end())
    seqs = [f["seq"] for f in live]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(live)))
    for frame in live:
        view.apply(frame)
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete"
    assert view.text == reply.content == "".join(paragraphs)
    await again.close()


async def test_opening_a_finished_conversation_sends_its_history(alice, upstream):
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "hi"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_reply_end()
    await socket.close()

    again = await Socket.open_as(alice)
    await again.send({"type": "open", "conversation": conversation_id})
    history = await again.recv()
    assert [(m["role"], m["status"]) for m in history["messages"]] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert history["messages"][1]["content"] == "Hello there!"
    assert await again.nothing()
    await again.close()


async def test_a_second_message_while_a_reply_streams_is_refused_as_busy(alice, upstream):
    upstream.queue(text_reply(["a ", "b ", "c"], pause=0.2))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "one"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.send({"type": "send", "conversation": conversation_id, "content": "two"})
    frames = await socket.recv_until(lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "busy"
    await socket.recv_reply_end()
    assert not await Message.objects.filter(content="two").aexists()
    await socket.close()


async def test_a_refusal_is_shown_as_the_reply(alice, upstream):
    upstream.queue(
        Reply(
            body=[
                chunk({"role": "assistant", "content": None, "refusal": ""}),
                chunk({"refusal": "I can't help with that."}),
                chunk({}, finish_reason="stop"),
                DONE,
            ]
        )
    )
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "bad"})
    view = ReplyView.of(await socket.recv_reply_end())
    assert view.text == "I can't help with that."
    await socket.close()


async def test_a_conversation_keeps_its_title_from_the_first_message(alice, upstream):
    socket = await Socket.open_as(alice)
    long_text = "Plan a trip " + "through the mountains " * 10
    await socket.send({"type": "send", "conversation": None, "content": long_text})
    created = await socket.recv()
    await socket.recv_reply_end()
    conversation = await Conversation.objects.aget(pk=created["conversation"]["id"])
    assert conversation.title.startswith("Plan a trip through the mountains")
    assert conversation.title.endswith("…") and len(conversation.title) <= 81
    await socket.close()
