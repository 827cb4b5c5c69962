"""No reply, tool call, frame or history of one user blocks the event loop for more than
20 ms: a probe measures the longest the loop runs without giving it a turn while each
hostile case runs, and a healthy stream beside it keeps its pace."""

import asyncio
import gc
import itertools
import time

import pytest

from chat.models import Conversation, Message
from chat.providers.network import yield_to_others
from tests.test_security_frames import HOSTILE
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import DONE, Reply, chunk, text_reply
from tests.ws import ReplyView, Socket

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 0.020  # seconds


@pytest.fixture(autouse=True)
def frozen_garbage_collector():
    """Freeze what the tests before this one left, as tests/conftest.py freezes what
    collecting made: after 117 other tests, a full garbage collection took 17 ms of this
    thread's time, walking their objects. In a whole CI run the probe once caught 34 ms
    here, where this module alone measures 8-17 ms."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


class LoopProbe:
    """Wakes every millisecond and notes the longest the loop's thread ran other code
    between two of its turns.

    It counts the thread's CPU time, not the clock's: on a busy machine (CI running other
    jobs beside) the whole process may wait for a core, which no code of ours causes and
    which would make a clock-based probe fail at random. How late it woke by the clock is
    kept too, for the failure message.
    """

    def __init__(self) -> None:
        self.worst = 0.0  # CPU seconds between two turns
        self.late = 0.0  # by the clock
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        ran = time.thread_time()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            now = time.thread_time()
            self.worst = max(self.worst, now - ran)
            self.late = max(self.late, loop.time() - due)
            ran = now

    def __enter__(self) -> "LoopProbe":
        self.task = asyncio.get_running_loop().create_task(self.run())
        return self

    def __exit__(self, *exc) -> None:
        self.task.cancel()

    def check(self) -> None:
        assert self.worst < LIMIT, (
            f"the loop ran {self.worst * 1000:.1f} ms of other code without a pause "
            f"(it woke the probe up to {self.late * 1000:.1f} ms late)"
        )


async def drain(socket: Socket, until=lambda f: f["type"] == "frame" and "status" in f) -> dict:
    """Read frames up to the one that matches, as a browser in its own process would: the
    test's client shares the server's loop here, so it lets the loop run after each frame
    (a queue that holds frames hands them over without ever suspending)."""
    async with asyncio.timeout(60):
        while True:
            frame = await socket.recv(60)
            await asyncio.sleep(0)
            if until(frame):
                return frame


async def test_a_5_mb_reply_in_big_events(alice, upstream):
    # One event of 900 kB (150,000 characters, escaped) after another, as fast as the
    # provider can send them: just under the largest event accepted.
    upstream.queue(text_reply([HOSTILE[i : i + 150_000] for i in range(0, len(HOSTILE), 150_000)]))
    socket = await Socket.open_as(alice)
    with LoopProbe() as probe:
        await socket.send({"type": "send", "conversation": None, "content": "go"})
        await drain(socket)
    probe.check()
    await socket.close()


async def test_one_huge_event_is_refused_not_parsed(alice, upstream):
    huge = chunk({"content": "x" * 5_000_000})
    upstream.queue(Reply(body=[chunk({"role": "assistant", "content": ""}), huge, DONE]))
    socket = await Socket.open_as(alice)
    with LoopProbe() as probe:
        await socket.send({"type": "send", "conversation": None, "content": "go"})
        last = await drain(socket)
    assert last["status"] == "error" and "larger than" in last["error"]
    probe.check()
    await socket.close()


async def test_opening_a_20_mb_conversation(alice):
    conversation = await Conversation.objects.acreate(user=alice)
    await Message.objects.abulk_create(
        Message(conversation=conversation, role="assistant", content=HOSTILE[:500_000])
        for _ in range(40)
    )
    socket = await Socket.open_as(alice)
    with LoopProbe() as probe:
        await socket.send({"type": "open", "conversation": conversation.pk})
        await drain(socket, until=lambda f: f["type"] == "history" and f["last"])
    probe.check()
    await socket.close()


async def test_a_late_socket_on_a_5_mb_reply(alice, upstream):
    chunks = [HOSTILE[i : i + 100_000] for i in range(0, len(HOSTILE), 100_000)]
    upstream.queue(text_reply(chunks, pause=0.1))  # about 3 s in all
    first = await Socket.open_as(alice)
    await first.send({"type": "send", "conversation": None, "content": "go"})
    conversation = (await first.recv())["conversation"]["id"]
    await asyncio.sleep(2)  # most of it written
    late = await Socket.open_as(alice)
    with LoopProbe() as probe:
        await late.send({"type": "open", "conversation": conversation})
        await drain(late)
    probe.check()
    await drain(first)
    for socket in (first, late):
        await socket.close()


async def test_a_tool_call_of_brackets_and_a_flood_of_big_frames(alice, upstream):
    upstream.queue(
        tool_call_reply(("deep", "calculator", ["[" * 30_000])), text_reply(["Could not."])
    )
    socket = await Socket.open_as(alice)
    flood = await Socket.open_as(alice)
    big = '{"type": "open", "conversation": 1, "pad": "' + "x" * 250_000 + '"}'
    with LoopProbe() as probe:
        await socket.send({"type": "send", "conversation": None, "content": "go"})
        for _ in range(50):
            await flood.send_text(big)
        await drain(socket)
        await drain(socket)
    probe.check()
    for s in (socket, flood):
        await s.close()


async def test_a_pause_lets_a_timer_that_came_due_run_before_the_task_goes_on():
    # After asyncio.sleep(0) the loop runs the task again before the timers (and sockets)
    # of its next turn: a sliced job's two slices ran back to back, and the probe between.
    order = []
    asyncio.get_running_loop().call_later(0, order.append, "timer")
    time.sleep(0.002)  # the slice's work: the timer comes due meanwhile
    await yield_to_others()
    order.append("task")
    assert order == ["timer", "task"]


async def test_a_healthy_stream_keeps_its_pace_beside_a_hostile_one(alice, bob, upstream):
    words = [f"w{i} " for i in range(60)]
    upstream.queue(
        text_reply(words, pause=0.02),
        text_reply([HOSTILE[i : i + 150_000] for i in range(0, len(HOSTILE), 150_000)]),
    )
    healthy, hostile = await Socket.open_as(bob), await Socket.open_as(alice)
    await healthy.send({"type": "send", "conversation": None, "content": "hi"})
    view, arrivals = ReplyView(), []
    view.apply((await healthy.recv_until(lambda f: f["type"] == "frame"))[-1])
    with LoopProbe() as probe:
        await hostile.send({"type": "send", "conversation": None, "content": "go"})
        while view.status == "streaming":
            frame = await healthy.recv(10)
            arrivals.append(time.monotonic())
            if frame["type"] == "frame":
                view.apply(frame)
    probe.check()
    # The healthy reply ends whole, not with a false "provider stopped sending".
    assert view.status == "complete" and view.text.endswith("w59 ")
    # Its frames keep coming: every 20-50 ms on a quiet machine. The bound is loose so that
    # a loaded one does not fail it, while a stall like the 3.6 s this test is for would.
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 0.5, f"a gap of {max(gaps) * 1000:.0f} ms in the healthy stream"
    await drain(hostile)
    for socket in (healthy, hostile):
        await socket.close()
