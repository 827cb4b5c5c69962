"""An id is no way into another user's conversation. Whatever alice sends naming one of
bob's conversations or messages, over every websocket frame type and every HTTP endpoint
that takes an id, she gets exactly the answer an id that names nothing gets (the same
error frame, code and words; the same status and body), nothing of bob's is saved, changed,
stopped or sent to the provider, and her socket hears none of bob's frames afterwards.
An id of any shape (text, negative, past 64 bits, a float, null, a list) is refused in
words, never with `server_error` or a 500, and the socket goes on working.

tests/test_socket_access.py and tests/test_pages.py hold the first cases (open, send, the
page, rename, delete); this file is the whole matrix, with the state that must not move.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import paging, running
from chat.models import Conversation, Message
from tests.upstream_server import DONE, USAGE, Reply, chunk, text_reply
from tests.ws import ReplyView, Socket

pytestmark = pytest.mark.django_db(transaction=True)

NOT_FOUND = {"type": "error", "code": "not_found", "message": "That conversation does not exist."}
NOT_OPEN = {"type": "error", "code": "not_open", "message": "Open the conversation first."}

SECRET_TITLE = "Bob's surprise party"
SECRET_PROMPT = "Bob's own system prompt"
SECRET_QUESTION = "Bob's private question"
SECRET_ANSWER = "Bob's private answer"


@dataclass
class Bobs:
    """Bob's conversation and his last message; `missing_*` are ids that name nothing."""

    conversation: int
    message: int
    missing_conversation: int
    missing_message: int


@pytest.fixture
def upstream(live_upstream, settings):
    """conftest's `upstream`, on one server for the module: closing a server per test
    costs half a second, and this file has a hundred tests."""
    live_upstream.replies.clear()
    live_upstream.requests.clear()
    settings.CHAT_DEMO_MODE = False
    settings.OPENAI_BASE_URL = live_upstream.url
    settings.OPENAI_API_KEY = "sk-test-key"
    settings.CHAT_MODEL = "test-model"
    return live_upstream


@pytest.fixture
def models(settings):
    settings.CHAT_MODELS = ["test-model", "other-model"]
    settings.CHAT_TOOLS = []
    return settings


@pytest.fixture
async def replies_end():
    """However a test ends, no reply it started goes on writing into the next test's
    database: each is stopped and waited for."""
    yield
    for reply in list(running._running.values()):  # the registry has no public listing
        reply.stop()
        if reply.task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(reply.task, 5)


@pytest.fixture
def bobs(bob, upstream, models, replies_end) -> Bobs:
    """Bob's conversation, its last reply failed: a `retry` of it would be accepted."""
    conversation = Conversation.objects.create(
        user=bob, title=SECRET_TITLE, model="test-model", system_prompt=SECRET_PROMPT
    )
    Message.objects.create(conversation=conversation, role="user", content=SECRET_QUESTION)
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content=SECRET_ANSWER,
        status="error",
        error="The provider failed.",
    )
    return Bobs(conversation.pk, reply.pk, conversation.pk + 1000, reply.pk + 1000)


def state(pk: int) -> dict:
    """Everything about a conversation that a frame or a request could change."""
    conversation = Conversation.objects.get(pk=pk)
    return {
        "conversation": (
            conversation.user_id,
            conversation.title,
            conversation.model,
            conversation.system_prompt,
            conversation.updated,
        ),
        "messages": list(
            Message.objects.filter(conversation_id=pk)
            .order_by("pk")
            .values_list("pk", "role", "content", "status", "model", "error", "writer")
        ),
    }


state_of = sync_to_async(state)


async def opened(user, conversation: int) -> Socket:
    """A socket of `user` with `conversation` open, its history received."""
    socket = await Socket.open_as(user)
    await socket.send({"type": "open", "conversation": conversation})
    history = await socket.recv()
    assert history["type"] == "history" and history["last"], history
    return socket


# Each frame type, with the conversation and message ids it names, and the one answer it
# gets for bob's ids and for ids that name nothing alike.
FOREIGN_FRAMES = [
    pytest.param(lambda c, m: {"type": "open", "conversation": c}, NOT_FOUND, id="open"),
    pytest.param(
        lambda c, m: {"type": "open", "conversation": c, "resume": {"message": m, "offset": 0}},
        NOT_FOUND,
        id="open-resuming-his-message",
    ),
    pytest.param(
        lambda c, m: {"type": "send", "conversation": c, "content": "let me in"},
        NOT_FOUND,
        id="send",
    ),
    pytest.param(
        lambda c, m: {
            "type": "send",
            "conversation": c,
            "content": "let me in",
            "model": "other-model",
            "system_prompt": "You obey alice.",
        },
        NOT_FOUND,
        id="send-with-model-and-system-prompt",
    ),
    pytest.param(lambda c, m: {"type": "stop", "conversation": c}, NOT_OPEN, id="stop"),
    pytest.param(lambda c, m: {"type": "retry", "conversation": c}, NOT_OPEN, id="retry"),
    pytest.param(
        lambda c, m: {"type": "retry", "conversation": c, "model": "other-model"},
        NOT_OPEN,
        id="retry-with-model",
    ),
    pytest.param(
        lambda c, m: {"type": "settings", "conversation": c, "system_prompt": "You obey alice."},
        NOT_OPEN,
        id="settings-system-prompt",
    ),
    pytest.param(
        lambda c, m: {"type": "settings", "conversation": c, "system_prompt": ""},
        NOT_OPEN,
        id="settings-back-to-default",
    ),
    pytest.param(
        lambda c, m: {"type": "regenerate", "conversation": c, "message": m},
        NOT_OPEN,
        id="regenerate-his-reply",
    ),
    pytest.param(
        lambda c, m: {"type": "edit", "conversation": c, "message": m, "content": "mine now"},
        NOT_OPEN,
        id="edit-his-message",
    ),
    pytest.param(
        lambda c, m: {"type": "switch", "conversation": c, "message": m},
        NOT_OPEN,
        id="switch-his-versions",
    ),
]


async def answers(socket: Socket, frame_for, bobs: Bobs) -> tuple[dict, dict]:
    """The answer to the frame naming bob's ids, and to the frame naming missing ones."""
    await socket.send(frame_for(bobs.conversation, bobs.message))
    his = await socket.recv()
    await socket.send(frame_for(bobs.missing_conversation, bobs.missing_message))
    return his, await socket.recv()


# --------------------------------------------------------------- websocket: every frame type


@pytest.mark.parametrize("hers_open", [False, True], ids=["fresh-socket", "her-own-open"])
@pytest.mark.parametrize(("frame_for", "expected"), FOREIGN_FRAMES)
async def test_each_frame_naming_his_ids_is_answered_as_ids_that_name_nothing(
    alice, bob, bobs, upstream, frame_for, expected, hers_open
):
    bobs_socket = await opened(bob, bobs.conversation)
    if hers_open:  # a socket with a conversation open is no further in
        own = await Conversation.objects.acreate(user=alice, title="Alice's own")
        socket = await opened(alice, own.pk)
    else:
        socket = await Socket.open_as(alice)
    before = await state_of(bobs.conversation)

    his, missing = await answers(socket, frame_for, bobs)

    assert his == missing == expected
    assert await state_of(bobs.conversation) == before  # nothing saved, nothing changed
    assert await Conversation.objects.acount() == 1 + hers_open  # none created either
    assert upstream.requests == []  # the provider was never asked
    assert await socket.nothing()
    assert await bobs_socket.nothing()  # no `settings`, `message` or frame reached bob
    await socket.close()
    await bobs_socket.close()


WORDS = 25


def slow_reply(words: int = WORDS) -> Reply:
    """About a second of reply: time for alice's frames while it is still being written."""
    return text_reply([f"w{i} " for i in range(words)], pause=0.04)


@pytest.mark.parametrize(("frame_for", "expected"), FOREIGN_FRAMES)
async def test_while_his_reply_streams_each_frame_naming_it_changes_and_shows_nothing(
    alice, bob, bobs, upstream, frame_for, expected
):
    upstream.queue(slow_reply())
    bobs_socket = await opened(bob, bobs.conversation)
    await bobs_socket.send(
        {"type": "send", "conversation": bobs.conversation, "content": "Another question"}
    )
    started = await bobs_socket.recv_until(
        lambda f: f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    live = started[-1]["message"]["id"]
    socket = await Socket.open_as(alice)
    assert running.get(bobs.conversation) is not None

    await socket.send(frame_for(bobs.conversation, live))
    his = await socket.recv()
    await socket.send(frame_for(bobs.missing_conversation, live + 1000))
    missing = await socket.recv()

    # `send` is not_found, not `busy`: a running reply does not betray the conversation.
    assert his == missing == expected
    assert running.get(bobs.conversation) is not None  # still being written
    assert await socket.nothing()
    view = ReplyView.of(await bobs_socket.recv_reply_end())
    assert (view.status, view.text) == ("complete", "".join(f"w{i} " for i in range(WORDS)))
    assert await socket.nothing()  # not one of bob's frames, even the last

    after = await state_of(bobs.conversation)
    assert after["conversation"][1:4] == (SECRET_TITLE, "test-model", SECRET_PROMPT)
    assert [row[1:4] for row in after["messages"]] == [
        ("user", SECRET_QUESTION, "complete"),
        ("assistant", SECRET_ANSWER, "error"),
        ("user", "Another question", "complete"),
        ("assistant", view.text, "complete"),
    ]
    (request,) = upstream.requests  # bob's reply only, asked as bob asked it
    assert request["body"]["model"] == "test-model"
    assert request["body"]["messages"][0] == {"role": "system", "content": SECRET_PROMPT}
    assert "let me in" not in str(upstream.requests)
    await socket.close()
    await bobs_socket.close()


async def test_after_trying_every_frame_on_his_conversation_her_socket_hears_none_of_it(
    alice, bob, bobs, upstream
):
    upstream.queue(slow_reply(6))
    socket = await Socket.open_as(alice)
    for param in FOREIGN_FRAMES:
        frame_for, expected = param.values
        await socket.send(frame_for(bobs.conversation, bobs.message))
        assert await socket.recv() == expected, param.id
    bobs_socket = await opened(bob, bobs.conversation)
    await bobs_socket.send(
        {"type": "settings", "conversation": bobs.conversation, "system_prompt": "Be terse."}
    )
    assert (await bobs_socket.recv())["type"] == "settings"
    await bobs_socket.send({"type": "send", "conversation": bobs.conversation, "content": "Go"})
    assert (await bobs_socket.recv_reply_end())[-1]["status"] == "complete"
    assert await socket.nothing()
    await socket.close()
    await bobs_socket.close()


# ---------------------------------------------------------------------- resume: message ids


async def test_resuming_his_live_reply_in_her_own_conversation_gets_only_her_history(
    alice, bob, bobs, upstream
):
    upstream.queue(slow_reply(2 * WORDS))  # live through two opens and their quiet spells
    own = await Conversation.objects.acreate(user=alice, title="Alice's own")
    await Message.objects.acreate(conversation=own, role="user", content="Alice asked")
    bobs_socket = await opened(bob, bobs.conversation)
    await bobs_socket.send({"type": "send", "conversation": bobs.conversation, "content": "Go"})
    started = await bobs_socket.recv_until(
        lambda f: f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    live = started[-1]["message"]["id"]
    await bobs_socket.recv_until(lambda f: f["type"] == "frame")  # it has text by now

    socket = await Socket.open_as(alice)
    replies = []
    for message in (live, live + 1000):
        await socket.send(
            {"type": "open", "conversation": own.pk, "resume": {"message": message, "offset": 0}}
        )
        replies.append(await socket.recv())
        assert await socket.nothing()  # no snapshot of bob's reply, no live frame of it
    assert running.get(bobs.conversation) is not None  # his reply was live all along
    assert replies[0] == replies[1]
    assert replies[0]["type"] == "history"
    assert [m["content"] for m in replies[0]["messages"]] == ["Alice asked"]
    await bobs_socket.recv_reply_end()
    assert await socket.nothing()
    await socket.close()
    await bobs_socket.close()


def paused_reply() -> Reply:
    """ "Hello there", then nothing until the test stops it (the snapshots it compares are
    taken while no text arrives), then the end."""
    return Reply(
        body=[
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hello"}),
            chunk({"content": " there"}),
            20.0,
            chunk({}, finish_reason="stop"),
            chunk(None, usage=USAGE),
            DONE,
        ]
    )


async def test_resuming_her_live_reply_with_his_message_id_is_resuming_from_the_start(
    alice, bobs, upstream, settings
):
    settings.CHAT_IDLE_TIMEOUT = 60  # the reply waits, quiet, until it is stopped
    upstream.queue(paused_reply())
    writer = await Socket.open_as(alice)
    await writer.send({"type": "send", "conversation": None, "content": "Hi"})
    own = (await writer.recv())["conversation"]["id"]
    started = await writer.recv_until(
        lambda f: f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    mine = started[-1]["message"]["id"]
    view = ReplyView()
    while view.text != "Hello there":
        view.apply((await writer.recv_until(lambda f: f["type"] == "frame"))[-1])

    async def resumed(message: int, offset: int) -> list[dict]:
        socket = await Socket.open_as(alice)
        await socket.send(
            {"type": "open", "conversation": own, "resume": {"message": message, "offset": offset}}
        )
        frames = [await socket.recv(), await socket.recv()]
        await socket.close()
        return frames

    his = await resumed(bobs.message, 5)
    missing = await resumed(bobs.missing_message, 5)
    assert his == missing
    assert his[0]["type"] == "history"
    assert (his[1]["message"], his[1]["offset"], his[1]["text"]) == (mine, 0, "Hello there")
    # Her own id with the same offset does resume from it: the id is what the answer rests on.
    assert (await resumed(mine, 5))[1]["text"] == " there"
    await writer.send({"type": "stop", "conversation": own})
    assert (await writer.recv_reply_end())[-1]["status"] == "stopped"
    await writer.close()


# ------------------------------------------------------------------------ ids of odd shapes

ODD_IDS = [
    pytest.param("7", id="text"),
    pytest.param("", id="empty-text"),
    pytest.param(1.0, id="whole-float"),
    pytest.param(1.5, id="float"),
    pytest.param(True, id="true"),
    pytest.param([1], id="list"),
    pytest.param({"id": 1}, id="object"),
    pytest.param(-1, id="negative"),
    pytest.param(0, id="zero"),
    pytest.param(2**63, id="2**63"),
    pytest.param(-(2**63) - 1, id="-2**63-1"),
    pytest.param(2**70, id="2**70"),
    pytest.param(None, id="null"),
]
CONVERSATION_FRAMES = {
    "open": {"type": "open"},
    "send": {"type": "send", "content": "hello"},
    "stop": {"type": "stop"},
    "retry": {"type": "retry"},
    "settings": {"type": "settings", "system_prompt": "x"},
}


def expected_code(kind: str, value) -> str | None:
    """What docs/protocol.md says: a whole number is looked up (stop, retry and settings
    first ask whether it is the open one), anything else is a bad frame; `send` with null
    starts a new conversation (None: no error)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "not_found" if kind in ("open", "send") else "not_open"
    if value is None and kind == "send":
        return None
    return "bad_frame"


async def assert_still_usable(socket: Socket, own: int) -> None:
    await socket.send({"type": "open", "conversation": own})
    history = await socket.recv()
    assert (history["type"], history["conversation"]) == ("history", own)


@pytest.mark.parametrize("value", ODD_IDS)
@pytest.mark.parametrize("kind", list(CONVERSATION_FRAMES))
async def test_an_id_of_any_shape_gets_a_clear_error_and_the_socket_goes_on(
    alice, upstream, kind, value
):
    own = await Conversation.objects.acreate(user=alice, title="Alice's own")
    socket = await Socket.open_as(alice)
    await socket.send(CONVERSATION_FRAMES[kind] | {"conversation": value})
    answer = await socket.recv()
    code = expected_code(kind, value)
    if code is None:  # a new conversation: the one thing null may mean
        assert answer["type"] == "conversation"
        await socket.recv_reply_end()
    else:
        assert answer["type"] == "error" and answer["code"] == code, answer
        assert answer["message"] and "server" not in answer["message"]
        assert await Conversation.objects.acount() == 1
        assert upstream.requests == []
    await assert_still_usable(socket, own.pk)
    await socket.close()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"type": "open", "conversation": NaN}', id="NaN"),
        pytest.param('{"type": "open", "conversation": -Infinity}', id="-Infinity"),
        pytest.param('{"type": "open", "conversation": 1e400}', id="1e400"),
        pytest.param('{"type": "open", "conversation": 1E2}', id="1E2"),
    ],
)
async def test_numbers_json_writes_as_floats_are_bad_frames(alice, text):
    own = await Conversation.objects.acreate(user=alice, title="Alice's own")
    socket = await Socket.open_as(alice)
    await socket.send_text(text)
    assert (await socket.recv())["code"] == "bad_frame"
    await assert_still_usable(socket, own.pk)
    await socket.close()


async def test_an_id_of_five_thousand_digits_is_refused_as_bad_json(alice):
    own = await Conversation.objects.acreate(user=alice, title="Alice's own")
    socket = await Socket.open_as(alice)
    await socket.send_text('{"type": "open", "conversation": 1' + "0" * 5000 + "}")
    assert (await socket.recv())["code"] == "bad_json"  # Python's int limit: not a crash
    await assert_still_usable(socket, own.pk)
    await socket.close()


@pytest.mark.parametrize(
    ("resume", "code"),
    [
        pytest.param({"message": "3", "offset": 0}, "bad_frame", id="message-text"),
        pytest.param({"message": 3.0, "offset": 0}, "bad_frame", id="message-float"),
        pytest.param({"message": None, "offset": 0}, "bad_frame", id="message-null"),
        pytest.param({"message": [3], "offset": 0}, "bad_frame", id="message-list"),
        pytest.param({"message": True, "offset": 0}, "bad_frame", id="message-true"),
        pytest.param({"offset": 0}, "bad_frame", id="no-message"),
        pytest.param({"message": 3, "offset": "0"}, "bad_frame", id="offset-text"),
        pytest.param({"message": 3, "offset": 0.5}, "bad_frame", id="offset-float"),
        pytest.param([3, 0], "bad_frame", id="a-list"),
        pytest.param("3:0", "bad_frame", id="text"),
        pytest.param(3, "bad_frame", id="a-number"),
        pytest.param({"message": -1, "offset": -1}, None, id="negative"),
        pytest.param({"message": 2**70, "offset": 2**70}, None, id="2**70"),
        pytest.param(None, None, id="null"),
    ],
)
async def test_a_resume_of_any_shape_on_her_own_conversation_is_an_answer_not_a_crash(
    alice, resume, code
):
    own = await Conversation.objects.acreate(user=alice, title="Alice's own")
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": own.pk, "resume": resume})
    answer = await socket.recv()
    if code is None:
        assert (answer["type"], answer["conversation"]) == ("history", own.pk)
    else:
        assert (answer["type"], answer["code"]) == ("error", code)
    await assert_still_usable(socket, own.pk)
    await socket.close()


# ------------------------------------------------------------------------------------ HTTP


@pytest.fixture
def bobs_chat(bob) -> Bobs:
    conversation = Conversation.objects.create(
        user=bob, title=SECRET_TITLE, model="test-model", system_prompt=SECRET_PROMPT
    )
    Message.objects.create(conversation=conversation, role="user", content=SECRET_QUESTION)
    reply = Message.objects.create(
        conversation=conversation, role="assistant", content=SECRET_ANSWER
    )
    return Bobs(conversation.pk, reply.pk, conversation.pk + 1000, reply.pk + 1000)


def answer_of(client, method: str, path: str, data: dict | None) -> dict:
    """What a response tells: its status, where it sends, its body, with the requested path
    itself written as <path> (a login redirect names it)."""
    response = getattr(client, method)(path, data or {})
    location = unquote(response.get("Location", "")).replace(path, "<path>")
    body = response.content.decode().replace(path, "<path>")
    for secret in (SECRET_TITLE, SECRET_PROMPT, SECRET_QUESTION, SECRET_ANSWER):
        assert secret not in body
    return {"status": response.status_code, "location": location, "body": body}


def both(client, method: str, path: str, data: dict | None, ids: Bobs) -> tuple[dict, dict]:
    """The answers to `path` naming bob's ids, and naming ids that name nothing."""
    his = answer_of(client, method, path.format(c=ids.conversation, m=ids.message), data)
    missing = answer_of(
        client, method, path.format(c=ids.missing_conversation, m=ids.missing_message), data
    )
    return his, missing


# (method, path with {c} for a conversation id and {m} for a message id, form data, status)
ENDPOINTS = [
    pytest.param("get", "/c/{c}/", None, 404, id="page"),
    pytest.param("post", "/c/{c}/rename/", {"title": "Mine now"}, 404, id="rename"),
    pytest.param("post", "/c/{c}/rename/", {"title": "bad\x00"}, 404, id="rename-unsavable"),
    pytest.param("post", "/c/{c}/rename/", {}, 404, id="rename-blank"),
    pytest.param("post", "/c/{c}/delete/", None, 404, id="delete"),
    pytest.param("get", "/c/{c}/rename/", None, 405, id="rename-by-get"),
    pytest.param("get", "/c/{c}/delete/", None, 405, id="delete-by-get"),
    pytest.param("get", "/admin/chat/conversation/{c}/change/", None, 302, id="admin-change"),
    pytest.param(
        "post", "/admin/chat/conversation/{c}/change/", {"title": "x"}, 302, id="admin-post"
    ),
    pytest.param("get", "/admin/chat/conversation/{c}/history/", None, 302, id="admin-history"),
    pytest.param("get", "/admin/chat/conversation/{c}/delete/", None, 302, id="admin-delete"),
    pytest.param(
        "post", "/admin/chat/conversation/{c}/delete/", {"post": "yes"}, 302, id="admin-delete-post"
    ),
    pytest.param("get", "/admin/chat/message/{m}/change/", None, 302, id="admin-message"),
    pytest.param("get", "/admin/chat/message/{m}/history/", None, 302, id="admin-message-history"),
    pytest.param(
        "post", "/admin/chat/message/{m}/delete/", {"post": "yes"}, 302, id="admin-message-delete"
    ),
]


@pytest.mark.parametrize(("method", "path", "data", "status"), ENDPOINTS)
def test_each_endpoint_answers_his_ids_as_ids_that_name_nothing(
    client, alice, bobs_chat, method, path, data, status
):
    client.force_login(alice)
    before = state(bobs_chat.conversation)
    his, missing = both(client, method, path, data, bobs_chat)
    assert his == missing
    assert his["status"] == status
    if status == 302:  # the admin sends a non-staff user to log in, whatever the id
        assert his["location"] == "/admin/login/?next=<path>"
    assert state(bobs_chat.conversation) == before
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2


@pytest.mark.parametrize(
    "path",
    [
        "/c/-1/",
        "/c/0/",
        "/c/1.5/",
        "/c/abc/",
        "/c/%00/",
        f"/c/{2**63}/",
        f"/c/{2**70}/",
        f"/c/{2**70}/rename/",
        f"/c/{2**70}/delete/",
        f"/c/{'9' * 400}/",
    ],
)
def test_an_id_of_any_shape_in_a_url_is_a_plain_404(client, alice, path):
    own = Conversation.objects.create(user=alice, title="Alice's own")
    client.force_login(alice)
    method = client.post if path.endswith(("rename/", "delete/")) else client.get
    response = method(path)
    missing = client.get("/c/999999/")
    assert response.status_code == 404
    assert response.content == missing.content
    assert Conversation.objects.get(pk=own.pk).title == "Alice's own"


def test_his_id_with_leading_zeros_is_still_his_and_still_404(client, alice, bobs_chat):
    client.force_login(alice)
    padded = client.get(f"/c/000{bobs_chat.conversation}/")
    assert padded.status_code == 404
    assert padded.content == client.get(f"/c/000{bobs_chat.missing_conversation}/").content


@pytest.fixture
def staff_without_chat_permissions(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-pass", is_staff=True)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/conversation/{c}/change/",
        "/admin/chat/conversation/{c}/delete/",
        "/admin/chat/message/{m}/change/",
        "/admin/chat/message/{m}/delete/",
    ],
)
def test_staff_without_chat_permissions_get_403_whether_the_id_exists_or_not(
    client, staff_without_chat_permissions, bobs_chat, path
):
    client.force_login(staff_without_chat_permissions)
    his, missing = both(client, "get", path, None, bobs_chat)
    assert his == missing and his["status"] == 403


@pytest.mark.parametrize(
    "path", ["/admin/chat/conversation/{c}/history/", "/admin/chat/message/{m}/history/"]
)
def test_staff_without_chat_permissions_cannot_tell_ids_apart_by_the_admin_history(
    client, staff_without_chat_permissions, bobs_chat, path
):
    client.force_login(staff_without_chat_permissions)
    his, missing = both(client, "get", path, None, bobs_chat)
    assert his["status"] == missing["status"] == 403


# --------------------------------------------------------------------- the list endpoint


def test_a_bare_id_is_not_a_cursor_whoever_owns_it(client, alice, bobs_chat):
    client.force_login(alice)
    his = client.get("/c/", {"after": str(bobs_chat.conversation)})
    missing = client.get("/c/", {"after": str(bobs_chat.missing_conversation)})
    assert his.status_code == missing.status_code == 400
    assert (
        his.json()
        == missing.json()
        == {"error": "That is not a place in the conversation list. Reload the page."}
    )


def test_his_conversation_as_a_cursor_is_only_a_place_in_her_own_list(
    client, alice, bob, bobs_chat
):
    """The cursor is (time, id) read as numbers, never looked up: naming bob's conversation
    gives what the same numbers give with no such conversation, only alice's rows."""
    now = timezone.now()
    for days, title in ((3, "Alice oldest"), (1, "Alice older"), (0, "Alice newest")):
        Conversation.objects.create(user=alice, title=title, updated=now - timedelta(days=days))
    Conversation.objects.filter(pk=bobs_chat.conversation).update(updated=now - timedelta(days=2))
    his = Conversation.objects.get(pk=bobs_chat.conversation)
    cursor = paging.cursor(his)
    client.force_login(alice)

    answer = client.get("/c/", {"after": cursor})
    assert answer.status_code == 200
    assert [c["title"] for c in answer.json()["conversations"]] == ["Alice oldest"]
    assert SECRET_TITLE not in answer.content.decode()
    same_place_no_such_id = cursor.split("-")[0] + f"-{bobs_chat.missing_conversation}"
    assert client.get("/c/", {"after": same_place_no_such_id}).content == answer.content
    his.delete()
    assert client.get("/c/", {"after": cursor}).content == answer.content  # not looked up
