"""No frame the server sends can pass the socket's size limit (daphne closes a socket on a
message over 1 MiB): a 5 MB reply, its snapshot for a late socket, and the history of a
20 MB conversation all arrive in frames under chat.frames.FRAME_LIMIT, whole."""

import asyncio
import json

import pytest
from django.db.models.functions import Length

from chat.frames import FRAME_LIMIT, TEXT_PIECE, history_parts, split_frame, utf16_length
from chat.generation import Generation
from chat.models import Conversation, Message
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import text_reply
from tests.ws import ReplyView, Socket

pytestmark = pytest.mark.django_db(transaction=True)

# 5 MB of text that JSON escapes at its worst: control characters take 6 bytes each.
HOSTILE = "".join(chr(1 + i % 30) + "é🙂x" for i in range(5_000_000 // 7))


class MeasuredSocket(Socket):
    """A socket that records the size of every frame it receives."""

    sizes: list[int]

    async def recv(self, timeout: float = 5) -> dict:
        raw = await self.communicator.receive_from(timeout=timeout)
        self.sizes = getattr(self, "sizes", [])
        self.sizes.append(len(raw.encode()))
        return json.loads(raw)


async def open_measured(user) -> MeasuredSocket:
    from asgiref.sync import sync_to_async

    from tests.conftest import session_cookie

    socket = MeasuredSocket(await sync_to_async(session_cookie)(user))
    assert (await socket.communicator.connect())[0]
    return socket


def test_a_frame_too_long_for_the_socket_is_cut_into_pieces_that_join_up():
    frame = {"type": "frame", "message": 1, "offset": 10, "text": HOSTILE, "status": "complete"}
    frame |= {"error": "", "length": 10 + utf16_length(HOSTILE)}
    frame["tools"] = [{"index": 0, "name": "t", "arguments": "a" * 30_000, "state": "done"}]
    parts = split_frame(frame)
    assert all(len(json.dumps(p).encode()) < FRAME_LIMIT for p in parts)
    view = ReplyView(text="x" * 10)
    for seq, part in enumerate(parts, start=1):
        view.apply(part | {"seq": seq})
    assert view.text == "x" * 10 + HOSTILE and view.status == "complete"
    assert view.tools[0]["arguments"] == "a" * 30_000
    assert "status" in parts[-1] and all("status" not in p for p in parts[:-1])


async def test_a_reply_s_text_from_any_offset_is_exactly_what_a_page_lacks_in_pieces():
    # The text is kept in blocks (a snapshot sends them as they are); an offset may fall
    # anywhere: at 0, on a block's start, inside one, inside an emoji, in the tail, at the end.
    tokens = [HOSTILE[i : i + 7_001] for i in range(0, 300_000, 7_001)]
    generation = Generation(1)
    for token in tokens:
        generation.add_text(token)
    units = "".join(tokens).encode("utf-16-le")
    block = utf16_length(HOSTILE[:TEXT_PIECE])
    emoji = utf16_length(HOSTILE[:2]) + 1  # between the halves of the first 🙂
    for offset in (0, 1, emoji, block, block + emoji, 3 * block + 5, generation.length - 3):
        texts = generation.text_from(offset)
        assert "".join(text for _, text in texts) == units[2 * offset :].decode(
            "utf-16-le", "replace"
        )
        assert all(len(text) <= TEXT_PIECE for _, text in texts)
        ends = [at + utf16_length(text) for at, text in texts]
        assert [at for at, _ in texts] == [offset, *ends[:-1]]
        assert ends[-1] == generation.length
    assert generation.text_from(generation.length) == []
    assert generation.text == "".join(tokens)


def test_a_long_history_is_cut_into_parts_whose_entries_join_up():
    messages = [
        {
            "id": i,
            "role": "assistant",
            "status": "complete",
            "content": HOSTILE[: 300_000 + i],
            "error": "",
            "created": "",
            "model": "",
            "finish_reason": "",
        }
        for i in range(8)
    ]
    parts = history_parts(messages)
    assert len(parts) > 1
    assert all(len(json.dumps(p).encode()) < FRAME_LIMIT for p in parts)
    joined: list[dict] = []
    for entry in (e for part in parts for e in part):
        if joined and joined[-1]["id"] == entry["id"]:
            joined[-1]["content"] += entry["content"]
        else:
            joined.append(dict(entry))
    assert joined == messages


async def test_a_5_mb_reply_streams_in_frames_under_the_limit(alice, upstream):
    upstream.queue(text_reply([HOSTILE[i : i + 150_000] for i in range(0, len(HOSTILE), 150_000)]))
    socket = await open_measured(alice)
    await socket.send({"type": "send", "conversation": None, "content": "a lot"})
    view = ReplyView.of(await socket.recv_reply_end(timeout=60))
    assert view.text == HOSTILE and view.status == "complete"
    assert max(socket.sizes) < FRAME_LIMIT
    assert (await Message.objects.aget(role="assistant")).content == HOSTILE
    await socket.close()


async def test_a_late_socket_gets_a_5_mb_reply_in_pieces_under_the_limit(alice, upstream):
    chunks = [HOSTILE[i : i + 100_000] for i in range(0, len(HOSTILE), 100_000)]
    upstream.queue(text_reply(chunks, pause=0.1))
    first = await Socket.open_as(alice)
    await first.send({"type": "send", "conversation": None, "content": "a lot"})
    conversation = (await first.recv())["conversation"]["id"]
    async with asyncio.timeout(30):  # a megabyte written, four to come
        while not await (
            Message.objects.filter(role="assistant", status="streaming")
            .annotate(length=Length("content"))
            .filter(length__gt=1_000_000)
            .aexists()
        ):
            await asyncio.sleep(0.1)
    late = await open_measured(alice)
    await late.send({"type": "open", "conversation": conversation})
    view = ReplyView.of(await late.recv_reply_end(timeout=60))
    assert view.text == HOSTILE
    assert max(late.sizes) < FRAME_LIMIT
    assert sum(1 for size in late.sizes if size > TEXT_PIECE) > 3  # it came in pieces
    await first.recv_reply_end(timeout=60)
    await first.close()
    await late.close()


async def test_a_20_mb_conversation_opens_in_history_frames_under_the_limit(alice):
    conversation = await Conversation.objects.acreate(user=alice, title="long")
    for i in range(40):
        role = "user" if i % 2 == 0 else "assistant"
        await Message.objects.acreate(
            conversation=conversation, role=role, content=f"{i}:" + HOSTILE[:500_000]
        )
    socket = await open_measured(alice)
    await socket.send({"type": "open", "conversation": conversation.pk})
    frames = await socket.recv_until(lambda f: f["type"] == "history" and f["last"], timeout=60)
    assert max(socket.sizes) < FRAME_LIMIT
    assert [f["part"] for f in frames] == list(range(len(frames)))
    joined: list[dict] = []
    for entry in (e for f in frames for e in f["messages"]):
        if joined and joined[-1]["id"] == entry["id"]:
            joined[-1]["content"] += entry["content"]
        else:
            joined.append(dict(entry))
    assert [m["content"] for m in joined] == [f"{i}:" + HOSTILE[:500_000] for i in range(40)]
    await socket.close()


def test_a_20_mb_conversation_s_page_stays_light_and_leaves_the_messages_to_the_socket(
    alice, client
):
    conversation = Conversation.objects.create(user=alice, title="long")
    Message.objects.bulk_create(
        Message(conversation=conversation, role=role, content=f"{i}:" + HOSTILE[:500_000])
        for i, role in enumerate(["user", "assistant"] * 20)
    )
    client.force_login(alice)
    response = client.get(f"/c/{conversation.pk}/")
    assert response.status_code == 200
    assert len(response.content) < 1_000_000  # not 20 MB of HTML: the socket brings the rest
    assert response.context["page_data"]["messages"] == []  # each is larger than a page carries
    assert 'id="empty-state" hidden' in response.content.decode()  # not "start a conversation"


def test_a_long_conversation_s_page_carries_its_newest_messages_that_fit(alice, client):
    conversation = Conversation.objects.create(user=alice, title="long")
    Message.objects.bulk_create(
        Message(conversation=conversation, role=role, content=f"{i}:" + "x" * 30_000)
        for i, role in enumerate(["user", "assistant"] * 20)
    )
    client.force_login(alice)
    page_messages = client.get(f"/c/{conversation.pk}/").context["page_data"]["messages"]
    contents = [m["content"][:3] for m in page_messages]
    assert 2 < len(contents) < 40 and contents[-1] == "39:"  # a tail, in order, to the end
    assert [int(c.rstrip(":")) for c in contents] == list(range(40 - len(contents), 40))


async def test_a_tool_call_longer_than_allowed_ends_the_reply_in_words(alice, upstream, settings):
    settings.CHAT_TOOL_ARGUMENTS_LIMIT = 1000
    upstream.queue(tool_call_reply(("big", "calculator", ['{"expression": "' + "1+" * 800])))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "go"})
    frames = await socket.recv_reply_end()
    last = frames[-1]
    assert last["status"] == "error" and "longer than 1,000 characters" in last["error"]
    upstream.queue(text_reply(["Fine."]))
    conversation = frames[0]["conversation"]["id"]
    await socket.send({"type": "send", "conversation": conversation, "content": "again"})
    await socket.recv_reply_end()
    history = upstream.wait_for_requests(2)[1]["body"]["messages"]
    assert [m["role"] for m in history] == ["user", "user"]  # the broken round left out
    await socket.close()


async def test_a_reply_longer_than_allowed_ends_in_words_with_what_arrived_kept(
    alice, upstream, settings
):
    # A provider that ignores max_tokens cannot make the process hold, save and join
    # without end: past CHAT_MAX_REPLY_LENGTH the reply ends, its text so far kept.
    settings.CHAT_MAX_REPLY_LENGTH = 1000
    pieces = [f"{i:03d}" + "x" * 97 for i in range(30)]  # 100 characters each
    upstream.queue(text_reply(pieces))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "go on and on"})
    view = ReplyView.of(await socket.recv_reply_end())
    assert view.status == "error" and "more than 1,000 characters" in view.error
    assert view.text == "".join(pieces[:11])  # up to the piece that went past
    reply = await Message.objects.aget(role="assistant")
    assert (reply.status, reply.content) == ("error", view.text)
    await socket.close()
