"""Several server processes, one PostgreSQL, one Redis: a reply started on one process is
watched, resumed and stopped from another."""

from __future__ import annotations

import re

import pytest

from tests import services
from tests.live import close_context, log_in, send
from tests.test_browser import CODE_REPLY, pieces
from tests.upstream_server import text_reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, live_upstream, browser):
    with services.two_sites(tmp_path_factory, live_upstream.url) as sites:
        yield sites


@pytest.fixture
def pages(browser):
    contexts = [browser.new_context(), browser.new_context()]
    yield [context.new_page() for context in contexts]
    for context in contexts:
        close_context(context)


def start_on_first_open_on_second(two_sites, pages, message: str, written: str, seen: str):
    """Send `message` on the first process; once `written` shows there, open the same
    conversation on the second process and wait until `seen` shows there."""
    (first, second), (writer, watcher) = two_sites, pages
    log_in(writer, first)
    send(writer, message)
    writer.wait_for_url(re.compile(r".*/c/\d+/$"))
    writer.wait_for_selector(f"article[data-role=assistant] >> text={written}")
    log_in(watcher, second)
    watcher.goto(second.url + writer.url.removeprefix(first.url))
    watcher.wait_for_selector(f"article[data-role=assistant] >> text={seen}")
    return writer, watcher


def test_a_reply_started_on_one_process_is_watched_from_another(two_sites, pages, live_upstream):
    live_upstream.queue(text_reply(pieces(CODE_REPLY, 4), pause=0.03))
    writer, watcher = start_on_first_open_on_second(
        two_sites, pages, "Across processes", written="Paragraph 2", seen="Paragraph"
    )
    watcher.wait_for_selector("article[data-role=assistant][data-status=complete]", timeout=30000)
    text = watcher.locator("article[data-role=assistant]").inner_text()
    for i in range(8):
        assert text.count(f"Paragraph {i} says") == 1, text
    assert text.count("The end.") == 1
    writer.wait_for_selector("article[data-role=assistant][data-status=complete]")
    assert writer.locator("article[data-role=assistant]").inner_text() == text


def test_stop_on_another_process_stops_the_reply(two_sites, pages, live_upstream):
    live_upstream.client_gone.clear()
    live_upstream.queue(text_reply([f"word{i} " for i in range(3000)], pause=0.02))
    writer, watcher = start_on_first_open_on_second(
        two_sites, pages, "Stop me elsewhere", written="word3", seen="word5"
    )
    watcher.click("#stop-btn")
    for page in (watcher, writer):
        page.wait_for_selector("article[data-role=assistant][data-status=stopped]")
    assert live_upstream.client_gone.wait(timeout=5)
    assert "word2999" not in writer.locator("article[data-role=assistant]").inner_text()


def test_a_page_watching_a_reply_whose_writer_dies_says_so_with_retry(
    tmp_path_factory, live_upstream, pages
):
    """Its own two processes: the first is killed halfway through the reply."""
    with services.two_sites(tmp_path_factory, live_upstream.url, CHAT_WRITER_TIMEOUT="4") as (
        first,
        second,
    ):
        live_upstream.queue(text_reply([f"word{i} " for i in range(3000)], pause=0.02))
        _, watcher = start_on_first_open_on_second(
            (first, second), pages, "Die halfway", written="word3", seen="word5"
        )
        first.process.kill()  # no last frame will ever come from it
        interrupted = "article[data-role=assistant][data-status=interrupted]"
        watcher.wait_for_selector(interrupted, timeout=10_000)  # within 10 s
        assert "word5" in watcher.locator(interrupted).inner_text()  # what arrived is kept
        live_upstream.queue(text_reply(["Written again."]))
        watcher.click(".msg-retry")
        watcher.wait_for_selector("article[data-role=assistant] >> text=Written again.")
