"""The usage pages in Chromium against a real daphne with the site's CSP: a user who chatted
sees the tokens of the reply, drawn as a bar, and the CSP refuses nothing on the page."""

import pytest

from tests.live import close_context, log_in, running_site, send
from tests.upstream_server import text_reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("usage"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-usage",
            "CHAT_MODELS": "test-model",
            "CHAT_PRICES": "test-model=1000/2000",
            "CHAT_QUOTA_DAILY_TOKENS": "1000",
        },
    ) as live:
        yield live


def test_a_users_usage_page_shows_the_reply_they_had(site, browser, live_upstream):
    context = browser.new_context()
    page = context.new_page()
    refused = []
    page.on("console", lambda m: "Refused" in m.text and refused.append(m.text))
    log_in(page, site)
    live_upstream.queue(text_reply(["Counted."]))  # the provider says it used 18 tokens
    send(page, "Count me")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")
    page.click("text=Usage")
    page.wait_for_selector("h1:has-text('Your usage')")
    assert "This month: 18 tokens" in page.inner_text(".usage-total")
    assert page.get_attribute(".usage-quota progress", "value") == "18"
    bars = page.locator("rect.usage-bar")
    heights = [float(bars.nth(i).get_attribute("height")) for i in range(bars.count())]
    assert sum(1 for h in heights if h > 0) == 1  # today's, the only day with use
    assert "0.0250" in page.inner_text(".usage-total")  # 11 in at 1000, 7 out at 2000 a million
    assert refused == []
    close_context(context)
