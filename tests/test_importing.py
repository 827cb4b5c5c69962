"""Reading an uploaded conversations file (chat/importing.py): this site's own export and
ChatGPT's conversations.json become plain conversations, each message after its parent;
anything wrong is refused in words that say where."""

import json
from pathlib import Path

import pytest

from chat.importing import FORMAT, ImportRefused, read_conversations

CHATGPT = Path(__file__).parent / "exports" / "chatgpt_conversations.json"


def ours(*conversations: dict) -> bytes:
    return json.dumps(
        {"format": FORMAT, "version": 1, "conversations": list(conversations)}
    ).encode()


def chat(*messages: dict, **fields) -> dict:
    return {"title": "T", "messages": list(messages), **fields}


def msg(key, parent, role="user", content="hi", **fields) -> dict:
    return {"id": key, "parent": parent, "role": role, "content": content, **fields}


# --- ChatGPT's export -------------------------------------------------------------------------


def test_chatgpt_messages_come_over_as_a_tree_without_the_hidden_ones():
    first, empty = read_conversations(CHATGPT.read_bytes())
    keys = [m.key for m in first.messages]
    # The root, the hidden system message, the custom instructions and the reasoning are
    # left out; what hung below them hangs from the nearest message brought over.
    assert set(keys) == {"u-1", "a-1", "a-1b", "u-2", "code-1", "out-1", "a-2", "u-3", "a-3"}
    parent = {m.key: m.parent for m in first.messages}
    assert parent["u-1"] is None and parent["a-1"] == parent["a-1b"] == "u-1"  # two versions
    assert parent["a-3"] == "u-3"  # past the skipped reasoning
    assert first.current == "a-3"
    assert first.title == "Sorting a list in Python" and first.model == "gpt-4o"
    assert first.created.year == 2024 and empty.messages == []


def test_chatgpt_parents_come_before_their_children():
    (first, _) = read_conversations(CHATGPT.read_bytes())
    seen: set[str] = set()
    for message in first.messages:
        assert message.parent is None or message.parent in seen
        seen.add(message.key)


def test_chatgpt_code_and_its_output_are_shown_as_code_and_images_are_mentioned():
    (first, _) = read_conversations(CHATGPT.read_bytes())
    by_key = {m.key: m for m in first.messages}
    assert by_key["code-1"].content.startswith("```\nprint(sorted(")
    assert by_key["out-1"].role == "assistant" and "[{'age': 1}" in by_key["out-1"].content
    assert by_key["u-3"].content == "*[image not imported]*\n\nWhat is in this picture?"
    assert by_key["a-1b"].model == "gpt-4o-mini" and by_key["a-3"].model == "o3"


def test_chatgpt_nodes_with_a_circle_of_parents_are_refused():
    data = json.loads(CHATGPT.read_bytes())
    data[0]["mapping"]["u-1"]["parent"] = "a-2"
    with pytest.raises(ImportRefused, match=r"Conversation 1: .*circle"):
        read_conversations(json.dumps(data).encode())


# --- this site's export -----------------------------------------------------------------------


def test_our_export_is_read_with_its_versions_and_fields():
    calls = [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}]
    (conversation,) = read_conversations(
        ours(
            chat(
                msg(1, None),
                msg(2, 1, "assistant", "", tool_calls=calls, model="m1", status="complete"),
                msg(3, 2, "tool", "4", tool_call_id="c1"),
                msg(4, 3, "assistant", "It is 4.", usage={"total_tokens": 9}),
                msg(5, 1, "assistant", "Another version", status="stopped"),
                current=4,
                system_prompt="Be kind.",
                pinned=True,
                created="2026-01-02T03:04:05+00:00",
            )
        )
    )
    assert [m.key for m in conversation.messages] == ["1", "2", "3", "4", "5"]
    assert conversation.current == "4" and conversation.pinned
    assert conversation.system_prompt == "Be kind."
    assert conversation.messages[1].tool_calls == calls
    assert conversation.messages[2].tool_call_id == "c1"
    assert conversation.messages[4].status == "stopped"


def test_a_reply_exported_while_streaming_comes_back_interrupted():
    (conversation,) = read_conversations(ours(chat(msg(1, None, "assistant", status="streaming"))))
    assert conversation.messages[0].status == "interrupted"


def test_children_listed_before_their_parents_are_put_after_them():
    (conversation,) = read_conversations(ours(chat(msg("b", "a"), msg("a", None))))
    assert [m.key for m in conversation.messages] == ["a", "b"]


def test_text_no_database_stores_is_kept_with_a_replacement():
    (conversation,) = read_conversations(ours(chat(msg(1, None, content="a\x00b\ud800c"))))
    assert conversation.messages[0].content == "a\ufffdb\ufffdc"


def test_a_long_title_is_cut():
    (conversation,) = read_conversations(ours(chat(title="word " * 100)))
    assert len(conversation.title) <= 80 and conversation.title.endswith("…")


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"a": 1}', "neither an export of this site nor ChatGPT"),
        (b"[1, 2]", "neither"),
        (json.dumps({"format": FORMAT, "version": 2, "conversations": []}).encode(), "version"),
        (ours("x"), "Conversation 1: it must be a JSON object"),
        (ours(chat(msg(1, None, role="system"))), "Conversation 1: message 1: `role`"),
        (ours(chat(msg(1, None, status="weird"))), "`status` must be one of"),
        (ours(chat(msg(1, None, content=5))), "`content` must be text"),
        (ours(chat(msg(None, None))), "`id` must be a message id"),
        (ours(chat(msg(True, None))), "`id` must be a message id"),
        (ours(chat(msg(1, None), msg(1, None))), "two messages have the id '1'"),
        (ours(chat(msg(2, 7))), "parent '7' is not in the file"),
        (ours(chat(msg(1, 2), msg(2, 1))), "circle"),
        (ours(chat(msg(1, None, created="yesterday"))), "`created` must be a time"),
        (ours(chat(msg(1, None, created=1e300))), "`created` must be a time"),
        (ours(chat(msg(1, None, "assistant", tool_calls=[{"id": 1}]))), "`function`"),
        (ours(chat(messages=None)), "`messages` must be a list"),
    ],
)
def test_a_bad_file_is_refused_saying_what_and_where(raw, said):
    with pytest.raises(ImportRefused, match=said.replace("(", r"\(").replace(")", r"\)")):
        read_conversations(raw)
