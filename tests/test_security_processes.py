"""Faults and abuse across two real daphne processes on PostgreSQL and Redis: a writer that
dies is reported to a watcher in the other process within 10 s; two processes cannot both
start a reply (or save the refused message); the socket limit counts both processes'
sockets; logging out on one closes the session's socket on the other."""

import asyncio
import time

import httpx
import pytest

from tests import services
from tests.test_relay_processes import Client, is_last_frame, log_in, start_reply
from tests.upstream_server import text_reply


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, live_upstream):
    with services.two_sites(
        tmp_path_factory, live_upstream.url, CHAT_USER_MAX_SOCKETS="3", CHAT_WRITER_TIMEOUT="4"
    ) as sites:
        yield sites


async def test_two_processes_cannot_both_start_a_reply_nor_keep_the_refused_message(
    two_sites, live_upstream
):
    first, second = two_sites
    async with Client(first, log_in(first)) as a, Client(second, log_in(second)) as b:
        conversation, _ = await start_reply(a, ["done."], live_upstream, pause=0)
        await a.until(is_last_frame)
        await b.send({"type": "open", "conversation": conversation})
        await b.until(lambda f: f["type"] == "history")
        live_upstream.queue(text_reply([f"w{i} " for i in range(30)], pause=0.05))
        await asyncio.gather(
            a.send({"type": "send", "conversation": conversation, "content": "from a"}),
            b.send({"type": "send", "conversation": conversation, "content": "from b"}),
        )
        answers = [
            (await c.until(lambda f: f["type"] == "error" or f["type"] == "message"))[-1]
            for c in (a, b)
        ]
        assert sorted(f["type"] for f in answers) == ["error", "message"]
        assert next(f for f in answers if f["type"] == "error")["code"] == "busy"
        await (a if answers[0]["type"] == "message" else b).until(is_last_frame)
    page = httpx.get(f"{first.url}/c/{conversation}/", cookies={"sessionid": log_in(first)})
    assert page.text.count("from a") + page.text.count("from b") == 1  # one kept, one not


async def test_the_socket_limit_counts_the_sockets_of_both_processes(two_sites):
    first, second = two_sites
    cookie = log_in(first)
    async with (
        Client(first, cookie),
        Client(second, cookie),
        Client(first, cookie),
        Client(second, cookie) as fourth,
    ):
        refused = await fourth.recv()
        assert refused["code"] == "too_many_sockets" and "3 pages" in refused["message"]


async def test_logging_out_on_one_process_closes_the_socket_on_the_other(two_sites):
    first, second = two_sites
    with httpx.Client(base_url=first.url) as browser:
        browser.get("/accounts/login/")
        token = browser.cookies["csrftoken"]
        browser.post(
            "/accounts/login/",
            data={"username": "alice", "password": "alice-password-1"},
            headers={"X-CSRFToken": token, "Referer": first.url + "/accounts/login/"},
        )
        async with Client(second, browser.cookies["sessionid"]) as socket:
            browser.post(
                "/accounts/logout/",
                headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": first.url + "/"},
            )
            assert (await socket.recv())["code"] == "logged_out"


async def test_a_writer_that_dies_is_reported_to_a_watcher_elsewhere_within_10_s(
    two_sites, live_upstream
):
    first, second = two_sites
    async with Client(first, log_in(first)) as writer, Client(second, log_in(second)) as watcher:
        words = [f"w{i} " for i in range(2000)]
        conversation, message = await start_reply(writer, words, live_upstream, pause=0.02)
        await watcher.send({"type": "open", "conversation": conversation})
        await watcher.until(lambda f: f["type"] == "frame")  # watching, live
        await asyncio.sleep(1.5)  # a checkpoint or more saved
        first.process.kill()  # the writer's process dies at once: no last frame, ever
        killed = time.monotonic()
        told = await watcher.until(
            lambda f: f["type"] == "message" and f["message"]["id"] == message, timeout=15
        )
        assert time.monotonic() - killed < 10
        assert told[-1]["message"]["status"] == "interrupted"
        assert told[-1]["message"]["content"].startswith("w0 w1 w2")  # what arrived is kept
        live_upstream.queue(text_reply(["Retried."]))
        await watcher.send({"type": "retry", "conversation": conversation})
        assert (await watcher.until(is_last_frame))[-1]["status"] == "complete"
