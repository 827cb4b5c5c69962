"""Versions and the action row, as a person uses them in Chromium against a real daphne and
a real upstream: edit, regenerate, Retry, moving between versions, reload, a second tab,
copy, keyboard and phone. Each checks the page and the exact history the provider receives."""

from __future__ import annotations

import pytest

from tests.live import browser_page, close_context, log_in, running_site, send
from tests.upstream_server import error_reply, text_reply

pytestmark = pytest.mark.browser

SYSTEM = {"role": "system", "content": "Site default prompt."}
REPLY = "article[data-role=assistant]"
USER = "article[data-role=user]"


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    with running_site(
        tmp_path_factory.mktemp("site"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-browser",
            "CHAT_MODELS": "m1,m2",
            "CHAT_SYSTEM_PROMPT": SYSTEM["content"],
            "CHAT_MODEL_TITLES": "false",
        },
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def unscripted(live_upstream):
    live_upstream.replies.clear()
    live_upstream.requests.clear()


@pytest.fixture
def page(browser):
    with browser_page(browser) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        yield page


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def shown(page) -> list[str]:
    """The thread's messages as the reader sees them (text only, action rows left out)."""
    return [text.strip() for text in page.locator("article.msg > .msg-body").all_inner_texts()]


def versions(page, selector: str) -> str:
    """What the "i / n" between the version arrows of the last message matching `selector`
    says ("" when hidden)."""
    nav = page.locator(f"{selector} >> nth=-1").locator(".msg-versions")
    return nav.locator(".msg-version").inner_text() if nav.is_visible() else ""


def wait_done(page, count: int) -> None:
    """Until `count` replies are shown, none of them streaming."""
    page.wait_for_function(
        """(count) => document.querySelectorAll('article[data-role=assistant]').length === count
        && !document.querySelector('article[data-status=streaming]')""",
        arg=count,
    )


def last_request(upstream, count: int) -> list[dict]:
    return upstream.wait_for_requests(count)[count - 1]["body"]["messages"]


def test_edit_regenerate_switch_and_reload_keep_the_tree_and_send_the_branch_shown(
    page, site, live_upstream
):
    live_upstream.queue(*(text_reply([f"A{i}"]) for i in range(1, 6)))
    log_in(page, site)
    for i in range(1, 6):
        send(page, f"Q{i}")
        wait_done(page, i)

    # Edit the second of the five messages, in place.
    page.locator(USER).nth(1).locator(".msg-edit").click()
    editor = page.locator(".msg-editor-input")
    assert editor.input_value() == "Q2"
    live_upstream.queue(text_reply(["B1"]))
    editor.fill("Q2 edited")
    editor.press("Enter")
    page.wait_for_selector(f"{REPLY} >> text=B1")
    wait_done(page, 2)
    assert shown(page) == ["Q1", "A1", "Q2 edited", "B1"]
    assert versions(page, USER) == "2 / 2"
    assert last_request(live_upstream, 6) == [
        SYSTEM,
        user("Q1"),
        assistant("A1"),
        user("Q2 edited"),
    ]

    # Regenerate the new reply twice.
    for n, text in [(7, "B2"), (8, "B3")]:
        live_upstream.queue(text_reply([text]))
        page.locator(REPLY).last.locator(".msg-regenerate").click()
        page.wait_for_selector(f"{REPLY} >> text={text}")
        wait_done(page, 2)
        assert last_request(live_upstream, n) == [
            SYSTEM,
            user("Q1"),
            assistant("A1"),
            user("Q2 edited"),
        ]
    assert shown(page) == ["Q1", "A1", "Q2 edited", "B3"]
    assert versions(page, REPLY) == "3 / 3"

    # Switch: the first version of the second message brings back its whole branch…
    page.locator(USER).nth(1).locator(".msg-prev").click()
    page.wait_for_selector(f"{REPLY} >> text=A5")
    assert shown(page) == ["Q1", "A1", "Q2", "A2", "Q3", "A3", "Q4", "A4", "Q5", "A5"]
    assert page.locator(USER).nth(1).locator(".msg-version").inner_text() == "1 / 2"
    # …and back to the edited one, down to its newest reply; then its second reply.
    page.locator(USER).nth(1).locator(".msg-next").click()
    page.wait_for_selector(f"{REPLY} >> text=B3")
    page.locator(REPLY).last.locator(".msg-prev").click()
    page.wait_for_selector(f"{REPLY} >> text=B2")
    assert shown(page) == ["Q1", "A1", "Q2 edited", "B2"]
    assert versions(page, REPLY) == "2 / 3"

    page.reload()
    page.wait_for_selector(f"{REPLY} >> text=B2")
    assert shown(page) == ["Q1", "A1", "Q2 edited", "B2"]
    assert (versions(page, USER), versions(page, REPLY)) == ("2 / 2", "2 / 3")

    live_upstream.queue(text_reply(["C1"]))
    send(page, "Next")
    page.wait_for_selector(f"{REPLY} >> text=C1")
    assert last_request(live_upstream, 9) == [
        SYSTEM,
        user("Q1"),
        assistant("A1"),
        user("Q2 edited"),
        assistant("B2"),
        user("Next"),
    ]
    assert page.errors == []


def test_retry_after_a_failure_replaces_the_failed_reply(page, site, live_upstream):
    live_upstream.queue(error_reply(500, "boom"), text_reply(["Second ", "try."]))
    log_in(page, site)
    send(page, "Hello?")
    page.wait_for_selector(f"{REPLY}[data-status=error]")
    page.locator(f"{REPLY} .msg-retry").click()
    page.wait_for_selector(f"{REPLY}[data-status=complete] >> text=Second try.")
    assert page.locator(REPLY).count() == 1  # in place of the failed one, not under it
    assert page.locator(".msg-notice").count() == 0
    assert versions(page, REPLY) == "2 / 2"
    assert last_request(live_upstream, 2) == [SYSTEM, user("Hello?")]
    # The failed version is one click away, Retry and all.
    page.locator(REPLY).locator(".msg-prev").click()
    page.wait_for_selector(f"{REPLY}[data-status=error]")
    assert page.locator(REPLY).count() == 1
    assert page.locator(f"{REPLY} .msg-retry").is_visible()
    assert page.errors == []


def test_a_second_tab_sees_new_versions_live(page, site, live_upstream):
    live_upstream.queue(text_reply(["First answer"]), text_reply(["Second answer"]))
    log_in(page, site)
    send(page, "Question")
    wait_done(page, 1)
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector(f"{REPLY} >> text=First answer")

    page.locator(REPLY).last.locator(".msg-regenerate").click()
    other.wait_for_selector(f"{REPLY}[data-status=complete] >> text=Second answer")
    assert versions(other, REPLY) == "2 / 2"
    assert other.locator(REPLY).count() == 1

    page.locator(REPLY).last.locator(".msg-prev").click()
    other.wait_for_selector(f"{REPLY} >> text=First answer")
    assert versions(other, REPLY) == "1 / 2"
    assert page.errors == []


MARKDOWN = "**Bold** and `code`:\n\n```python\nprint('hi')\n```\n"


def test_the_action_row_copies_markdown_shows_model_and_time_and_is_reachable(
    page, site, live_upstream
):
    live_upstream.queue(text_reply([MARKDOWN]))
    log_in(page, site)
    send(page, "Show me")
    wait_done(page, 1)
    reply = page.locator(REPLY).last

    reply.locator(".msg-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == MARKDOWN
    assert reply.locator(".msg-copy").inner_text() == "Copied"
    reply.locator(".code-copy").click()  # a code block's own Copy: the code alone
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"
    page.locator(USER).last.locator(".msg-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "Show me"

    # The model that wrote it (as the provider named it), and when.
    assert reply.locator(".msg-model").inner_text() == "test-model-2024"
    time = reply.locator("time.msg-time")
    assert time.inner_text().strip() != ""
    assert time.get_attribute("datetime").startswith("20")

    # Keyboard: from the message box, Shift+Tab reaches the reply's Regenerate.
    page.focus("#composer-input")
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.matches('.msg-regenerate')"):
            break
    assert page.evaluate("document.activeElement.closest('article').dataset.role") == "assistant"
    live_upstream.queue(text_reply(["Again"]))
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{REPLY} >> text=Again")
    wait_done(page, 1)

    # The versions by keyboard too: the focus stays on the arrows of the version shown.
    page.locator(REPLY).last.locator(".msg-prev").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{REPLY} >> text=Bold")  # the first version again
    page.wait_for_function("() => announcer.textContent === 'Showing version 1 of 2.'")
    assert page.evaluate("document.activeElement.matches('.msg-next')")  # the first has no previous
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{REPLY} >> text=Again")
    assert versions(page, REPLY) == "2 / 2"

    # ↑ in the empty message box edits the last message sent.
    page.focus("#composer-input")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.matches('.msg-editor-input')")
    live_upstream.queue(text_reply(["Edited answer"]))
    page.keyboard.press("Control+A")
    page.keyboard.type("Show me again")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{REPLY} >> text=Edited answer")
    assert shown(page) == ["Show me again", "Edited answer"]
    assert last_request(live_upstream, 3) == [SYSTEM, user("Show me again")]
    assert page.errors == []


def test_the_action_row_is_there_on_a_phone(browser, site, live_upstream):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    live_upstream.queue(text_reply(["Small screen"]), text_reply(["Tapped"]))
    log_in(page, site)
    send(page, "Hi")
    wait_done(page, 1)
    regenerate = page.locator(REPLY).last.locator(".msg-regenerate")
    box = regenerate.bounding_box()
    assert regenerate.is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert box["height"] >= 28  # a target a finger can hit
    regenerate.tap()
    page.wait_for_selector(f"{REPLY} >> text=Tapped")
    assert versions(page, REPLY) == "2 / 2"
    close_context(context)


def test_an_edit_sent_while_a_reply_is_written_keeps_its_text_and_waits(page, site, live_upstream):
    live_upstream.queue(
        text_reply(["Hi."]),
        text_reply([f"w{i} " for i in range(60)], pause=0.05),
        text_reply(["Edited."]),
    )
    log_in(page, site)
    send(page, "First")
    wait_done(page, 1)
    send(page, "Second")
    page.wait_for_selector(f"{REPLY}[data-status=streaming]")
    page.locator(USER).first.locator(".msg-edit").click()
    editor = page.locator(".msg-editor-input")
    editor.fill("First, edited")
    editor.press("Enter")
    assert "Wait for the reply to finish" in page.locator("#composer-hint").inner_text()
    assert editor.input_value() == "First, edited"  # nothing lost
    assert page.locator(".msg-editor-save").is_enabled()
    wait_done(page, 2)
    page.locator(".msg-editor-save").click()
    page.wait_for_selector(f"{REPLY} >> text=Edited.")
    assert shown(page) == ["First, edited", "Edited."]
    assert page.locator(".msg-editor").count() == 0
    assert last_request(live_upstream, 3) == [SYSTEM, user("First, edited")]
    assert page.errors == []
