"""Keyboard shortcuts in Chromium: Esc stops a reply, Ctrl+Shift+O opens a new chat,
Shift+Esc goes to the message box, `?` (outside a text field) or Ctrl+/ lists them all,
including those other features add through static/chat/shortcuts.js."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.live import log_in, running_site, send
from tests.upstream_server import text_reply

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("site"),
        {"OPENAI_BASE_URL": live_upstream.url, "OPENAI_API_KEY": "sk-keys"},
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def unscripted(live_upstream):
    live_upstream.replies.clear()


def active_id(page) -> str:
    return page.evaluate("document.activeElement.id")


def start_long_reply(page, live_upstream) -> None:
    live_upstream.queue(text_reply([f"word {i} " for i in range(600)], pause=0.02))
    send(page, "Write for a long time")
    page.wait_for_selector("article[data-role=assistant] >> text=word 3")


def test_esc_stops_the_reply_being_written(page, site, live_upstream):
    log_in(page, site)
    start_long_reply(page, live_upstream)
    assert active_id(page) == "composer-input"  # Esc works while typing, too
    page.keyboard.press("Escape")
    page.wait_for_selector(".msg-notice-text:has-text('Stopped.')")
    expect(page.locator("#send-btn")).to_be_visible()
    stopped = page.locator("article[data-role=assistant]").last.inner_text()
    page.wait_for_timeout(300)
    assert page.locator("article[data-role=assistant]").last.inner_text() == stopped
    # With nothing being written, Esc does nothing at all.
    page.fill("#composer-input", "kept")
    page.keyboard.press("Escape")
    assert page.input_value("#composer-input") == "kept"
    assert page.errors == []


def test_ctrl_shift_o_opens_a_new_chat(page, site, live_upstream):
    log_in(page, site)
    live_upstream.queue(text_reply(["Hello."]))
    send(page, "A first chat")
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(site.url + "/")
    expect(page.locator("#conv-title")).to_have_text("New chat")
    assert page.errors == []


def test_shift_esc_goes_to_the_message_box(page, site):
    log_in(page, site)
    page.locator(".new-chat").focus()
    page.keyboard.press("Shift+Escape")
    assert active_id(page) == "composer-input"
    page.locator("#settings-btn").focus()
    page.keyboard.press("Shift+Escape")
    assert active_id(page) == "composer-input"


def shown_shortcuts(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "#shortcuts-list .shortcut",
        "rows => rows.map(row => [[...row.querySelectorAll('kbd')].map(k => k.textContent)"
        ".join('+'), row.querySelector('dd').textContent])",
    )


def test_question_mark_lists_every_shortcut_and_esc_closes_the_list(page, site):
    log_in(page, site)
    page.locator(".new-chat").focus()
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts-dialog")
    expect(dialog).to_be_visible()
    keys = dict(shown_shortcuts(page))
    assert keys["Esc"] == "Stop the reply being written"
    assert keys["Ctrl+Shift+O"] == "Open a new chat"
    assert keys["Shift+Esc"] == "Go to the message box"
    assert keys["Ctrl+K"] == "Search conversations"  # another feature's, listed here
    assert keys["↑"].startswith("Edit your last message")
    assert keys["?"] and keys["Ctrl+/"]
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('new-chat')")


def test_question_mark_is_typed_in_the_message_box_but_ctrl_slash_opens_the_list(page, site):
    log_in(page, site)
    page.locator("#composer-input").focus()
    page.keyboard.type("Why?")
    assert page.input_value("#composer-input") == "Why?"
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    page.locator("#shortcuts-close").click()
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    assert active_id(page) == "composer-input"
    assert page.input_value("#composer-input") == "Why?"
    # The "Shortcuts" button below the box opens it too, for a mouse.
    page.locator("#shortcuts-btn").click()
    expect(page.locator("#shortcuts-dialog")).to_be_visible()


def test_another_feature_registers_its_shortcut_the_same_way(page, site):
    log_in(page, site)
    page.evaluate(
        """async () => {
          const { registerShortcut, combo } = await import('/static/chat/shortcuts.js');
          registerShortcut('search', {
            keys: ['Ctrl', 'K'], label: 'Search conversations', inFields: true,
            matches: combo('Ctrl+K'), run: () => { document.title = 'searched'; },
          });
        }"""
    )
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+K")
    expect(page).to_have_title("searched")
    page.keyboard.press("Control+/")
    # Replaced in its place, not listed twice.
    assert [k for k, _ in shown_shortcuts(page)].count("Ctrl+K") == 1
