"""What a person sees when a limit or a logout stops the page, in Chromium against a real
daphne: the refusal in words (with when to try again), the draft kept, and a page whose
login ended sent to the login form."""

from __future__ import annotations

import re

import pytest

from tests.live import close_context, log_in, running_site, send
from tests.upstream_server import text_reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("limited"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-limits",
            "CHAT_USER_MESSAGES_PER_MINUTE": "2",
            "CHAT_USER_MAX_SOCKETS": "2",
        },
        users=("alice", "carol"),
    ) as live:
        yield live


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    close_context(context)


def test_a_message_over_the_limit_is_refused_in_words_and_the_draft_kept(
    site, context, live_upstream
):
    page = context.new_page()
    log_in(page, site)
    for text in ("first", "second"):
        live_upstream.queue(text_reply([f"Reply to {text}."]))
        send(page, text)
        page.wait_for_selector(f"article[data-role=assistant] >> text=Reply to {text}.")
    send(page, "third, too soon")
    notice = page.locator("#notices .notice-text")
    notice.wait_for()
    said = notice.inner_text()
    # The wait, counted down (tests/test_irritants.py): "Try again in 59 s.", "1 min."
    assert re.search(r"2 messages in the last minute.*Try again in \d+ (min|s)\b", said)
    assert page.input_value("#composer-input") == "third, too soon"
    assert page.locator("article[data-role=user]").count() == 2  # nothing was added


def test_a_page_past_the_socket_limit_says_so(site, browser):
    contexts = [browser.new_context() for _ in range(3)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages[:2]:
            log_in(page, site, "carol", "carol-password-1")
            page.wait_for_selector("#conn-status[data-state=open]", state="attached")
        log_in(pages[2], site, "carol", "carol-password-1")
        notice = pages[2].locator("#notices .notice-text")
        notice.wait_for()
        assert "2 pages of this site open" in notice.inner_text()
    finally:
        for context in contexts:
            close_context(context)


def test_logging_out_in_one_tab_sends_the_other_to_the_login_page(site, context):
    first, second = context.new_page(), context.new_page()
    log_in(first, site)
    second.goto(site.url + "/")
    second.wait_for_selector("#composer-input")
    first.click(".logout-form button")
    second.wait_for_url(re.compile(r".*/accounts/login/\?next=(/|%2F)$"), timeout=10_000)
