"""How a reply's text is paced into frames (chat/generation.py, `_publish_frames`): at most
one frame per CHAT_FRAME_INTERVAL, and a frame that waited out the interval holds for the
next token rather than leave it a whole interval behind; a due frame goes from the round's
own task once its stream has nothing more to read, so tokens read together leave together,
and a Stop waits for it to reach every socket.

The interval is made long here (200 ms) so that a loaded test machine's few milliseconds
of jitter cannot decide the outcome."""

import asyncio
import itertools
import time

import pytest

from chat import broadcast
from chat.generation import FRAME_HOLD, Generation, _publish_frames
from tests.upstream_server import DONE, USAGE, Reply, chunk, text_reply
from tests.ws import Socket, frames_of

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 0.2


async def frames_with_times(user, upstream, pieces: list[str], pause: float) -> list:
    """(when it arrived, frame) for each frame of a reply streaming `pieces`, `pause` apart."""
    return await timed_frames(user, upstream, text_reply(pieces, pause=pause))


async def timed_frames(user, upstream, reply: Reply) -> list:
    """(when it arrived, frame) for each frame of `reply`."""
    upstream.queue(reply)
    socket = await Socket.open_as(user)
    await socket.send({"type": "send", "conversation": None, "content": "Hi"})
    timed = []
    while True:
        frame = await socket.recv(timeout=10)
        if frame.get("type") == "frame":
            timed.append((time.monotonic(), frame))
            if "status" in frame:
                break
    await socket.close()
    return timed


async def test_a_fast_stream_gets_at_most_one_frame_per_interval(alice, upstream, settings):
    settings.CHAT_FRAME_INTERVAL = INTERVAL
    pieces = [f"w{i} " for i in range(60)]  # one every 20 ms: ten per interval
    timed = await frames_with_times(alice, upstream, pieces, pause=0.02)
    with_text = [frame for _, frame in timed if frame.get("text")]
    # A frame per interval over the time the tokens took: 1.2 s, and more on a busy machine,
    # where each 20 ms pause runs over (8 frames failed a bound of 1.2 s once in CI).
    took = timed[-1][0] - timed[0][0]
    assert len(with_text) <= took / INTERVAL + 2 < len(pieces) / 2
    # The last frame is the save's, sent when the reply ends, not paced.
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(timed[:-1])]
    # Arrival times, so a little less than the interval when one frame was read late.
    assert min(gaps) > 0.8 * INTERVAL
    assert "".join(frame.get("text", "") for frame in frames_of([f for _, f in timed])) == (
        "".join(pieces)
    )


async def test_a_steady_stream_s_frames_go_as_a_token_arrives(alice, upstream, settings):
    # A token every 2/3 of the interval, as 30 tokens/s are to 50 ms. Sent as soon as the
    # interval allows, one token in three would land just after a frame and wait the whole
    # interval; held for the next token, each frame takes two tokens as the second arrives.
    settings.CHAT_FRAME_INTERVAL = INTERVAL
    pieces = [f"token{i} " for i in range(13)]
    timed = await frames_with_times(alice, upstream, pieces, pause=INTERVAL * 2 / 3)
    texts = [frame["text"] for _, frame in timed if frame.get("text")]
    assert "".join(texts) == "".join(pieces)
    pairs = [text for text in texts[1:-1] if text.count("token") == 2]
    assert len(pairs) >= len(texts[1:-1]) - 1, texts


async def test_tokens_read_together_leave_in_one_frame(alice, upstream, settings):
    # A busy server reads several tokens at once. Sent at the first of them, the frame would
    # leave the others to wait out the next interval; it goes once the read is used up.
    settings.CHAT_FRAME_INTERVAL = INTERVAL
    together = [f"t{i} " for i in range(5)]
    reply = Reply(
        body=[
            chunk({"role": "assistant", "content": "first "}),
            INTERVAL * 1.5,  # the interval is over when the next read comes
            b"".join(chunk({"content": piece}) for piece in together),  # one write
            INTERVAL * 1.5,
            chunk({"content": "last"}),
            chunk({}, finish_reason="stop"),
            chunk(None, usage=USAGE),
            DONE,
        ]
    )
    texts = [frame.get("text") for _, frame in await timed_frames(alice, upstream, reply)]
    assert "".join(together) in texts, texts


class SlowSocket:
    """A subscriber whose send suspends, as a send through the channel layer does."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    async def relay(self, data, message=None, seq=0, text=None) -> None:
        await asyncio.sleep(0.02)
        self.seqs.append(seq)


@pytest.fixture
def sockets():
    """Two slow sockets on conversation 9001, in this process."""
    pair = [SlowSocket(), SlowSocket()]
    for socket in pair:
        broadcast.subscribe(9001, socket)
    yield pair
    for socket in pair:
        broadcast.unsubscribe(9001, socket)


async def test_a_stop_while_the_round_sends_a_frame_waits_until_every_socket_has_it(sockets):
    generation = Generation(9001)
    generation.message_id = 5

    async def a_round() -> None:
        generation.add_text("Hello")  # the first change: its interval is long over
        assert generation.frame_due
        await generation.send_due_frame()
        await asyncio.sleep(10)  # the stream's next read, where the stop lands

    generation.task = asyncio.create_task(a_round())
    await asyncio.sleep(0.01)  # inside the first socket's send
    generation.stop()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(generation.task, timeout=5)
    assert [socket.seqs for socket in sockets] == [[1], [1]]


async def test_text_held_for_a_token_that_never_comes_goes_when_its_hold_is_up(settings):
    settings.CHAT_FRAME_INTERVAL = INTERVAL
    generation = Generation(9002)
    loop = asyncio.get_running_loop()
    publisher = asyncio.create_task(_publish_frames(generation))
    try:
        generation.last_frame_at = start = loop.time()  # a frame just went
        await asyncio.sleep(INTERVAL * 0.7)
        generation.add_text("late")  # inside the interval: held, no token after it
        assert not generation.frame_due
        while generation.seq == 0:
            await asyncio.sleep(0.005)
        # Held past the interval's end until the text is FRAME_HOLD of an interval old.
        assert loop.time() - start >= INTERVAL * (0.7 + FRAME_HOLD) - 0.01
        assert generation.waiting_since is None
    finally:
        generation.finished = True
        generation.wake()
        await publisher
