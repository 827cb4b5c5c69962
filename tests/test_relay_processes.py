"""Frames across processes, at the protocol level: two real daphne processes on one
PostgreSQL and one Redis, and real websocket clients. A reply written by one process is
watched, resumed and stopped through the other, whole, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets

from tests import services
from tests.upstream_server import text_reply
from tests.ws import Frames, ReplyView, utf16_length

WORDS = [f"word{i} " for i in range(60)]
REPLY = "".join(WORDS)


# One user writes many replies at once in the load test: the per-user limits are raised.
LIMITS = {
    "CHAT_USER_MAX_REPLIES": "100",
    "CHAT_USER_MESSAGES_PER_MINUTE": "1000",
    "CHAT_USER_MAX_SOCKETS": "200",
    "CHAT_SOCKET_FRAME_BURST": "100",
}


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, live_upstream):
    with services.two_sites(tmp_path_factory, live_upstream.url, **LIMITS) as sites:
        yield sites


def log_in(site) -> str:
    """The session cookie of alice, logged in through the login form."""
    with httpx.Client(base_url=site.url) as client:
        client.get("/accounts/login/")
        token = client.cookies["csrftoken"]
        client.post(
            "/accounts/login/",
            data={"username": "alice", "password": "alice-password-1"},
            headers={"X-CSRFToken": token, "Referer": site.url + "/accounts/login/"},
        )
        return client.cookies["sessionid"]


class Client:
    """One browser tab's socket, speaking docs/protocol.md."""

    def __init__(self, site, cookie: str, compact: bool = False) -> None:
        self.site, self.cookie, self.compact = site, cookie, compact
        self.frames = Frames()

    async def __aenter__(self) -> Client:
        self.ws = await websockets.connect(
            self.site.url.replace("http", "ws")
            + ("/ws/chat/?frames=compact" if self.compact else "/ws/chat/"),
            additional_headers={"Cookie": f"sessionid={self.cookie}", "Origin": self.site.url},
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict:
        return self.frames.read(await asyncio.wait_for(self.ws.recv(), timeout))

    async def until(self, predicate, timeout: float = 15) -> list[dict]:
        frames = []
        async with asyncio.timeout(timeout):
            while not frames or not predicate(frames[-1]):
                frames.append(await self.recv(timeout))
        return frames


def is_last_frame(frame: dict) -> bool:
    return frame["type"] == "frame" and "status" in frame


def apply(view: ReplyView, frames: list[dict], message: int) -> ReplyView:
    for frame in frames:
        if frame["type"] == "frame" and frame["message"] == message:
            view.apply(frame)
    return view


async def start_reply(client: Client, pieces: list[str], upstream, pause=0.05) -> tuple[int, int]:
    """Send a message on a new conversation: (its id, the reply's message id)."""
    upstream.queue(text_reply(pieces, pause=pause))
    await client.send({"type": "send", "conversation": None, "content": "across"})
    frames = await client.until(
        lambda f: f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    return frames[0]["conversation"]["id"], frames[-1]["message"]["id"]


@pytest.mark.parametrize("compact", [False, True], ids=["json", "compact"])
async def test_a_reply_written_by_one_process_is_watched_whole_from_another(
    two_sites, live_upstream, compact
):
    first, second = two_sites
    async with (
        Client(first, log_in(first), compact) as writer,
        Client(second, log_in(second), compact) as watcher,
    ):
        conversation, message = await start_reply(writer, WORDS, live_upstream)
        written = await writer.until(
            lambda f: f["type"] == "frame" and "word5" in f.get("text", "")
        )
        await watcher.send({"type": "open", "conversation": conversation})
        history = await watcher.recv()
        assert history["type"] == "history"
        assert [(m["role"], m["status"]) for m in history["messages"]] == [
            ("user", "complete"),
            ("assistant", "streaming"),
        ]
        watched = await watcher.until(is_last_frame)
        written += await writer.until(is_last_frame)

    snapshot = watched[0]
    assert snapshot["offset"] == 0 and "word5" in snapshot["text"]
    seqs = [f["seq"] for f in watched]
    assert seqs == sorted(set(seqs)), "frames out of order or repeated"
    assert apply(ReplyView(), watched, message).text == REPLY
    assert apply(ReplyView(), written, message).text == REPLY
    assert watched[-1]["status"] == written[-1]["status"] == "complete"
    if compact:  # text alone crossed processes too
        assert watcher.frames.binary > 0 and writer.frames.binary > 0


async def test_a_tab_that_comes_back_on_another_process_gets_only_what_it_lacks(
    two_sites, live_upstream
):
    first, second = two_sites
    async with Client(first, log_in(first)) as before:
        conversation, message = await start_reply(before, WORDS, live_upstream)
        held = apply(
            ReplyView(),
            await before.until(lambda f: f["type"] == "frame" and "word8" in f.get("text", "")),
            message,
        )
    offset = utf16_length(held.text)
    async with Client(second, log_in(second)) as after:
        await after.send(
            {
                "type": "open",
                "conversation": conversation,
                "resume": {"message": message, "offset": offset},
            }
        )
        frames = await after.until(is_last_frame)
    snapshot = next(f for f in frames if f["type"] == "frame")
    assert snapshot["offset"] == offset  # exactly what it lacks
    start = len(held.text)
    assert snapshot["text"] == REPLY[start : start + len(snapshot["text"])]  # and no more
    assert apply(held, frames, message).text == REPLY


async def test_a_reply_started_elsewhere_after_opening_is_seen_live(two_sites, live_upstream):
    first, second = two_sites
    async with Client(first, log_in(first)) as writer:
        conversation, _ = await start_reply(writer, ["Hello."], live_upstream, pause=0)
        await writer.until(is_last_frame)
        async with Client(second, log_in(second)) as watcher:
            await watcher.send({"type": "open", "conversation": conversation})
            await watcher.until(lambda f: f["type"] == "history")
            for turn in ("more", "and more"):  # each reply has a writer of its own
                live_upstream.queue(text_reply([*WORDS[:20], turn], pause=0.05))
                await writer.send({"type": "send", "conversation": conversation, "content": turn})
                frames = await watcher.until(is_last_frame)
                kinds = [(f["type"], f.get("message", {}).get("role")) for f in frames[:2]]
                assert kinds == [("message", "user"), ("message", "assistant")]
                message = frames[1]["message"]["id"]
                assert apply(ReplyView(), frames, message).text == "".join(WORDS[:20]) + turn
                await writer.until(is_last_frame)


async def test_stop_sent_to_another_process_stops_the_reply(two_sites, live_upstream):
    first, second = two_sites
    live_upstream.client_gone.clear()
    long_reply = [f"w{i} " for i in range(2000)]
    async with Client(first, log_in(first)) as writer, Client(second, log_in(second)) as other:
        conversation, _ = await start_reply(writer, long_reply, live_upstream, pause=0.02)
        await writer.until(lambda f: f["type"] == "frame" and "w3 " in f.get("text", ""))
        await other.send({"type": "open", "conversation": conversation})
        await other.until(lambda f: f["type"] == "frame")
        await other.send({"type": "stop", "conversation": conversation})
        ended = [(await c.until(is_last_frame))[-1] for c in (writer, other)]
    assert [f["status"] for f in ended] == ["stopped", "stopped"]
    assert live_upstream.client_gone.wait(timeout=5), "the upstream request was not closed"
    page = httpx.get(f"{first.url}/c/{conversation}/", cookies={"sessionid": log_in(first)})
    data = json.loads(
        re.search(r'id="page-data" type="application/json">(.*?)</script>', page.text).group(1)
    )
    assert data["messages"][-1]["status"] == "stopped"
    assert "w1999" not in data["messages"][-1]["content"]


async def test_under_load_every_watcher_elsewhere_gets_its_reply_whole_to_the_last_frame(
    two_sites, live_upstream
):
    """40 replies at once at 30 tokens a second, written by one process, each watched from
    the other as soon as it starts: every watcher gets its reply whole, ending with its
    last frame."""
    count, (first, second) = 40, two_sites
    words = [f"w{i} " for i in range(90)]  # three seconds each
    cookies = log_in(first), log_in(second)
    writers = [Client(first, cookies[0]) for _ in range(count)]
    watchers = [Client(second, cookies[1]) for _ in range(count)]
    for client in writers + watchers:
        await client.__aenter__()
    try:
        started = []
        for writer, watcher in zip(writers, watchers, strict=True):
            started.append(await start_reply(writer, words, live_upstream, pause=1 / 30))
            await watcher.send({"type": "open", "conversation": started[-1][0]})
        watched = await asyncio.gather(
            *(watcher.until(is_last_frame, timeout=60) for watcher in watchers)
        )
    finally:
        await asyncio.gather(*(client.__aexit__(None, None, None) for client in writers + watchers))
    for frames, (_, message) in zip(watched, started, strict=True):
        assert frames[-1]["status"] == "complete"
        assert apply(ReplyView(), frames, message).text == "".join(words)
