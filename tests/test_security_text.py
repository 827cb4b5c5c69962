"""Text no database can store (a NUL, a lone UTF-16 surrogate): a person's message or
system prompt holding it is refused in words before anything is saved; a model's reply or
tool call holding it is kept, with U+FFFD in its place. Never a server error, on SQLite and
on PostgreSQL."""

import json

import httpx
import pytest

from chat.models import Conversation, Message, storable
from tests.live import create_user, start_site
from tests.services import drop_database, postgres_database
from tests.test_relay_processes import Client, is_last_frame, log_in
from tests.upstream_server import DONE, Reply, chunk
from tests.ws import ReplyView, Socket

BAD = ["nul \x00 inside", "half an emoji \ud83d here", "\udc00"]


def hostile_reply() -> Reply:
    """A provider's stream with NUL and lone surrogates in the text, model and usage."""
    events = [
        chunk({"role": "assistant", "content": "a\x00b"}),
        chunk({"content": "\ud800c"}),
        chunk({}, finish_reason="stop\x00"),
        chunk(
            None,
            usage={"prompt_tokens": 1, "completion_tokens": 2, "note\x00": "x\ud800"},
        ),
        DONE,
    ]
    return Reply(body=[event.replace(b"test-model-2024", b"model\\u0000x") for event in events])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("text", BAD)
async def test_a_message_that_cannot_be_saved_is_refused_and_nothing_is_saved(
    alice, upstream, text
):
    socket = await Socket.open_as(alice)
    await socket.send_text(json.dumps({"type": "send", "conversation": None, "content": text}))
    answer = await socket.recv()
    assert answer["type"] == "error" and answer["code"] == "bad_text"
    assert "cannot be saved" in answer["message"]
    assert not await Message.objects.aexists() and not await Conversation.objects.aexists()
    assert upstream.requests == []
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_system_prompt_that_cannot_be_saved_is_refused(alice, upstream):
    conversation = await Conversation.objects.acreate(user=alice, system_prompt="Be brief.")
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": conversation.pk})
    await socket.recv()
    frame = {"type": "settings", "conversation": conversation.pk, "system_prompt": "x\x00"}
    await socket.send_text(json.dumps(frame))
    assert (await socket.recv())["code"] == "bad_text"
    await conversation.arefresh_from_db()
    assert conversation.system_prompt == "Be brief."
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_reply_holding_such_text_is_kept_with_a_replacement(alice, upstream):
    upstream.queue(hostile_reply())
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "hi"})
    view = ReplyView.of(await socket.recv_reply_end())
    reply = await Message.objects.aget(role="assistant")
    assert view.status == reply.status == "complete"
    assert view.text == reply.content == "a\ufffdb\ufffdc"
    assert reply.model == "model\ufffdx" and reply.usage == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "note\ufffd": "x\ufffd",
    }
    await socket.close()


def test_storable_replaces_only_what_cannot_be_stored():
    assert storable("ok 🙂 é \t\n") == "ok 🙂 é \t\n"
    assert storable("a\x00b\ud83dc\udc00") == "a\ufffdb\ufffdc\ufffd"


@pytest.fixture(scope="module")
def postgres_site(tmp_path_factory, live_upstream):
    admin, database = postgres_database()
    site = start_site(
        tmp_path_factory.mktemp("pg"),
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-pg",
        },
    )
    create_user(site, "alice", "alice-password-1")
    yield site
    site.stop()
    drop_database(admin, database)


async def test_on_postgresql_nothing_of_it_is_a_server_error(postgres_site, live_upstream):
    cookie = log_in(postgres_site)
    async with Client(postgres_site, cookie) as client:
        for text in BAD:
            frame = {"type": "send", "conversation": None, "content": text}
            await client.ws.send(json.dumps(frame))
            assert (await client.recv())["code"] == "bad_text"
        live_upstream.queue(hostile_reply())
        await client.send({"type": "send", "conversation": None, "content": "hi"})
        frames = await client.until(is_last_frame)
        assert frames[-1]["status"] == "complete"
        conversation = frames[0]["conversation"]["id"]
    page = httpx.get(f"{postgres_site.url}/c/{conversation}/", cookies={"sessionid": cookie})
    assert page.status_code == 200 and "a\\ufffdb\\ufffdc" in page.text
    assert "Traceback" not in postgres_site.log.read_text()
