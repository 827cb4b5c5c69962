"""Reply statuses and tool-call states are defined once, in Python (chat/models.py), and
the page's scripts and styles use that definition, not copies of their own."""

import re
from pathlib import Path

import pytest

from chat.models import ENDED_TOOL_STATES, Message, ToolState, vocabulary

STATIC = Path(__file__).resolve().parent.parent / "static" / "chat"
WORDS = {status.value for status in Message.Status} | {state.value for state in ToolState}


def test_the_page_gets_every_status_and_state_with_its_label():
    words = vocabulary()
    assert words["statuses"]["STREAMING"] == "streaming"
    assert set(words["toolStates"].values()) == {state.value for state in ToolState}
    assert words["toolStateLabels"]["running"] == "running…"
    assert words["endedToolStates"] == [state.value for state in ENDED_TOOL_STATES]


def test_no_page_script_spells_a_status_or_state_itself():
    for script in STATIC.glob("*.js"):
        if script.name == "vocabulary.js":
            continue
        quoted = set(re.findall(r'"([a-z]+)"', script.read_text()))
        assert not (quoted & WORDS) - {"error"}, f"{script.name} spells {quoted & WORDS}"


def test_every_tool_state_has_its_look_in_the_stylesheet():
    css = (STATIC / "chat.css").read_text()
    for state in ToolState:
        assert f".tool-call.is-{state.value}" in css, state


@pytest.mark.django_db
def test_the_page_carries_the_vocabulary(client, alice):
    client.force_login(alice)
    assert '<script id="vocabulary" type="application/json">' in client.get("/").content.decode()
