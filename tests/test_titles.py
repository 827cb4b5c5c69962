"""A conversation is titled from its first message at once, then better by the model."""

import pytest

from chat.models import TITLE_LENGTH, TITLE_MAX_LENGTH, Conversation, cut_title
from chat.titles import TITLE_PROMPT, clean_title
from tests.upstream_server import error_reply, text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def titles_on(settings):
    settings.CHAT_MODEL_TITLES = True
    settings.CHAT_TOOLS = []


async def first_exchange(alice, upstream, *replies):
    upstream.queue(text_reply(["Rockets burn fuel ", "to push gas out."]), *replies)
    socket = await Socket.open_as(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "content": "so how do rockets actually fly in space?",
        }
    )
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_reply_end()
    return socket, conversation_id


async def test_after_the_first_reply_the_model_gives_a_better_title(alice, upstream):
    socket, conversation_id = await first_exchange(
        alice, upstream, text_reply(['"How Rockets Fly."'])
    )
    renamed = await socket.recv_until(lambda f: f["type"] == "conversation")
    frame = renamed[-1]["conversation"]
    assert {key: frame[key] for key in ("id", "title", "url", "pinned")} == {
        "id": conversation_id,
        "title": "How Rockets Fly",
        "url": f"/c/{conversation_id}/",
        "pinned": False,
    }
    assert (await Conversation.objects.aget(pk=conversation_id)).title == "How Rockets Fly"
    title_request = upstream.wait_for_requests(2)[1]["body"]
    assert title_request["messages"] == [
        {"role": "system", "content": TITLE_PROMPT},
        {
            "role": "user",
            "content": "User: so how do rockets actually fly in space?\n\n"
            "Assistant: Rockets burn fuel to push gas out.",
        },
    ]
    assert "tools" not in title_request
    await socket.close()


async def test_a_failed_title_request_keeps_the_first_title(alice, upstream):
    socket, conversation_id = await first_exchange(alice, upstream, error_reply(500, "no"))
    upstream.wait_for_requests(2)
    assert await socket.nothing(0.5)
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "so how do rockets actually fly in space?"
    await socket.close()


async def test_only_the_first_reply_asks_for_a_title(alice, upstream):
    socket, conversation_id = await first_exchange(alice, upstream, text_reply(["Rockets"]))
    await socket.recv_until(lambda f: f["type"] == "conversation")
    await socket.send({"type": "send", "conversation": conversation_id, "content": "and planes?"})
    await socket.recv_reply_end()
    assert await socket.nothing(0.5)
    assert len(upstream.wait_for_requests(4, timeout=1)) == 3
    await socket.close()


async def test_a_rename_by_the_user_is_never_overwritten(alice):
    from chat.titles import _replace_title

    conversation = await Conversation.objects.acreate(user=alice, title="Mine now")
    assert not await _replace_title(conversation.pk, "what the first message said", "Model's")
    assert (await Conversation.objects.aget(pk=conversation.pk)).title == "Mine now"


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('"How Rockets Fly."', "How Rockets Fly"),
        ("**Title: Rocket Science**\n\nMore text", "Rocket Science"),
        ("\n\n  # Orbits  ", "Orbits"),
        ("", ""),
    ],
)
def test_the_models_answer_is_cleaned_to_one_short_line(answer, title):
    assert clean_title(answer) == title


# ---------------------------------------------------------------- every title is cut


async def test_a_long_model_title_is_cut_to_the_title_length(alice, upstream):
    socket, conversation_id = await first_exchange(
        alice, upstream, text_reply(["Rockets " * 100, "x" * 500, "\x00 end"])
    )
    renamed = await socket.recv_until(lambda f: f["type"] == "conversation")
    title = (await Conversation.objects.aget(pk=conversation_id)).title
    assert renamed[-1]["conversation"]["title"] == title
    assert len(title) <= TITLE_LENGTH and title.endswith("…")
    assert title.startswith("Rockets Rockets")
    await socket.close()


async def test_a_long_first_message_makes_a_title_of_the_title_length(alice, upstream):
    upstream.queue(text_reply(["Fine."]), error_reply(500, "no title today"))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "y" * 5000})
    created = (await socket.recv())["conversation"]
    await socket.recv_reply_end()
    title = (await Conversation.objects.aget(pk=created["id"])).title
    assert created["title"] == title == "y" * (TITLE_LENGTH - 1) + "…"
    await socket.close()


def test_a_long_rename_is_cut_to_the_columns_length(client, alice):
    conversation = Conversation.objects.create(user=alice, title="Short")
    client.force_login(alice)
    client.post(f"/c/{conversation.pk}/rename/", {"title": "A long name " * 100})
    conversation.refresh_from_db()
    max_length = Conversation._meta.get_field("title").max_length
    assert max_length == TITLE_MAX_LENGTH
    assert len(conversation.title) <= max_length and conversation.title.endswith("long…")
    # The page's rename box says the same limit.
    assert f'maxlength="{max_length}"' in client.get("/").content.decode()


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("short", "short"),
        ("  two\n lines  ", "two lines"),
        ("word " * 40, ("word " * 16).strip() + "…"),  # at a word
        ("z" * 100, "z" * 79 + "…"),  # no word to cut at
        ("nul\x00inside", "nul\ufffdinside"),  # what no database stores, replaced
    ],
)
def test_cut_title_keeps_a_title_within_its_length(text, title):
    assert cut_title(text, 80) == title
    assert len(cut_title(text * 50)) <= TITLE_MAX_LENGTH
