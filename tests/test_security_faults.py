"""Whatever goes wrong inside a reply's task, the reply ends with status `error` and a
plain sentence, what arrived is saved, nothing stays `streaming`, and the history is still
valid for the next turn: faults injected where the task saves, announces and relays."""

import asyncio

import pytest

from chat import broadcast, replies
from chat.models import Message
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import text_reply
from tests.ws import ReplyView, Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def reply_and_frames(socket: Socket, content: str, conversation=None) -> list[dict]:
    await socket.send({"type": "send", "conversation": conversation, "content": content})
    frames = []
    while True:  # to the end of the last round
        frames += await socket.recv_reply_end(timeout=15)
        if frames[-1]["status"] != "complete" or await socket.nothing(0.5):
            return frames


async def test_a_flood_of_brackets_in_tool_arguments_is_a_failed_call_not_a_dead_reply(
    alice, upstream
):
    upstream.queue(
        tool_call_reply(("deep", "calculator", ["[" * 5000])), text_reply(["Could not parse."])
    )
    socket = await Socket.open_as(alice)
    frames = await reply_and_frames(socket, "go")
    assert frames[-1]["status"] == "complete"
    asked, result, answer = [m async for m in Message.objects.exclude(role="user").order_by("id")]
    assert (asked.status, result.status) == ("complete", "error")
    assert "not valid JSON" in result.content
    assert answer.content == "Could not parse."
    await socket.close()


async def test_a_database_failure_between_rounds_ends_the_reply_in_words(
    alice, upstream, monkeypatch
):
    async def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(replies, "next_round", broken)
    upstream.queue(tool_call_reply(("c", "calculator", ['{"expression": "1+1"}'])))
    socket = await Socket.open_as(alice)
    frames = await reply_and_frames(socket, "go")
    conversation = frames[0]["conversation"]["id"]
    assert frames[-1]["status"] == "error"
    assert frames[-1]["error"] == "Something went wrong on the server while writing this reply."
    assert not await Message.objects.filter(status="streaming").aexists()

    monkeypatch.undo()
    upstream.queue(text_reply(["Fine again."]))
    await reply_and_frames(socket, "and now?", conversation)
    sent = upstream.wait_for_requests(2)[1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]  # still whole
    await socket.close()


async def test_a_reply_whose_save_fails_once_is_saved_on_the_second_try(
    alice, upstream, monkeypatch
):
    real, calls = replies.save_final, []

    async def fails_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("the database hiccupped")
        return await real(*args)

    monkeypatch.setattr(replies, "save_final", fails_once)
    upstream.queue(text_reply(["Half ", "a ", "reply."]))
    socket = await Socket.open_as(alice)
    frames = await reply_and_frames(socket, "go")
    assert frames[-1]["status"] == "complete" and len(calls) == 2
    reply = await Message.objects.aget(role="assistant")
    assert (reply.status, reply.content) == ("complete", "Half a reply.")
    await socket.close()


async def test_a_reply_that_cannot_be_saved_still_ends_and_frees_the_conversation(
    alice, upstream, monkeypatch, settings
):
    settings.CHAT_CHECKPOINT_INTERVAL = 0.05

    async def always_fails(*args):
        raise RuntimeError("disk full")

    real = replies.save_final
    monkeypatch.setattr(replies, "save_final", always_fails)
    upstream.queue(text_reply(["Half ", "a ", "reply."], pause=0.1))
    socket = await Socket.open_as(alice)
    frames = await reply_and_frames(socket, "go")
    conversation = frames[0]["conversation"]["id"]
    assert frames[-1]["status"] == "error" and "could not save" in frames[-1]["error"]
    monkeypatch.setattr(replies, "save_final", real)
    await socket.send({"type": "open", "conversation": conversation})
    history = await socket.recv()
    assert history["messages"][-1]["status"] == "interrupted"  # nobody writes it any more
    assert history["messages"][-1]["content"].startswith("Half a")  # the checkpoint's text
    upstream.queue(text_reply(["Next."]))
    assert (await reply_and_frames(socket, "again", conversation))[-1]["status"] == "complete"
    await socket.close()


async def test_a_socket_that_fails_is_dropped_and_the_others_still_get_every_frame(alice, upstream):
    upstream.queue(text_reply([f"w{i} " for i in range(40)], pause=0.02))
    good = await Socket.open_as(alice)
    await good.send({"type": "send", "conversation": None, "content": "go"})
    conversation = (await good.recv())["conversation"]["id"]

    class Broken:
        async def relay(self, data, message=None, seq=0):
            raise ConnectionResetError("gone")

    broadcast.subscribe(conversation, Broken())
    view = ReplyView.of(await good.recv_reply_end())
    assert view.text == "".join(f"w{i} " for i in range(40)) and view.status == "complete"
    assert not any(isinstance(s, Broken) for s in broadcast._subscribers.get(conversation, ()))
    await good.close()


async def test_faults_in_many_replies_at_once_lose_nothing_of_the_others(
    alice, upstream, monkeypatch
):
    """Ten replies at once, every third one's provider failing mid-way: each ends in words,
    the healthy ones arrive whole."""
    words = [f"x{i} " for i in range(30)]
    from tests.upstream_server import Reply, chunk

    broken = Reply(body=[chunk({"role": "assistant", "content": "Partial "}), 0.1])
    for i in range(10):
        upstream.queue(broken if i % 3 == 0 else text_reply(words, pause=0.01))
    sockets = [await Socket.open_as(alice) for _ in range(10)]

    async def one(socket: Socket) -> ReplyView:
        await socket.send({"type": "send", "conversation": None, "content": "go"})
        view = ReplyView.of(await socket.recv_reply_end(timeout=20))
        return view

    views = await asyncio.gather(*(one(socket) for socket in sockets))
    ended = sorted(view.status for view in views)
    assert ended == ["complete"] * 6 + ["error"] * 4
    for view in views:
        assert view.text == ("".join(words) if view.status == "complete" else "Partial ")
    assert not await Message.objects.filter(status="streaming").aexists()
    for socket in sockets:
        await socket.close()
