"""Text-only frames sent as their text alone, to a page that asks (`?frames=compact`):
what most frames of a reply carry costs its text and two bytes of header, and the page
still gets every character once, in order (docs/protocol.md, "Text-only frames")."""

import asyncio

import pytest

from chat.models import Message
from tests.upstream_server import text_reply
from tests.ws import ReplyView, Socket, frames_of

pytestmark = pytest.mark.django_db(transaction=True)

# Apart enough that each piece is a frame of its own (CHAT_FRAME_INTERVAL is 50 ms).
PIECES = [f"piece {i} é 😀 " for i in range(8)]


async def start_reply(user, upstream, pieces, pause: float, compact: bool = True) -> Socket:
    """A socket that has sent a first message, whose reply streams `pieces`."""
    upstream.queue(text_reply(pieces, pause=pause))
    socket = await Socket.open_as(user, compact=compact)
    await socket.send({"type": "send", "conversation": None, "content": "Hi"})
    return socket


async def raw_until_last_frame(socket: Socket) -> list[str | bytes]:
    """Every message as it came (text or binary), up to the reply's last frame."""
    raws = []
    while True:
        raw = await socket.communicator.receive_from(timeout=5)
        raws.append(raw)
        if isinstance(raw, str) and raw.startswith('{"type":"frame"') and '"status":' in raw:
            return raws


async def test_after_the_first_frame_a_reply_s_text_comes_alone_and_whole(alice, upstream):
    socket = await start_reply(alice, upstream, PIECES, pause=0.08)
    alone = [raw for raw in await raw_until_last_frame(socket) if isinstance(raw, bytes)]
    assert len(alone) >= len(PIECES) - 2  # all but the first frame's and the last's
    # Exactly the text, as UTF-8: nothing around it.
    assert b"".join(alone).decode() in "".join(PIECES)
    reply = await Message.objects.aget(role="assistant")
    assert reply.content == "".join(PIECES)
    await socket.close()


async def test_the_page_s_view_of_a_compact_reply_is_exact(alice, upstream):
    socket = await start_reply(alice, upstream, PIECES, pause=0.08)
    frames = frames_of(await socket.recv_reply_end())
    view = ReplyView()
    for frame in frames:
        view.apply(frame)  # fails on a gap, a duplicate or a wrong length
    assert socket.binary >= len(PIECES) - 2
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert view.status == "complete"
    assert view.text == "".join(PIECES)
    await socket.close()


async def test_a_page_that_does_not_ask_gets_every_frame_as_json(alice, upstream):
    socket = await start_reply(alice, upstream, PIECES, pause=0.08, compact=False)
    raws = await raw_until_last_frame(socket)
    assert all(isinstance(raw, str) for raw in raws), "a binary message to a page that did not ask"
    await socket.close()


async def test_a_tab_joining_mid_reply_gets_a_snapshot_then_text_alone_with_no_gap(alice, upstream):
    first = await start_reply(alice, upstream, PIECES * 2, pause=0.06)
    conversation_id = (await first.recv())["conversation"]["id"]
    await first.recv_until(lambda f: f["type"] == "frame" and f["seq"] >= 4)

    second = await Socket.open_as(alice, compact=True)
    await second.send({"type": "open", "conversation": conversation_id})
    assert (await second.recv())["type"] == "history"
    snapshot = await second.recv()
    assert snapshot["type"] == "frame" and snapshot["offset"] == 0 and "tools" in snapshot
    view = ReplyView()
    view.apply(snapshot)
    for frame in frames_of(await second.recv_reply_end()):
        view.apply(frame)
    assert second.binary > 0  # after one JSON frame that says where the text goes on
    assert view.text == "".join(PIECES * 2)
    assert view.status == "complete"
    for socket in (first, second):
        await socket.close()


async def test_a_reconnected_tab_resumes_from_its_offset_and_goes_on_compact(alice, upstream):
    socket = await start_reply(alice, upstream, PIECES * 2, pause=0.06)
    conversation_id = (await socket.recv())["conversation"]["id"]
    started = await socket.recv_until(
        lambda f: f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    reply_id = started[-1]["message"]["id"]
    view = ReplyView.of(await socket.recv_until(lambda f: f.get("seq", 0) >= 4))
    await socket.close()

    await asyncio.sleep(0.2)
    again = await Socket.open_as(alice, compact=True)
    resume = {"message": reply_id, "offset": len(view.text.encode("utf-16-le")) // 2}
    await again.send({"type": "open", "conversation": conversation_id, "resume": resume})
    assert (await again.recv())["type"] == "history"
    rest = frames_of(await again.recv_reply_end())
    assert rest[0]["offset"] == resume["offset"]  # exactly what it lacks, as JSON
    view.last_seq = 0  # a new socket: its frames are applied by offset
    for frame in rest:
        view.apply(frame)
    assert again.binary > 0
    assert view.text == "".join(PIECES * 2)
    await again.close()
