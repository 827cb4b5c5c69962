"""A person in a real Chromium, against a real daphne, with a real upstream over HTTP."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests import ws as ws_frames
from tests.live import close_context, create_user, log_in, send, start_site
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import error_reply, text_reply

pytestmark = pytest.mark.browser

CODE_REPLY = (
    "## A long answer\n\n"
    + "".join(f"Paragraph {i} says something useful about streaming.\n\n" for i in range(8))
    + '```python\ndef greet(name: str) -> str:\n    return f"Hello {name}"\n```\n\n'
    + "".join(f"- point {i}\n" for i in range(6))
    + "\nThe end.\n"
)


# Ten columns of long words: wider than any column it is shown in.
WIDE_TABLE = (
    "| "
    + " | ".join(f"Column number {i}" for i in range(10))
    + " |\n"
    + "|---" * 10
    + "|\n"
    + "| "
    + " | ".join(f"a-rather-long-value-{i}" for i in range(10))
    + " |\n"
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


@pytest.fixture(autouse=True)
def unscripted(live_upstream):
    """Each test scripts the upstream afresh: what an earlier one left unused is dropped."""
    live_upstream.replies.clear()


def reply_text(page) -> str:
    return page.locator("article[data-role=assistant]").last.inner_text()


def assert_whole_once(text: str) -> None:
    """CODE_REPLY's text is all there, and nothing in it twice."""
    for i in range(8):
        assert text.count(f"Paragraph {i} says") == 1, text
    assert text.count("point 5") == 1, text
    assert text.count("The end.") == 1, text


class Frames:
    """Every frame the page's websockets send and receive, decoded, socket by socket."""

    def __init__(self, page) -> None:
        self.page = page
        self.sockets: list[dict] = []
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        record = {"sent": [], "received": [], "reader": ws_frames.Frames()}
        self.sockets.append(record)
        ws.on("framesent", lambda payload: record["sent"].append(json.loads(payload)))
        ws.on(
            "framereceived",
            lambda payload: record["received"].append(record["reader"].read(payload)),
        )

    @property
    def binary(self) -> int:
        """How many text-only frames came as their text alone."""
        return sum(record["reader"].binary for record in self.sockets)

    def sent(self, kind: str) -> list[dict]:
        return [f for record in self.sockets for f in record["sent"] if f["type"] == kind]

    def wait(self, condition, timeout: float = 10) -> None:
        """Until `condition()` holds; the page's events are handled meanwhile."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for websocket frames"
            self.page.wait_for_timeout(20)


def drop_connection(page) -> None:
    """The network goes away and comes back: the page loses its socket and reconnects."""
    page.context.set_offline(True)
    page.wait_for_selector("#conn-status[data-state=down]", state="attached")
    page.context.set_offline(False)


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
    code = assistant.locator("pre code")
    assert code.count() == 1
    assert code.locator(".hljs-keyword", has_text="def").count() == 1  # highlight.js tokens
    assert assistant.locator(".md button", has_text="Copy").count() == 1  # the renderer's own
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
    assert_whole_once(assistant.inner_text())
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


def test_staff_see_the_rendered_transcript_in_the_admin(page, site, live_upstream):
    live_upstream.queue(
        tool_call_reply(("call_1", "calculator", ['{"expression": "2+2"}']), text="Checking."),
        text_reply(["**Admin** ", "can ", "see ", "this.\n\n", WIDE_TABLE]),
    )
    log_in(page, site)
    page.click("#settings-btn")
    page.fill("#system-prompt", "Be brief.")
    page.click("#settings-save")
    page.wait_for_selector("#settings-dialog", state="hidden")
    send(page, "Something to review")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")
    page.context.clear_cookies()
    page.goto(site.url + "/admin/login/")
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", "staff-password-1")
    page.press("input[name=password]", "Enter")
    page.goto(site.url + "/admin/chat/conversation/?q=review")
    page.click("text=Something to review")

    transcript = page.locator(".chat-transcript")
    system = transcript.locator(".turn-system")
    system.wait_for()
    assert "System prompt" in system.inner_text() and "Be brief." in system.inner_text()
    turns = transcript.locator(".turn-user, .turn-assistant")
    assert turns.count() == 3
    assert turns.nth(0).locator(".turn-text").inner_text() == "Something to review"
    # Each reply: role, status, model and what it cost, above the rendered markdown.
    head = turns.nth(2).locator(".turn-head").inner_text()
    assert "assistant" in head and "complete" in head and "test-model-2024" in head
    assert "18 tokens" in head
    assert turns.nth(2).locator(".md strong", has_text="Admin").count() == 1
    block = turns.nth(1).locator("details.tool-call.is-done[open]")
    assert block.locator(".tool-name").inner_text() == "calculator"
    assert '"expression": "2+2"' in block.inner_text() and '"result": 4' in block.inner_text()
    # A wide table scrolls inside the transcript; the admin's page does not grow sideways.
    assert page.evaluate(
        """() => {
            const shown = document.querySelector(".field-transcript").getBoundingClientRect();
            const transcript = document.querySelector(".chat-transcript").getBoundingClientRect();
            return transcript.right <= shown.right && shown.right <= window.innerWidth;
        }"""
    ), "the transcript is wider than its place in the page"
    assert turns.nth(2).locator(".table-wrap table").count() == 1
    assert page.errors == []


def test_a_tool_call_shows_as_a_block_live_and_after_a_reload(page, site, live_upstream):
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
    live_upstream.queue(text_reply(["Un."]), text_reply(["Deux."]))
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
        code = page.locator("article[data-role=assistant] pre code")
        assert code.count() == 1
        assert code.locator(".hljs-keyword", has_text="def").count() >= 1

        send(page, "calculate 12*(3+4)")  # the demo calls a real tool, too
        page.wait_for_selector("details.tool-call.is-done")
        page.wait_for_selector("article[data-role=assistant] >> text=The calculator tool answered")
        page.locator("details.tool-call summary").click()
        assert '"result": 84' in page.locator("details.tool-call").inner_text()
        page.screenshot(path=str(tmp_path / "demo-tool.png"))
        close_context(context)
    finally:
        demo.stop()


def test_a_dropped_connection_resumes_the_reply_from_where_the_page_was(page, site, live_upstream):
    live_upstream.queue(text_reply(pieces(CODE_REPLY, 4), pause=0.03))
    frames = Frames(page)
    log_in(page, site)
    send(page, "Keep writing")
    page.wait_for_url(re.compile(r".*/c/\d+/$"))
    page.wait_for_selector("article[data-role=assistant] >> text=Paragraph 2")
    drop_connection(page)

    assistant = page.locator("article[data-role=assistant]")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]", timeout=30000)
    assert_whole_once(assistant.inner_text())
    assert page.locator("article[data-role=assistant]").count() == 1
    # The returning socket named the reply and how much of it the page held ...
    (reopen,) = frames.sent("open")
    reply_id = int(assistant.get_attribute("data-id"))
    assert reopen["resume"]["message"] == reply_id and reopen["resume"]["offset"] > 0
    # ... and was sent only the rest: the first frame after its history starts there.
    snapshot = next(f for f in frames.sockets[-1]["received"] if f["type"] == "frame")
    assert snapshot["offset"] == reopen["resume"]["offset"]
    assert frames.binary > 0  # the page put together text sent alone, on both sockets
    assert all(record["reader"].binary for record in frames.sockets)
    assert page.errors == []


def test_repeated_overlapping_and_missed_frames_are_mended(page, site, live_upstream):
    live_upstream.queue(text_reply(pieces(CODE_REPLY, 4), pause=0.03))
    seen: dict = {"last": None, "repeated": False, "overlapped": False, "dropped": None}
    opens: list[dict] = []

    def relay(ws) -> None:
        server = ws.connect_to_server()
        expand = ws_frames.Frames()

        def to_page(message: str | bytes) -> None:
            # Text sent alone is passed on as the JSON frame it stands for: this line
            # repeats, cuts and drops frames, which only whole frames can survive.
            frame = expand.read(message)
            if isinstance(message, bytes):
                message = json.dumps(frame)
            if frame.get("type") != "frame" or "text" not in frame or "status" in frame:
                ws.send(message)
                return
            last, seen["last"] = seen["last"], frame
            if frame["seq"] >= 3 and not seen["repeated"]:
                seen["repeated"] = True  # arrives twice
                ws.send(message)
            elif frame["seq"] >= 5 and not seen["overlapped"] and last and last["text"]:
                seen["overlapped"] = True  # starts inside text the page holds already
                tail = last["text"][-3:]
                overlapping = {"offset": frame["offset"] - len(tail), "text": tail + frame["text"]}
                message = json.dumps(frame | overlapping)
            elif frame["seq"] >= 7 and seen["dropped"] is None:
                seen["dropped"] = frame  # lost on the way: the next one leaves a gap
                return
            ws.send(message)

        def to_server(message: str) -> None:
            frame = json.loads(message)
            if frame.get("type") == "open":
                opens.append(frame)
            server.send(message)

        server.on_message(to_page)
        ws.on_message(to_server)

    page.route_web_socket(re.compile(r".*/ws/chat/(\?.*)?$"), relay)
    log_in(page, site)
    send(page, "Across a bad line")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]", timeout=30000)
    assert seen["repeated"] and seen["overlapped"] and seen["dropped"] is not None
    assert_whole_once(reply_text(page))
    assert "Paragraph 7 says something useful about streaming." in reply_text(page)
    # The gap was noticed at once, and the page asked for exactly what it lacked.
    assert [o["resume"]["offset"] for o in opens] == [seen["dropped"]["offset"]]
    assert page.errors == []


def test_a_reconnect_leaves_finished_messages_as_they_were(browser, page, site, live_upstream):
    live_upstream.queue(
        tool_call_reply(
            ("call_3", "calculator", ['{"expression": "6*7"}']), text="Let me work it out."
        ),
        text_reply(["The answer is **42**."]),
        text_reply(["Still ", "42."]),
    )
    log_in(page, site)
    send(page, "What is 6*7?")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")
    page.locator("details.tool-call summary").click()
    selected = page.evaluate(
        """() => {
            for (const node of document.querySelectorAll("article.msg")) node.kept = true;
            const strong = document.querySelector("article[data-role=assistant] .md strong");
            getSelection().selectAllChildren(strong);
            return getSelection().toString();
        }"""
    )
    assert selected == "42"

    # While this page is offline, the same user carries on from another browser.
    page.context.set_offline(True)
    page.wait_for_selector("#conn-status[data-state=down]", state="attached")
    other = browser.new_context()
    try:
        elsewhere = other.new_page()
        log_in(elsewhere, site)
        elsewhere.goto(page.url)
        send(elsewhere, "Are you sure?")
        elsewhere.wait_for_selector("article[data-role=assistant] >> text=Still 42.")
    finally:
        close_context(other)
    page.context.set_offline(False)

    # The history brings what was missed; what the page had stays the very same nodes.
    page.wait_for_selector("article[data-role=assistant] >> text=Still 42.")
    kept = page.evaluate(
        "() => [...document.querySelectorAll('article.msg')].map((node) => node.kept === true)"
    )
    assert kept == [True, True, True, False, False]
    assert page.locator("details.tool-call").evaluate("(details) => details.open")
    assert page.evaluate("() => getSelection().toString()") == "42"
    assert page.errors == []


def test_two_tabs_see_the_same_reply(page, site, live_upstream):
    live_upstream.queue(text_reply(["First."]), text_reply(pieces(CODE_REPLY, 4), pause=0.03))
    log_in(page, site)
    send(page, "One")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector("article[data-role=assistant] >> text=First.")

    send(page, "Two")
    other.wait_for_selector("article[data-role=user] >> text=Two")
    other.wait_for_selector("article[data-role=assistant][data-status=streaming]")
    assert other.locator("#stop-btn").is_visible()  # the other tab can stop it too
    for tab in (page, other):
        tab.wait_for_selector(
            "article[data-role=assistant][data-status=complete] >> nth=1", timeout=30000
        )
    assert_whole_once(reply_text(other))
    assert reply_text(other) == reply_text(page)
    assert other.locator("article.msg").count() == 4


HOSTILE = (
    "Look: <img src=x onerror=\"window.pwned='img'\"> and "
    "<script>window.pwned='script'</script>\n\n"
    "[click](javascript:window.pwned='link') <b>bold?</b>"
)


def test_markup_in_a_reply_shows_as_text_and_nothing_runs(page, site, live_upstream):
    live_upstream.queue(
        tool_call_reply(
            ("call_9", "calculator", ['{"expression": "<img src=x onerror=window.pwned=1>"}'])
        ),
        text_reply(pieces(HOSTILE, 5), pause=0.01),
    )
    log_in(page, site)
    send(page, "<script>window.pwned='user'</script> hi")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")

    thread = page.locator("#messages")
    assert page.locator("article[data-role=user]").inner_text().startswith("<script>")
    reply = page.locator("article[data-role=assistant]").last
    assert "<img src=x onerror=" in reply.inner_text()
    assert "<script>window.pwned='script'</script>" in reply.inner_text()
    assert "<b>bold?</b>" in reply.inner_text()
    assert "<img src=x onerror=window.pwned=1>" in page.locator(".tool-args").text_content()
    assert thread.locator("img, script, b, [onerror]").count() == 0
    assert thread.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("() => window.pwned") is None
    assert page.errors == []


def test_a_message_sent_as_the_connection_drops_is_neither_lost_nor_sent_twice(
    page, site, live_upstream
):
    live_upstream.queue(text_reply(["First."]), text_reply(["Got it."]), text_reply(["Now."]))
    trap: dict = {"content": None, "deliver": False}

    def relay(ws) -> None:
        server = ws.connect_to_server()

        def to_server(message: str) -> None:
            frame = json.loads(message)
            if frame.get("type") == "send" and frame.get("content") == trap["content"]:
                trap["content"] = None
                if trap["deliver"]:
                    server.send(message)
                ws.close()  # the connection drops before any answer comes back
                return
            server.send(message)

        server.on_message(ws.send)
        ws.on_message(to_server)

    page.route_web_socket(re.compile(r".*/ws/chat/(\?.*)?$"), relay)
    log_in(page, site)
    send(page, "One")
    page.wait_for_selector("article[data-role=assistant][data-status=complete]")

    # Saved after all: put back in the box on the drop, taken out once history shows it.
    trap.update(content="Arrived", deliver=True)
    send(page, "Arrived")
    page.wait_for_function("() => document.querySelector('#composer-input').value === 'Arrived'")
    page.wait_for_function("() => document.querySelector('#composer-input').value === ''")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=1")
    assert page.locator("article[data-role=user]", has_text="Arrived").count() == 1

    # Never arrived: it stays in the box, and Send sends it once.
    trap.update(content="Lost", deliver=False)
    send(page, "Lost")
    page.wait_for_function("() => document.querySelector('#composer-input').value === 'Lost'")
    page.wait_for_selector("#conn-status[data-state=open]", state="attached")
    page.press("#composer-input", "Enter")
    page.wait_for_selector("article[data-role=assistant][data-status=complete] >> nth=2")
    assert page.locator("article[data-role=user]", has_text="Lost").count() == 1
    assert page.input_value("#composer-input") == ""
    assert page.errors == []
