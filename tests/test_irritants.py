"""Small things that irritated: the "Wait for the reply to finish" hint clears once the
reply has; the demo banner takes one line on a phone and, dismissed, stays away; a refusal
with a wait says it in words and counts it down (the login lockout, the socket's limits, a
provider's 429); titles are cut whoever wrote them (tests/test_titles.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from playwright.sync_api import expect

from chat.providers.http import UpstreamError
from tests.live import close_context, log_in, running_site, send
from tests.test_upstream import streamed
from tests.upstream_server import error_reply, text_reply

PHONE = {"width": 375, "height": 667}


# ---------------------------------------------------------------- a provider's 429


@pytest.mark.parametrize(
    ("retry_after", "words"),
    [
        ("20", "It asks to wait 20 seconds: retry after that."),
        ("1", "It asks to wait 1 second: retry after that."),
        ("300", "It asks to wait 5 minutes: retry after that."),
        (None, "It did not say for how long: retry in a minute."),
        ("soon", "It did not say for how long: retry in a minute."),
    ],
)
async def test_a_providers_429_says_how_long_to_wait(upstream, retry_after, words):
    headers = {"Retry-After": retry_after} if retry_after else {}
    upstream.queue(error_reply(429, "slow down", headers))
    with pytest.raises(UpstreamError) as failure:
        await streamed(upstream.url)
    assert words in str(failure.value)
    assert "moment" not in str(failure.value)


async def test_a_providers_429_with_a_date_says_the_seconds_until_then(upstream):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    upstream.queue(error_reply(429, "slow down", {"Retry-After": when}))
    with pytest.raises(UpstreamError) as failure:
        await streamed(upstream.url)
    assert "It asks to wait 2 minutes" in str(failure.value)


# ---------------------------------------------------------------- in Chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("site"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-irritants",
            "CHAT_USER_MESSAGES_PER_MINUTE": "2",
            "CHAT_LOGIN_FAILURES": "2",
            "CHAT_LOGIN_COOLOFF": "40",
        },
        users=("alice", "carol"),
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def unscripted(live_upstream):
    live_upstream.replies.clear()


def seconds_in(text: str) -> int:
    """The wait a countdown shows: "Try again in 20 s.", "1 min 05 s.", "1 min."."""
    match = re.search(r"Try again in (?:(\d+) min)? ?(?:(\d+) s)?\.", text)
    assert match and any(match.groups()), text
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


@pytest.mark.browser
def test_the_wait_hint_clears_once_the_reply_has_finished(page, site, live_upstream):
    live_upstream.queue(text_reply([f"word {i} " for i in range(40)], pause=0.03))
    log_in(page, site)
    send(page, "A reply that takes a second")
    page.wait_for_selector("article[data-role=assistant] >> text=word 1")
    send(page, "Another, too soon")
    hint = page.locator("#composer-hint")
    expect(hint).to_have_text("Wait for the reply to finish, or stop it.")
    page.wait_for_selector("article[data-role=assistant] >> text=word 39")
    expect(hint).to_have_text("")
    # The text waits in the box, to be sent now.
    assert page.input_value("#composer-input") == "Another, too soon"
    assert page.errors == []


@pytest.mark.browser
def test_a_socket_limit_counts_its_wait_down_in_words(page, site, live_upstream):
    live_upstream.queue(text_reply(["One."]), text_reply(["Two."]))
    log_in(page, site, "carol", "carol-password-1")
    for text, reply in (("First", "One."), ("Second", "Two.")):
        send(page, text)
        page.wait_for_selector(f"article[data-role=assistant] >> text={reply}")
        expect(page.locator("#send-btn")).to_be_visible()
    send(page, "Third, over the limit")
    notice = page.locator("#notices .notice", has_text="messages in the last minute")
    notice.wait_for()
    first = seconds_in(notice.inner_text())
    assert 1 <= first <= 60
    assert "try again in" not in notice.inner_text().split("Try again in")[0].lower()
    page.wait_for_timeout(2100)
    assert seconds_in(notice.inner_text()) <= first - 2  # counting down
    assert "moment" not in notice.inner_text()
    assert page.errors == []


@pytest.mark.browser
def test_the_login_lockout_counts_down(page, site):
    page.goto(site.url + "/accounts/login/")
    for _ in range(4):
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "wrong-password")
        page.press("input[name=password]", "Enter")
        page.wait_for_load_state()
        if "Too many failed attempts" in page.content():
            break
    alert = page.locator(".form-errors[role=alert] p")
    expect(alert).to_contain_text("Too many failed attempts to log in.")
    first = seconds_in(alert.inner_text())
    assert 30 <= first <= 40
    page.wait_for_timeout(2100)
    assert seconds_in(alert.inner_text()) <= first - 2
    assert "minute" not in alert.inner_text()  # the server's "1 minute", replaced
    assert page.errors == []


# ---------------------------------------------------------------- the demo banner


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    # No provider: demo mode.
    with running_site(tmp_path_factory.mktemp("demo"), {}, users=("newcomer",)) as live:
        yield live


@pytest.mark.browser
def test_the_demo_banner_is_one_line_on_a_phone_and_stays_dismissed(browser, demo):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        log_in(page, demo, "newcomer", "newcomer-password-1")
        banner = page.locator("#demo-banner")
        expect(banner).to_be_visible()
        height = banner.bounding_box()["height"]
        # It was 118 px, 18% of this screen (measured before the change); now 43 px.
        assert height <= 48, height
        assert "Demo mode" in banner.inner_text()
        banner.locator("#demo-dismiss").click()
        expect(banner).to_be_hidden()
        page.reload()
        expect(page.locator("#demo-banner")).to_be_hidden()
        assert page.evaluate("localStorage.getItem('chat.demoBannerDismissed')") == "1"
    finally:
        close_context(context)
    # A wide screen still says how to leave demo mode.
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    try:
        log_in(page, demo, "newcomer", "newcomer-password-1")
        expect(page.locator("#demo-banner")).to_contain_text("OPENAI_API_KEY")
    finally:
        close_context(context)
