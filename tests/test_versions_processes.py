"""Versions across processes: two real daphnes on one PostgreSQL and one Redis. A version
made through one is seen whole, live, through the other; a switch through one reaches the
other, and waits while the other is writing a reply."""

from __future__ import annotations

import pytest

from tests import services
from tests.test_relay_processes import Client, apply, is_last_frame, log_in, start_reply
from tests.upstream_server import text_reply
from tests.ws import ReplyView

WORDS = [f"again{i} " for i in range(40)]


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, live_upstream):
    with services.two_sites(tmp_path_factory, live_upstream.url) as sites:
        yield sites


async def test_a_version_made_in_one_process_is_watched_and_switched_from_another(
    two_sites, live_upstream
):
    first, second = two_sites
    async with Client(first, log_in(first)) as writer, Client(second, log_in(second)) as watcher:
        conversation, original = await start_reply(writer, ["First."], live_upstream, pause=0)
        await writer.until(is_last_frame)
        await watcher.send({"type": "open", "conversation": conversation})
        await watcher.until(lambda f: f["type"] == "history")

        live_upstream.queue(text_reply(WORDS, pause=0.05))
        await writer.send({"type": "regenerate", "conversation": conversation, "message": original})
        frames = await watcher.until(lambda f: f["type"] == "history")
        new = frames[-1]["messages"][-1]
        assert (new["status"], new["versions"]) == ("streaming", [original, new["id"]])

        # While the other process writes it, this one cannot move away from it.
        await watcher.send({"type": "switch", "conversation": conversation, "message": original})
        refusal = await watcher.until(lambda f: f["type"] == "error")
        assert refusal[-1]["code"] == "busy"

        frames += await watcher.until(is_last_frame)
        assert apply(ReplyView(), frames, new["id"]).text == "".join(WORDS)
        await writer.until(is_last_frame)

        await watcher.send({"type": "switch", "conversation": conversation, "message": original})
        history = await writer.until(lambda f: f["type"] == "history")
        assert [m["content"] for m in history[-1]["messages"]] == ["across", "First."]
    assert len(live_upstream.requests) >= 2
    assert live_upstream.requests[-1]["body"]["messages"][-1] == {
        "role": "user",
        "content": "across",
    }
