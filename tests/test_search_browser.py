"""Search in Chromium (static/chat/search.js): Ctrl+K, typing, marked results, the keys,
and the conversation opened at the message; against a real daphne."""

from __future__ import annotations

import json

import pytest

from tests.live import close_context, create_user, log_in, start_site

pytestmark = pytest.mark.browser
SEED_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from chat.models import Conversation, Message
U = get_user_model()
alice, bob = U.objects.get(username="alice"), U.objects.get(username="bob")
def chat(user, title, *texts):
    c = Conversation.objects.create(user=user, title=title)
    ms = [Message.objects.create(conversation=c, role="user" if i % 2 == 0 else "assistant",
                                 content=t) for i, t in enumerate(texts)]
    return c, ms
zoo, zoo_ms = chat(alice, "Zoo trip", "Where do those big seals live?",
                   "The walrus lives in the Arctic. <b>not bold</b> <img src=x onerror=alert(1)>",
                   *["Filler paragraph about other animals. " * 200 for _ in range(30)])
sea, _ = chat(alice, "Walrus facts", "Tell me about tusks", "Tusks grow all their life.")
other, _ = chat(alice, "Zebra stripes", "Why are zebras striped?", "Nobody knows for sure.")
chat(bob, "Bob's walrus", "walrus walrus walrus")
print(json.dumps({"zoo": zoo.pk, "zoo_reply": zoo_ms[1].pk, "sea": sea.pk, "other": other.pk}))
"""


@pytest.fixture(scope="module")
def search_site(tmp_path_factory, live_upstream):
    live = start_site(
        tmp_path_factory.mktemp("search"),
        {"OPENAI_BASE_URL": live_upstream.url, "OPENAI_API_KEY": "sk-search"},
    )
    create_user(live, "alice", "alice-password-1")
    create_user(live, "bob", "bob-password-1")
    live.ids = json.loads(live.manage("shell", "-c", SEED_SCRIPT).strip().splitlines()[-1])
    yield live
    live.stop()


@pytest.fixture
def search_page(browser, search_site):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    log_in(page, search_site)
    yield page
    assert page.errors == []
    close_context(context)


def results_of(page) -> list[str]:
    return page.locator(".search-result").all_inner_texts()


def test_ctrl_k_finds_marks_and_opens_the_message(search_page, search_site):
    page, ids = search_page, search_site.ids
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Search conversations")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('search-input')")
    page.keyboard.type("walrus")
    page.wait_for_selector(".search-result mark")
    titles = page.locator(".search-result-title").all_inner_texts()
    assert titles == ["Walrus facts", "Zoo trip"]  # the title match first; never Bob's
    assert page.locator(".search-result-title mark").first.inner_text() == "Walrus"
    zoo = page.locator(".search-result").nth(1)
    assert zoo.locator(".search-result-snippet mark").all_inner_texts() == ["walrus"]
    assert zoo.locator(".search-result-title mark").count() == 0
    # The message's own markup is text in the snippet, not elements.
    assert "<b>not bold</b>" in zoo.locator(".search-result-snippet").inner_text()
    assert zoo.locator(".search-result-snippet b, .search-result-snippet img").count() == 0
    assert page.locator("[role=option][aria-selected=true]").inner_text().startswith("Walrus")

    page.keyboard.press("ArrowDown")
    assert page.locator("[role=option][aria-selected=true]").inner_text().startswith("Zoo trip")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{search_site.url}/c/{ids['zoo']}/#m{ids['zoo_reply']}")
    # The reply is older than what the page carries: it comes with the socket's history,
    # and is scrolled to and marked then.
    found = page.locator(f"article[data-id='{ids['zoo_reply']}'].is-found")
    found.wait_for()
    page.wait_for_timeout(300)
    box, view = found.bounding_box(), page.locator("#scroller").bounding_box()
    assert box["y"] < view["y"] + view["height"] and box["y"] + box["height"] > view["y"]
    assert page.locator(".msg.is-found").count() == 1


def test_escape_closes_and_focus_returns_and_the_button_opens_it(search_page):
    page = search_page
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Search conversations")
    dialog.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "composer-input"

    page.get_by_role("button", name="Search conversations").click()
    dialog.wait_for()
    page.keyboard.type("zebra")
    page.wait_for_selector(".search-result")
    assert page.locator(".search-result-title").all_inner_texts() == ["Zebra stripes"]
    # A new query replaces the results, and a query with no match says so.
    page.fill(".search-input", "nothingmatchesthis")
    page.locator(".search-status", has_text="No conversations match.").wait_for()
    assert page.locator(".search-result").count() == 0
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "search-btn"
