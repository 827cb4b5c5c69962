"""A socket acts for its login only while that login lasts: logging out closes the
session's sockets at once, and a session that expired or whose password changed gets no
answer but `logged_out`, on its next frame or within the check's interval."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client

from chat import consumers, sessions
from chat.models import Conversation
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(user) -> tuple[Client, Socket]:
    """A browser: its HTTP client and a socket on the same session."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    socket = Socket(client.cookies["sessionid"].value)
    assert (await socket.communicator.connect())[0]
    return client, socket


async def assert_logged_out(socket: Socket) -> None:
    answer = await socket.recv()
    assert answer == {
        "type": "error",
        "code": "logged_out",
        "message": "You are logged out. Log in again.",
    }
    assert (await socket.communicator.receive_output(timeout=2))["code"] == 4401


async def test_logging_out_closes_that_sessions_sockets_at_once(alice):
    client, socket = await logged_in(alice)
    _, other_session = await logged_in(alice)  # the same user in another browser
    await sync_to_async(client.post)("/accounts/logout/")
    await assert_logged_out(socket)
    assert await other_session.nothing()  # still logged in there
    await other_session.close()


async def test_a_session_that_expired_gets_no_answer_but_logged_out(alice):
    conversation = await Conversation.objects.acreate(user=alice, title="private")
    _, socket = await logged_in(alice)
    await Session.objects.all().adelete()
    await socket.send({"type": "open", "conversation": conversation.pk})
    await assert_logged_out(socket)


async def test_a_changed_password_ends_the_other_sessions_sockets(alice):
    _, socket = await logged_in(alice)

    def change_password():
        alice.set_password("a-new-password-42")
        alice.save()

    await sync_to_async(change_password)()
    await socket.send({"type": "open", "conversation": 1})
    await assert_logged_out(socket)


async def test_an_idle_socket_finds_out_within_the_check_interval(alice, monkeypatch):
    monkeypatch.setattr(consumers, "WATCH_INTERVAL", 0.05)
    monkeypatch.setattr(sessions, "RECHECK", 0.1)
    _, socket = await logged_in(alice)
    await Session.objects.all().adelete()
    await assert_logged_out(socket)  # without sending anything
