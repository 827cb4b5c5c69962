"""Whatever a page sends, the socket answers in words and stays usable: malformed frames
get an error frame that names the problem (never `server_error`), nothing is saved for
them, and a flood of frames is slowed down, not served."""

import asyncio
import json
import random

import pytest

from chat.models import Conversation, Message
from tests.upstream_server import text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)

NOT_JSON = [
    " ",
    "not json",
    "{",
    "[1, 2]",
    '"a string"',
    "null",
    "42",
    "[" * 100_000,  # nested past Python's recursion limit
    '{"type": "open", "conversation": 1' + "}" * 3,
]

BAD_FIELDS = {
    "open": [
        {"conversation": "1"},
        {"conversation": 1.5},
        {"conversation": None},
        {"conversation": [1]},
        {"conversation": {"id": 1}},
        {"conversation": True},
        {"conversation": -1},
        {"conversation": 0},
        {"conversation": 2**70},
        {"conversation": 2**63},
        {"conversation": "OWN", "resume": "x"},
        {"conversation": "OWN", "resume": {"message": "a", "offset": 0}},
        {"conversation": "OWN", "resume": {"message": 1, "offset": True}},
        {"conversation": "OWN", "resume": [1, 2]},
    ],
    "send": [
        {"conversation": None},
        {"conversation": None, "content": None},
        {"conversation": None, "content": 1},
        {"conversation": None, "content": ["hi"]},
        {"conversation": None, "content": {"text": "hi"}},
        {"conversation": None, "content": ""},
        {"conversation": None, "content": " \n\t "},
        {"conversation": None, "content": "x" * 40_000},
        {"conversation": None, "content": "hi", "model": ["a"]},
        {"conversation": None, "content": "hi", "model": {"a": 1}},
        {"conversation": None, "content": "hi", "model": 7},
        {"conversation": None, "content": "hi", "model": "no-such-model"},
        {"conversation": None, "content": "hi", "system_prompt": 1},
        {"conversation": None, "content": "hi", "system_prompt": ["x"]},
        {"conversation": "1", "content": "hi"},
        {"conversation": 2**70, "content": "hi"},
        {"conversation": None, "content": "a\ud800b"},
    ],
    "stop": [{}, {"conversation": "x"}, {"conversation": 2**70}, {"conversation": 999_999}],
    "retry": [
        {},
        {"conversation": None},
        {"conversation": 999_999},
        {"conversation": "OWN", "model": []},
    ],
    "settings": [
        {},
        {"conversation": "OWN", "system_prompt": 5},
        {"conversation": "OWN", "system_prompt": {"a": 1}},
        {"conversation": "OWN", "system_prompt": "x" * 40_000},
        {"conversation": "OWN", "system_prompt": "\x00"},
    ],
}


def fill(fields: dict, own: int) -> dict:
    return {key: own if value == "OWN" else value for key, value in fields.items()}


@pytest.fixture
async def own(alice):
    conversation = await Conversation.objects.acreate(user=alice, title="Mine")
    await Message.objects.acreate(conversation=conversation, role="user", content="hello")
    await Message.objects.acreate(
        conversation=conversation, role="assistant", content="hi", status="complete"
    )
    return conversation


async def still_usable(socket: Socket, own: Conversation) -> None:
    """A well-formed frame after the bad one is answered as usual."""
    await socket.send({"type": "open", "conversation": own.pk})
    history = await socket.recv_until(lambda f: f["type"] == "history" and f["last"])
    assert history[-1]["conversation"] == own.pk


async def answer(socket: Socket) -> dict:
    frame = await socket.recv()
    assert frame["type"] == "error", frame
    assert frame["code"] != "server_error", frame
    assert frame["message"], frame
    return frame


@pytest.mark.parametrize("text", NOT_JSON, ids=lambda t: repr(t[:20]))
async def test_text_that_is_not_a_json_object_is_refused(alice, own, text):
    socket = await Socket.open_as(alice)
    await socket.send_text(text)
    assert (await answer(socket))["code"] == "bad_json"
    await still_usable(socket, own)
    await socket.close()


async def test_a_binary_frame_is_refused(alice, own):
    socket = await Socket.open_as(alice)
    await socket.communicator.send_to(bytes_data=b'{"type": "open"}')
    assert (await answer(socket))["code"] == "bad_json"
    await still_usable(socket, own)
    await socket.close()


@pytest.mark.parametrize("kind", [None, 1, ["open"], {"a": 1}, "", "OPEN", "x" * 10_000])
async def test_a_frame_of_no_known_type_is_refused(alice, own, kind):
    socket = await Socket.open_as(alice)
    await socket.send({"type": kind, "conversation": own.pk})
    frame = await answer(socket)
    assert frame["code"] == "unknown_type" and len(frame["message"]) < 200
    await still_usable(socket, own)
    await socket.close()


@pytest.mark.parametrize(
    ("kind", "fields"),
    [(kind, fields) for kind, cases in BAD_FIELDS.items() for fields in cases],
    ids=lambda v: v if isinstance(v, str) else json.dumps(v)[:60],
)
async def test_a_frame_with_bad_fields_is_refused_in_words_and_saves_nothing(
    alice, own, upstream, kind, fields
):
    socket = await Socket.open_as(alice)
    if kind in ("stop", "retry", "settings"):
        await still_usable(socket, own)  # these act on the open conversation
    before = await Message.objects.acount(), await Conversation.objects.acount()
    await socket.send({"type": kind, **fill(fields, own.pk)})
    frame = await answer(socket)
    assert len(frame["message"]) < 300  # what was sent is not echoed back at length
    assert (await Message.objects.acount(), await Conversation.objects.acount()) == before
    assert upstream.requests == []
    assert (await Conversation.objects.aget(pk=own.pk)).system_prompt == ""
    await still_usable(socket, own)
    await socket.close()


async def test_unknown_fields_are_ignored(alice, own):
    socket = await Socket.open_as(alice)
    await socket.send({"type": "open", "conversation": own.pk, "extra": {"deep": [1, 2]}})
    assert (await socket.recv())["type"] == "history"
    await socket.close()


async def test_random_frames_never_make_a_server_error(alice, own, upstream):
    upstream.default = text_reply(["ok"])
    values = [None, True, 0, -1, 1.5, 2**64, "", "x", "\ud83d", [], {}, [None], {"a": None}]
    values += [own.pk, {"message": 1, "offset": -5}, "x" * 5000]
    fields = ["type", "conversation", "content", "model", "system_prompt", "resume"]
    kinds = ["open", "send", "stop", "retry", "settings", "nope", None, 3]
    rng = random.Random(8)
    socket = await Socket.open_as(alice)
    for _ in range(300):
        frame = {name: rng.choice(values) for name in rng.sample(fields, rng.randint(0, 5))}
        frame["type"] = rng.choice(kinds)
        await socket.send(frame)
    # Every answer that is an error names a problem; none is a server error.
    codes = []
    while not await socket.nothing(1.0):
        frame = await socket.recv()
        if frame["type"] == "error":
            codes.append(frame["code"])
    assert codes and "server_error" not in codes
    await still_usable(socket, own)
    await socket.close()


async def test_a_flood_of_frames_is_slowed_down_once_and_the_socket_recovers(alice, own, settings):
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 5
    settings.CHAT_SOCKET_FRAME_BURST = 10
    socket = await Socket.open_as(alice)
    for _ in range(100):
        await socket.send({"type": "nope"})
    frames = []
    while not await socket.nothing(0.5):
        frames.append(await socket.recv())
    codes = [frame["code"] for frame in frames]
    # The burst is answered, then one `slow_down` says when to try again; the rest of the
    # flood is not handled at all.
    assert 10 <= codes.count("unknown_type") <= 13
    slow = [frame for frame in frames if frame["code"] == "slow_down"]
    assert len(slow) == 1 and slow[0]["retry_after"] >= 1 and "second" in slow[0]["message"]
    await asyncio.sleep(slow[0]["retry_after"])
    await still_usable(socket, own)
    await socket.close()


async def test_a_flood_of_frames_on_one_socket_does_not_slow_another(alice, bob, settings):
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 5
    settings.CHAT_SOCKET_FRAME_BURST = 10
    flood, calm = await Socket.open_as(alice), await Socket.open_as(bob)
    for _ in range(50):
        await flood.send({"type": "nope"})
    theirs = await Conversation.objects.acreate(user=bob)
    await calm.send({"type": "open", "conversation": theirs.pk})
    assert (await calm.recv())["type"] == "history"
    for socket in (flood, calm):
        await socket.close()
