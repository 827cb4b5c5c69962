"""Only a logged-in user, from the site's own origin, on their own conversation."""

import json

import pytest

from chat.models import Conversation, Message
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_anonymous_socket_is_refused():
    socket = Socket(cookie=None)
    connected, _ = await socket.communicator.connect()
    assert not connected


async def test_a_socket_from_another_origin_is_refused(alice):
    from asgiref.sync import sync_to_async

    from tests.conftest import session_cookie

    socket = Socket(await sync_to_async(session_cookie)(alice), origin="https://evil.example")
    connected, _ = await socket.communicator.connect()
    assert not connected


async def test_another_users_conversation_is_answered_like_a_missing_one(alice, bob):
    theirs = await Conversation.objects.acreate(user=alice, title="private")
    socket = await Socket.open_as(bob)
    answers = []
    for pk in (theirs.pk, theirs.pk + 1000):
        for frame in (
            {"type": "open", "conversation": pk},
            {"type": "send", "conversation": pk, "content": "let me in"},
        ):
            await socket.send(frame)
            answers.append(await socket.recv())
    assert (
        answers[0]
        == answers[2]
        == {"type": "error", "code": "not_found", "message": "That conversation does not exist."}
    )
    assert answers[1] == answers[3] == answers[0]
    assert not await Message.objects.filter(conversation=theirs).aexists()
    await socket.close()


async def test_stop_and_retry_need_the_conversation_to_be_open(alice, bob):
    theirs = await Conversation.objects.acreate(user=alice, title="private")
    socket = await Socket.open_as(bob)
    for kind in ("stop", "retry"):
        await socket.send({"type": kind, "conversation": theirs.pk})
        assert (await socket.recv())["code"] == "not_open"
    await socket.close()


BAD_FRAMES = [
    ("not json at all", "bad_json"),
    ("[1, 2, 3]", "bad_json"),
    ('"a string"', "bad_json"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"no": "type"}', "unknown_type"),
    ('{"type": []}', "unknown_type"),
    ('{"type": {"a": 1}}', "unknown_type"),
    ('{"type": "settings", "conversation": 1, "system_prompt": 5}', "not_open"),
    ('{"type": "send", "conversation": null}', "bad_frame"),
    ('{"type": "send", "conversation": null, "content": 42}', "bad_frame"),
    ('{"type": "send", "conversation": null, "content": "   \\n "}', "empty"),
    ('{"type": "send", "conversation": "7", "content": "hi"}', "bad_frame"),
    ('{"type": "send", "conversation": true, "content": "hi"}', "bad_frame"),
    ('{"type": "open"}', "bad_frame"),
    ('{"type": "open", "conversation": 999999}', "not_found"),
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_usable(alice, upstream, text, code):
    socket = await Socket.open_as(alice)
    await socket.send_text(text)
    error = await socket.recv()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    # Still usable:
    await socket.send({"type": "send", "conversation": None, "content": "after"})
    assert (await socket.recv())["type"] == "conversation"
    await socket.recv_reply_end()
    await socket.close()


async def test_an_oversized_message_is_refused_and_nothing_is_saved(alice, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 100
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "x" * 101})
    error = await socket.recv()
    assert error["code"] == "too_long" and "100" in error["message"]
    await socket.send_text(json.dumps({"type": "send", "content": "y" * 5000}))
    assert (await socket.recv())["code"] == "too_long"
    assert not await Conversation.objects.aexists()
    await socket.close()


async def test_an_unexpected_server_error_is_an_error_frame_and_the_socket_stays(
    alice, upstream, monkeypatch
):
    from chat import consumers

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(consumers, "find_conversation", broken)
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": 1})
    error = await socket.recv()
    assert error == {
        "type": "error",
        "code": "server_error",
        "message": "Something went wrong on the server. Try again.",
    }
    await socket.send({"type": "send", "conversation": None, "content": "still here"})
    assert (await socket.recv())["type"] == "conversation"
    await socket.recv_reply_end()
    await socket.close()
