"""Every message has versions: regenerate a reply, edit a message, switch between versions.
Each test checks what the pages are shown and the exact messages the provider receives:
only the branch shown, tool rounds included."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message
from tests.test_protocol_shapes import check
from tests.test_tool_loop import call, tool_call_reply
from tests.upstream_server import error_reply, text_reply
from tests.ws import ReplyView, Socket, frames_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def plain(settings):
    settings.CHAT_SYSTEM_PROMPT = ""
    settings.CHAT_TOOLS = ["calculator"]
    settings.CHAT_MODELS = ["test-model", "other-model"]
    settings.CHAT_MODEL = "test-model"


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


async def reply_ends(socket: Socket) -> list[dict]:
    """Every frame until a reply ends (its last round: one not followed by another)."""
    frames = []
    while True:
        frames += await socket.recv_reply_end(timeout=15)
        if frames[-1]["status"] != "complete" or await socket.nothing(0.3):
            return frames


def shown(frames: list[dict]) -> list[dict]:
    """The messages of the last `history` among `frames` (one part: these are short)."""
    histories = [f for f in frames if f["type"] == "history"]
    assert histories, "no history was sent"
    assert histories[-1]["part"] == 0 and histories[-1]["last"]
    return histories[-1]["messages"]


def texts(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages]


async def conversation_of(alice, exchanges: list[tuple[str, str]], upstream) -> tuple[Socket, int]:
    """A conversation with these (question, answer) exchanges, written through the socket."""
    upstream.queue(*(text_reply([answer]) for _, answer in exchanges))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": exchanges[0][0]})
    conversation = (await socket.recv())["conversation"]["id"]
    await reply_ends(socket)
    for question, _ in exchanges[1:]:
        await socket.send({"type": "send", "conversation": conversation, "content": question})
        await reply_ends(socket)
    return socket, conversation


async def history_of(socket: Socket, conversation: int) -> list[dict]:
    """The branch a page opening the conversation is shown (as after a reload)."""
    await socket.send({"type": "open", "conversation": conversation})
    return shown([await socket.recv()])


async def ids(role: str) -> list[int]:
    return [pk async for pk in Message.objects.filter(role=role).values_list("pk", flat=True)]


async def test_regenerate_adds_a_version_shown_in_place_of_the_old_one(alice, upstream):
    socket, conversation = await conversation_of(
        alice, [("Hi", "Hello"), ("Joke?", "Knock")], upstream
    )
    first_joke = (await ids("assistant"))[1]
    upstream.queue(text_reply(["Why did ", "the chicken"]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": first_joke})
    frames = await reply_ends(socket)

    branch = shown(frames)
    assert texts(branch) == ["Hi", "Hello", "Joke?", ""]  # the new version, streaming
    new = branch[-1]
    assert (new["status"], new["versions"], new["version"]) == (
        "streaming",
        [first_joke, new["id"]],
        2,
    )
    assert "versions" not in branch[1]  # a message with no other version says nothing
    view = ReplyView.of(frames)
    assert (view.status, view.text) == ("complete", "Why did the chicken")
    # The provider is asked with the branch up to the question, not the old answer.
    assert upstream.requests[-1]["body"]["messages"] == [
        user("Hi"),
        assistant("Hello"),
        user("Joke?"),
    ]
    assert texts(await history_of(socket, conversation)) == [
        "Hi",
        "Hello",
        "Joke?",
        "Why did the chicken",
    ]
    await socket.close()


async def test_regenerate_with_another_model_uses_it_and_the_conversation_keeps_it(alice, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (answer,) = await ids("assistant")
    upstream.queue(text_reply(["Hey"]))
    await socket.send(
        {
            "type": "regenerate",
            "conversation": conversation,
            "message": answer,
            "model": "other-model",
        }
    )
    await reply_ends(socket)
    assert upstream.requests[-1]["body"]["model"] == "other-model"
    assert (await Message.objects.filter(role="assistant").alast()).content == "Hey"
    assert (await Conversation.objects.aget(pk=conversation)).model == "other-model"
    await socket.close()


async def test_editing_a_message_makes_a_version_and_its_reply_follows(alice, upstream):
    exchanges = [("One", "1"), ("Two", "2"), ("Three", "3")]
    socket, conversation = await conversation_of(alice, exchanges, upstream)
    second = (await ids("user"))[1]
    upstream.queue(text_reply(["II"]))
    await socket.send(
        {"type": "edit", "conversation": conversation, "message": second, "content": "Deux"}
    )
    frames = await reply_ends(socket)

    branch = shown(frames)
    assert texts(branch) == ["One", "1", "Deux", ""]  # what followed "Two" is not shown
    assert (branch[2]["versions"], branch[2]["version"]) == ([second, branch[2]["id"]], 2)
    assert upstream.requests[-1]["body"]["messages"] == [
        user("One"),
        assistant("1"),
        user("Deux"),
    ]
    # Nothing is lost: the old branch is all still there.
    assert await Message.objects.acount() == 8
    # The next message goes on after the edited branch, and only it is sent.
    upstream.queue(text_reply(["4"]))
    await socket.send({"type": "send", "conversation": conversation, "content": "Four"})
    await reply_ends(socket)
    assert upstream.requests[-1]["body"]["messages"] == [
        user("One"),
        assistant("1"),
        user("Deux"),
        assistant("II"),
        user("Four"),
    ]
    await socket.close()


async def test_editing_the_first_message_makes_a_version_with_no_parent(alice, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (first,) = await ids("user")
    upstream.queue(text_reply(["Bonjour"]))
    await socket.send(
        {"type": "edit", "conversation": conversation, "message": first, "content": "Salut"}
    )
    branch = shown(await reply_ends(socket))
    assert texts(branch) == ["Salut", ""]
    assert branch[0]["versions"] == [first, branch[0]["id"]]
    assert upstream.requests[-1]["body"]["messages"] == [user("Salut")]
    await socket.close()


async def test_switching_shows_the_versions_branch_down_to_its_newest_message(alice, upstream):
    exchanges = [("One", "1"), ("Two", "2"), ("Three", "3")]
    socket, conversation = await conversation_of(alice, exchanges, upstream)
    second = (await ids("user"))[1]
    upstream.queue(text_reply(["II"]))
    await socket.send(
        {"type": "edit", "conversation": conversation, "message": second, "content": "Deux"}
    )
    edited = shown(await reply_ends(socket))[2]["id"]

    await socket.send({"type": "switch", "conversation": conversation, "message": second})
    branch = shown([await socket.recv()])
    assert texts(branch) == ["One", "1", "Two", "2", "Three", "3"]
    assert (branch[2]["versions"], branch[2]["version"]) == ([second, edited], 1)
    # Survives a reload, and the next message follows the branch shown.
    assert texts(await history_of(socket, conversation)) == texts(branch)
    upstream.queue(text_reply(["4"]))
    await socket.send({"type": "send", "conversation": conversation, "content": "Four"})
    await reply_ends(socket)
    assert [m["content"] for m in upstream.requests[-1]["body"]["messages"]] == [
        "One",
        "1",
        "Two",
        "2",
        "Three",
        "3",
        "Four",
    ]

    await socket.send({"type": "switch", "conversation": conversation, "message": edited})
    assert texts(shown([await socket.recv()])) == ["One", "1", "Deux", "II"]
    await socket.close()


async def test_retry_after_a_failure_makes_a_version_in_place_of_the_failed_reply(alice, upstream):
    upstream.queue(error_reply(500, "boom"), text_reply(["Fine"]))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "Hi"})
    conversation = (await socket.recv())["conversation"]["id"]
    await reply_ends(socket)
    (failed,) = await ids("assistant")
    await socket.send({"type": "retry", "conversation": conversation})
    branch = shown(await reply_ends(socket))
    assert [m["role"] for m in branch] == ["user", "assistant"]  # not stacked under it
    assert branch[1]["versions"] == [failed, branch[1]["id"]]
    history = await history_of(socket, conversation)
    assert [(m["content"], m["status"]) for m in history] == [
        ("Hi", "complete"),
        ("Fine", "complete"),
    ]
    # The failed version is kept and can be shown again, error and all.
    await socket.send({"type": "switch", "conversation": conversation, "message": failed})
    assert [m["status"] for m in shown([await socket.recv()])] == ["complete", "error"]
    await socket.close()


async def test_regenerating_a_reply_with_tool_rounds_and_switching_back_sends_its_rounds(
    alice, upstream
):
    args = '{"expression": "6*7"}'
    upstream.queue(tool_call_reply(("call_a", "calculator", [args])), text_reply(["42."]))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "6*7?"})
    conversation = (await socket.recv())["conversation"]["id"]
    await reply_ends(socket)
    asked, answered = await ids("assistant")

    # Regenerate named by its LAST round: the version is of the whole reply.
    upstream.queue(text_reply(["Forty-two."]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": answered})
    branch = shown(await reply_ends(socket))
    assert texts(branch) == ["6*7?", ""]
    assert branch[1]["versions"] == [asked, branch[1]["id"]]
    assert upstream.requests[-1]["body"]["messages"] == [user("6*7?")]

    await socket.send({"type": "switch", "conversation": conversation, "message": asked})
    branch = shown([await socket.recv()])
    assert [m["id"] for m in branch[1:]] == [asked, answered]
    assert branch[1]["tool_calls"][0]["result"] == '{"expression": "6*7", "result": 42}'
    upstream.queue(text_reply(["Yes."]))
    await socket.send({"type": "send", "conversation": conversation, "content": "Sure?"})
    await reply_ends(socket)
    assert upstream.requests[-1]["body"]["messages"] == [
        user("6*7?"),
        {"role": "assistant", "content": None, "tool_calls": [call("call_a", "calculator", args)]},
        {
            "role": "tool",
            "content": '{"expression": "6*7", "result": 42}',
            "tool_call_id": "call_a",
        },
        assistant("42."),
        user("Sure?"),
    ]
    await socket.close()


async def test_a_second_tab_sees_new_versions_and_switches_live(alice, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    other = await Socket.open_as(alice)
    await history_of(other, conversation)
    (answer,) = await ids("assistant")

    upstream.queue(text_reply(["Hey"]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": answer})
    await reply_ends(socket)
    frames = await reply_ends(other)
    new = shown(frames)[1]
    assert new["versions"] == [answer, new["id"]]
    announced = [f for f in frames if f["type"] == "message"]
    assert announced[0]["message"]["versions"] == new["versions"]  # the reply's announcement too

    await socket.send({"type": "switch", "conversation": conversation, "message": answer})
    assert texts(shown([await other.recv()])) == ["Hi", "Hello"]
    await socket.close()
    await other.close()


async def test_versions_cannot_be_made_or_shown_while_a_reply_is_written(alice, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (question,) = await ids("user")
    (answer,) = await ids("assistant")
    upstream.queue(text_reply([f"w{i} " for i in range(30)], pause=0.03))
    await socket.send({"type": "send", "conversation": conversation, "content": "More"})
    await socket.recv_until(lambda f: f["type"] == "frame")
    before = await Message.objects.acount()
    for frame in (
        {"type": "regenerate", "message": answer},
        {"type": "edit", "message": question, "content": "Hello?"},
        {"type": "switch", "message": answer},
    ):
        await socket.send(frame | {"conversation": conversation})
        refusal = await socket.recv_until(lambda f: f["type"] == "error")
        assert refusal[-1]["code"] == "busy"
        assert "reply" in refusal[-1]["message"]
    assert await Message.objects.acount() == before
    await reply_ends(socket)
    await socket.close()


async def test_bad_version_frames_are_refused_in_words_and_save_nothing(alice, bob, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (question,) = await ids("user")
    (answer,) = await ids("assistant")
    # Bob's message, and a message of another conversation of alice's own.
    bobs = await Conversation.objects.acreate(user=bob, title="Bob's")
    his = await Message.objects.acreate(conversation=bobs, role="assistant", content="secret")
    elsewhere = await Conversation.objects.acreate(user=alice, title="Other")
    hers = await Message.objects.acreate(conversation=elsewhere, role="assistant", content="x")
    missing = his.pk + 1000
    before = await Message.objects.acount()

    async def answer_to(frame: dict) -> dict:
        await socket.send(frame | {"conversation": conversation})
        return await socket.recv()

    not_found = {"type": "error", "code": "not_found", "message": "That message does not exist."}
    for kind, extra in [("regenerate", {}), ("edit", {"content": "x"}), ("switch", {})]:
        answers = [
            await answer_to({"type": kind, "message": pk} | extra)
            for pk in (his.pk, hers.pk, missing)
        ]
        assert answers == [not_found] * 3, kind
        for bad in ("12", None, True, 1.5, [answer]):
            refusal = await answer_to({"type": kind, "message": bad} | extra)
            assert (refusal["code"], refusal["message"]) == (
                "bad_frame",
                "`message` must be a message id.",
            )
    assert (await answer_to({"type": "regenerate", "message": question}))["message"] == (
        "Only a reply can be regenerated."
    )
    assert (await answer_to({"type": "edit", "message": answer, "content": "x"}))["message"] == (
        "Only your own messages can be edited."
    )
    assert (await answer_to({"type": "edit", "message": question, "content": "  "}))[
        "code"
    ] == "empty"
    assert (await answer_to({"type": "edit", "message": question}))["code"] == "bad_frame"
    assert (await answer_to({"type": "edit", "message": question, "content": "a\x00b"}))[
        "code"
    ] == "bad_text"
    assert (await answer_to({"type": "regenerate", "message": answer, "model": "gpt-9"}))[
        "code"
    ] == "bad_frame"
    # Not this socket's conversation: the same answer as for retry.
    await socket.send({"type": "switch", "conversation": bobs.pk, "message": his.pk})
    assert (await socket.recv())["code"] == "not_open"
    assert await Message.objects.acount() == before
    assert len(upstream.requests) == 1  # the provider was asked nothing more
    # And the socket goes on working.
    upstream.queue(text_reply(["Still here"]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": answer})
    assert texts(shown(await reply_ends(socket))) == ["Hi", ""]
    await socket.close()


async def test_a_refused_edit_saves_nothing(alice, upstream, settings):
    settings.CHAT_USER_MESSAGES_PER_MINUTE = 1
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (question,) = await ids("user")
    before = await Message.objects.acount()
    await socket.send(
        {"type": "edit", "conversation": conversation, "message": question, "content": "Hey"}
    )
    assert (await socket.recv())["code"] == "too_many_messages"
    assert await Message.objects.acount() == before
    assert (await Conversation.objects.aget(pk=conversation)).current_id == (
        await Message.objects.filter(role="assistant").alast()
    ).pk
    await socket.close()


async def test_messages_written_without_parents_are_read_and_continued_as_one_branch(
    alice, upstream
):
    conversation = await Conversation.objects.acreate(user=alice, title="Old")
    for role, text in [("user", "Old question"), ("assistant", "Old answer")]:
        await Message.objects.acreate(conversation=conversation, role=role, content=text)
    socket = await Socket.open_as(alice)
    assert texts(await history_of(socket, conversation.pk)) == ["Old question", "Old answer"]
    upstream.queue(text_reply(["New answer"]))
    await socket.send({"type": "send", "conversation": conversation.pk, "content": "New"})
    await reply_ends(socket)
    assert upstream.requests[-1]["body"]["messages"] == [
        user("Old question"),
        assistant("Old answer"),
        user("New"),
    ]
    assert texts(await history_of(socket, conversation.pk)) == [
        "Old question",
        "Old answer",
        "New",
        "New answer",
    ]
    await socket.close()


async def test_every_frame_of_versions_fits_its_shape(alice, upstream):
    socket, conversation = await conversation_of(alice, [("Hi", "Hello")], upstream)
    (question,) = await ids("user")
    (answer,) = await ids("assistant")
    upstream.queue(text_reply(["Hey"]), text_reply(["Bonjour"]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": answer})
    frames = await reply_ends(socket)
    await socket.send(
        {"type": "edit", "conversation": conversation, "message": question, "content": "Salut"}
    )
    frames += await reply_ends(socket)
    await socket.send({"type": "switch", "conversation": conversation, "message": question})
    frames.append(await socket.recv())
    check(frames)
    assert {f["type"] for f in frames} == {"history", "message", "frame"}
    # A reply's last frame names the model that answered, as its saved row does.
    assert frames_of(frames)[-1]["model"] == "test-model-2024"
    await socket.close()


async def test_regenerating_an_earlier_reply_starts_a_branch_from_there(alice, upstream):
    exchanges = [("One", "1"), ("Two", "2"), ("Three", "3")]
    socket, conversation = await conversation_of(alice, exchanges, upstream)
    first_answer = (await ids("assistant"))[0]
    upstream.queue(text_reply(["uno"]))
    await socket.send({"type": "regenerate", "conversation": conversation, "message": first_answer})
    assert texts(shown(await reply_ends(socket))) == ["One", ""]
    assert upstream.requests[-1]["body"]["messages"] == [user("One")]
    assert texts(await history_of(socket, conversation)) == ["One", "uno"]
    # The old answer's branch, all of it, is one switch away.
    await socket.send({"type": "switch", "conversation": conversation, "message": first_answer})
    assert texts(shown([await socket.recv()])) == ["One", "1", "Two", "2", "Three", "3"]
    await socket.close()
