"""A person in a real Chromium, against a real daphne, with a real upstream over HTTP."""

from __future__ import annotations

import re
import time

import pytest

from tests.live import create_user, log_in, send, start_site
from tests.upstream_server import error_reply, text_reply

pytestmark = pytest.mark.browser

CODE_REPLY = (
    "## A long answer\n\n"
    + "".join(f"Paragraph {i} says something useful about streaming.\n\n" for i in range(8))
    + '```python\ndef greet(name: str) -> str:\n    return f"Hello {name}"\n```\n\n'
    + "".join(f"- point {i}\n" for i in range(6))
    + "\nThe end.\n"
)


def pieces(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.fixture(scope="module")
def site(tmp_path_factory, live_upstream):
    live = start_site(
        tmp_path_factory.mktemp("site"),
        {
            "OPENAI_BASE_URL": live_upstream.url,
            "OPENAI_API_KEY": "sk-browser",
            "CHAT_MODELS": "m1,m2",
            "CHAT_SYSTEM_PROMPT": "Site default prompt.",
        },
    )
    create_user(live, "alice", "alice-password-1")
    create_user(live, "staff", "staff-password-1", staff=True)
    yield live
    live.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def reply_text(page) -> str:
    return page.locator("article[data-role=assistant]").last.inner_text()


def test_a_reply_streams_renders_markdown_and_highlights_code(page, site, live_upstream):
    live_upstream.queue(text_reply(pieces(CODE_REPLY), pause=0.02))
    log_in(page, site)
    send(page, "Explain streaming")

    page.wait_for_selector("article[data-role=user]:has-text('Explain streaming')")
    page.wait_for_url(re.compile(r".*/c/\d+/$"))
    assistant = page.locator("article[data-role=assistant]").last
    seen_lengths = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = assistant.get_attribute("data-status")
        seen_lengths.add(len(assistant.inner_text()))
        if status != "streaming":
            break
        time.sleep(0.05)
    assert assistant.get_attribute("data-status") == "complete"
    assert len(seen_lengths) >= 5, f"the reply did not grow in steps: {sorted(seen_lengths)}"

    assert assistant.locator("h2", has_text="A long answer").count() == 1
    code = assistant.locator("div.highlight pre code")
    assert code.count() == 1
    assert code.locator("span.k", has_text="def").count() == 1  # Pygments token classes
    assert assistant.locator("button", has_text="Copy").count() >= 1
    assert assistant.locator("li", has_text="point 5").count() == 1
    # The sidebar lists the conversation under the first message's words.
    assert page.locator("#conv-list", has_text="Explain streaming").count() == 1
    assert page.errors == []


def test_reloading_mid_reply_shows_the_whole_reply_exactly_once(page, site, live_upstream):
    live_upstream.queue(text_reply(pieces(CODE_REPLY, 4), pause=0.03))
    log_in(page, site)
    send(page, "Write a lot")
    page.wait_for_url(re.compile(r".*/c/\d+/$"))
    page.wait_for_selector("article[data-role=assistant] >> text=Paragraph 2")
    page.reload()

    assistant = page.locator("article[data-role=assistant]").last
    page.wait_for_selector("article[data-role=assistant][data-status=complete]", timeout=30000)
    text = assistant.inner_text()
    for i in range(8):
        assert text.count(f"Paragraph {i} says") == 1, text
    assert text.count("The end.") == 1
    assert page.locator("article[data-role=assistant]").count() == 1
    assert page.locator("article[data-role=user]").count() == 1
    assert page.errors == []


def test_stop_keeps_the_partial_reply_and_says_so(page, site, live_upstream):
    live_upstream.queue(text_reply([f"word{i} " for i in range(400)], pause=0.03))
    log_in(page, site)
    send(page, "Go on forever")
    page.wait_for_selector("article[data-role=assistant] >> text=word3")
    page.click("#stop-btn")
    page.wait_for_selector("article[data-role=assistant][data-status=stopped]")
    assert "word3" in reply_text(page) and "word399" not in reply_text(page)
    assert page.locator("article[data-role=assistant] .msg-notice").inner_text().strip() != ""


def test_an_upstream_error_is_shown_in_plain_words_with_retry(page, site, live_upstream):
    live_upstream.queue(error_reply(429, "slow down"), text_reply(["Second ", "try ", "worked."]))
    log_in(page, site)
    send(page, "Hello?")
    page.wait_for_selector("article[data-role=assistant][data-status=error]")
    assert "rate-limiting" in reply_text(page)
    page.click("article[data-role=assistant] button.msg-retry")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")
    assert "Second try worked." in reply_text(page)


def test_staff_find_the_conversation_in_the_admin(page, site, live_upstream):
    live_upstream.queue(text_reply(["Admin ", "can ", "see ", "this."]))
    log_in(page, site)
    send(page, "Something to review")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")
    page.goto(site.url + "/accounts/login/")
    page.context.clear_cookies()
    page.goto(site.url + "/admin/login/")
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "staff-password-1")
    page.press("input[name=password]", "Enter")
    page.goto(site.url + "/admin/chat/conversation/?q=review")
    page.click("text=Something to review")
    transcript = page.locator(".chat-transcript")
    assert "Admin can see this." in transcript.inner_text()
    assert "Something to review" in transcript.inner_text()


def test_a_tool_call_shows_as_a_block_live_and_after_a_reload(page, site, live_upstream):
    from tests.test_tool_loop import tool_call_reply

    live_upstream.queue(
        tool_call_reply(
            ("call_7", "calculator", ['{"expression": ', '"6*7"}']),
            text="Let me work it out.",
            pause=0.05,
        ),
        text_reply(["The answer ", "is ", "42."], pause=0.05),
    )
    log_in(page, site)
    send(page, "What is 6*7?")
    block = page.locator("article[data-role=assistant] details.tool-call").first
    block.wait_for()
    page.wait_for_selector("article[data-role=assistant] details.tool-call.is-done")
    page.wait_for_selector("article[data-role=assistant]:has-text('The answer is 42.')")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")

    def shown() -> tuple[str, str]:
        block = page.locator("details.tool-call").first
        block.locator("summary").click()
        return block.locator(".tool-name").inner_text(), block.inner_text()

    name, live_text = shown()
    assert name == "calculator"
    assert '"expression": "6*7"' in live_text and '"result": 42' in live_text
    assert re.search(r"done in [\d,]+ ms", live_text)
    assert page.locator("article[data-role=tool]").count() == 0

    page.reload()
    page.wait_for_selector("details.tool-call.is-done")
    assert shown() == (name, live_text)
    assert page.locator("article[data-role=assistant]", has_text="Let me work it out.").count() == 1
    assert page.errors == []


def test_the_model_and_system_prompt_are_chosen_in_the_page(page, site, live_upstream):
    live_upstream.queue(text_reply(["Un."]), text_reply(["Deux."]), text_reply(["Trois."]))
    log_in(page, site)
    page.select_option("#model-select", "m2")
    page.click("#settings-btn")
    page.fill("#system-prompt", "Answer in French.")
    page.click("#settings-save")
    page.wait_for_selector("#settings-dialog", state="hidden")
    send(page, "One")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")
    first = live_upstream.requests[-1]["body"]
    assert first["model"] == "m2"
    assert first["messages"][0] == {"role": "system", "content": "Answer in French."}

    page.reload()  # the conversation keeps its model and prompt
    assert page.input_value("#model-select") == "m2"
    page.click("#settings-btn")
    assert page.input_value("#system-prompt") == "Answer in French."
    page.fill("#system-prompt", "")  # back to the site default
    page.click("#settings-save")
    page.wait_for_selector("#settings-status:has-text('Saved')")
    page.wait_for_selector("#settings-dialog", state="hidden")
    page.select_option("#model-select", "m1")
    send(page, "Two")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")
    second = live_upstream.requests[-1]["body"]
    assert second["model"] == "m1"
    assert second["messages"][0] == {"role": "system", "content": "Site default prompt."}
    assert page.locator("article", has_text="Answer in French.").count() == 0
    assert page.errors == []


def test_the_demo_model_streams_on_a_fresh_install(browser, tmp_path):
    demo = start_site(tmp_path, {})  # no key and no base URL: the demo upstream
    try:
        create_user(demo, "newcomer", "newcomer-password-1")
        context = browser.new_context()
        page = context.new_page()
        log_in(page, demo, "newcomer", "newcomer-password-1")
        assert "Demo mode" in page.inner_text("body")
        send(page, "hello demo")
        page.wait_for_selector("article[data-role=assistant] >> text=This is the demo model")
        page.wait_for_selector("article[data-role=assistant][data-status=complete]", timeout=30000)
        assert page.locator("article[data-role=assistant] div.highlight").count() == 1

        send(page, "calculate 12*(3+4)")  # the demo calls a real tool, too
        page.wait_for_selector("details.tool-call.is-done")
        page.wait_for_selector("article[data-role=assistant] >> text=The calculator tool answered")
        page.locator("details.tool-call summary").click()
        assert '"result": 84' in page.locator("details.tool-call").inner_text()
        page.screenshot(path=str(tmp_path / "demo-tool.png"))
        context.close()
    finally:
        demo.stop()
