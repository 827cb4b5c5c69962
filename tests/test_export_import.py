"""Export and import (chat/exporting.py, chat/importing.py, the "Your data" page): one
conversation as Markdown or JSON, all of them as one JSON file with every version, and that
file or ChatGPT's conversations.json back in. A round trip loses nothing; a bad file
changes nothing and says why; nobody exports or imports another user's conversations."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

CHATGPT = Path(__file__).parent / "exports" / "chatgpt_conversations.json"
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "calculator", "arguments": '{"expression": "2+2"}'},
}


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password")


def add(conversation, parent, role, content="", **fields) -> Message:
    return Message.objects.create(
        conversation=conversation, parent=parent, role=role, content=content, **fields
    )


@pytest.fixture
def branched(alice) -> Conversation:
    """Two versions of the first question, two of the answer to it, and a tool round."""
    conversation = Conversation.objects.create(
        user=alice, title="Sums", model="m1", system_prompt="Count well."
    )
    question = add(conversation, None, "user", "What is 2+2?")
    called = add(conversation, question, "assistant", "", tool_calls=[CALL], model="m1")
    result = add(conversation, called, "tool", "4", tool_call_id="call_1", duration_ms=3)
    answer = add(
        conversation,
        result,
        "assistant",
        "It is **4**.",
        model="m1",
        finish_reason="stop",
        usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    )
    add(conversation, question, "assistant", "Four.", model="m2", status="stopped")
    edited = add(conversation, None, "user", "What is 3+3?")
    add(conversation, edited, "assistant", "", status="error", error="The provider failed.")
    conversation.current = answer
    conversation.pinned = timezone.now()
    conversation.save()
    return conversation


def node(parent: str) -> dict:
    """A node of ChatGPT's `mapping` holding a user's message."""
    message = {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["x"]}}
    return {"parent": parent, "message": message}


def exported(client, user) -> dict:
    client.force_login(user)
    response = client.get("/data/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="conversations-')
    return json.loads(b"".join(response.streaming_content))


def upload(client, user, content: bytes, name: str = "conversations.json"):
    client.force_login(user)
    return client.post("/data/import/", {"file": SimpleUploadedFile(name, content)}, follow=True)


def without_ids(conversation: dict) -> dict:
    """The conversation with its message ids replaced by their places in the file."""
    place = {m["id"]: i for i, m in enumerate(conversation["messages"])}
    return conversation | {
        "current": place.get(conversation["current"]),
        "messages": [
            m | {"id": place[m["id"]], "parent": place.get(m["parent"])}
            for m in conversation["messages"]
        ],
    }


def test_a_round_trip_loses_nothing(client, alice, carol, branched):
    first = exported(client, alice)
    assert first["format"] == "chatsite.conversations" and len(first["conversations"]) == 1
    response = upload(client, carol, json.dumps(first).encode())
    assert "Imported 1 conversation." in response.content.decode()
    again = exported(client, carol)
    assert [without_ids(c) for c in again["conversations"]] == [
        without_ids(c) for c in first["conversations"]
    ]


def test_the_export_holds_every_version_in_the_openai_format(client, alice, branched):
    (conversation,) = exported(client, alice)["conversations"]
    assert len(conversation["messages"]) == 7
    called = conversation["messages"][1]
    assert called["tool_calls"] == [CALL] and called["role"] == "assistant"
    assert {"role": "tool", "tool_call_id": "call_1"}.items() <= conversation["messages"][2].items()
    assert conversation["current"] == branched.current_id
    assert conversation["system_prompt"] == "Count well." and conversation["model"] == "m1"


def test_an_imported_conversation_shows_and_continues_the_branch_it_showed(
    client, alice, carol, branched
):
    upload(client, carol, json.dumps(exported(client, alice)).encode())
    copy = Conversation.objects.get(user=carol)
    assert [m["content"] for m in copy.transcript()] == ["What is 2+2?", "", "It is **4**."]
    history = copy.history_for_model()
    assert history[0] == {"role": "system", "content": "Count well."}
    assert [m["role"] for m in history[1:]] == ["user", "assistant", "tool", "assistant"]
    assert history[2]["tool_calls"] == [CALL] and history[3]["tool_call_id"] == "call_1"


def test_chatgpt_s_export_is_imported_as_trees(client, alice):
    response = upload(client, alice, CHATGPT.read_bytes())
    assert "Imported 2 conversations." in response.content.decode()
    sorting = Conversation.objects.get(user=alice, title="Sorting a list in Python")
    shown = [m["content"] for m in sorting.transcript()]
    # The branch ChatGPT showed: the second answer, then the picture question.
    assert shown[0] == "How do I sort a list of dicts by a key?"
    assert "operator.itemgetter" in shown[1] and shown[-1] == "A small red square."
    assert sorting.messages.count() == 9  # the other branch is kept as versions


def test_one_conversation_exports_as_markdown(client, alice, branched):
    client.force_login(alice)
    response = client.get(f"/c/{branched.pk}/export.md")
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="sums-{branched.pk}.md"'
    text = response.content.decode()
    assert text.startswith("# Sums\n") and "> **System prompt:** Count well." in text
    assert "## You" in text and "## Assistant (m1)" in text and "It is **4**." in text
    assert '```json\n{"expression": "2+2"}\n```' in text and "Four." not in text  # the branch


def test_code_fences_in_a_tool_result_cannot_break_out_of_the_markdown(client, alice):
    conversation = Conversation.objects.create(user=alice, title="Fences")
    question = add(conversation, None, "user", "go")
    call = CALL | {"id": "c2"}
    called = add(conversation, question, "assistant", "", tool_calls=[call])
    add(conversation, called, "tool", "```\n# not a heading\n````", tool_call_id="c2")
    client.force_login(alice)
    text = client.get(f"/c/{conversation.pk}/export.md").content.decode()
    assert "`````\n```\n# not a heading\n````\n`````" in text


def test_one_conversation_exports_as_json_with_every_version(client, alice, branched):
    client.force_login(alice)
    response = client.get(f"/c/{branched.pk}/export.json")
    data = json.loads(b"".join(response.streaming_content))
    assert len(data["conversations"][0]["messages"]) == 7


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"not json", "The file is not JSON"),
        (
            b'{"format": "chatsite.conversations", "version": 1, "conversations": [{"title": "a",'
            b' "messages": [{"id": 1, "parent": 2, "role": "user"}]}]}',
            "is not in the file",
        ),
        (b"[" * 50_000, "The file is not JSON"),
        (
            json.dumps([{"mapping": {"a": node("b"), "b": node("a")}}]).encode(),
            "go round in a circle",
        ),
    ],
)
def test_a_bad_file_changes_nothing_and_says_why(client, alice, branched, content, said):
    before = (Conversation.objects.count(), Message.objects.count())
    page = upload(client, alice, content).content.decode()
    assert "Nothing was imported." in page and said in page
    assert (Conversation.objects.count(), Message.objects.count()) == before


def test_a_file_over_the_limit_is_refused_before_it_is_read(client, alice, settings):
    settings.CHAT_IMPORT_MAX_BYTES = 1000
    page = upload(client, alice, b" " * 2000).content.decode()
    assert "The file is 2,000 bytes; files of up to 1,000 bytes can be imported." in page
    assert "Nothing was imported." in page and Conversation.objects.count() == 0


def test_no_file_is_refused_in_words(client, alice):
    client.force_login(alice)
    page = client.post("/data/import/", follow=True).content.decode()
    assert "Choose a file to import." in page


def test_nobody_exports_another_users_conversation(client, bob, branched):
    client.force_login(bob)
    for kind in ("md", "json"):
        his = client.get(f"/c/{branched.pk}/export.{kind}")
        missing = client.get(f"/c/{branched.pk + 1000}/export.{kind}")
        assert his.status_code == missing.status_code == 404
    assert exported(client, bob)["conversations"] == []


def test_an_import_belongs_to_the_one_who_imports(client, alice, bob, branched):
    upload(client, bob, json.dumps(exported(client, alice)).encode())
    assert Conversation.objects.filter(user=alice).count() == 1
    assert Conversation.objects.filter(user=bob).count() == 1


def test_export_and_import_need_a_login(client):
    for response in (
        client.get("/data/"),
        client.get("/data/export.json"),
        client.post("/data/import/"),
    ):
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
