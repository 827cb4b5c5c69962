"""Staff review conversations in the admin; the transcript reaches the page as inert data."""

import json
import re

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", password="staff-password")


@pytest.fixture
def conversation(alice):
    conversation = Conversation.objects.create(
        user=alice, title="Rockets", model="gpt-x", system_prompt="Answer like a physicist."
    )
    Message.objects.create(conversation=conversation, role="user", content="How do rockets fly?")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content='**Thrust.** </script><script>alert(1)</script><img src="https://evil.example/x">',
        model="gpt-x-2024",
        finish_reason="stop",
        usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    )
    return conversation


def transcript_data(page: str, element_id: str) -> dict:
    """The transcript the page's script renders: the json_script block."""
    pattern = rf'<script id="{element_id}" type="application/json">(.*?)</script>'
    match = re.search(pattern, page, re.S)
    assert match, f"no {element_id} data in the page"
    return json.loads(match.group(1))


def test_the_admin_is_for_staff_only(client, alice, conversation):
    client.force_login(alice)
    response = client.get("/admin/chat/conversation/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_list_shows_user_title_model_messages_and_tokens(client, staff, conversation):
    client.force_login(staff)
    page = client.get("/admin/chat/conversation/").content.decode()
    for text in ("Rockets", "alice", "gpt-x", ">2<", ">12<"):
        assert text in page


def test_search_finds_conversations_by_message_text(client, staff, conversation, alice):
    Conversation.objects.create(user=alice, title="Gardening")
    client.force_login(staff)
    page = client.get("/admin/chat/conversation/", {"q": "rockets fly"}).content.decode()
    assert "Rockets" in page and "Gardening" not in page


def test_filters_by_user_model_status_and_date(client, staff, conversation):
    client.force_login(staff)
    for query in (
        {"user__id__exact": conversation.user_id},
        {"model": "gpt-x"},
        {"messages__status": "complete"},
        {"updated__gte": "2000-01-01 00:00:00+00:00"},  # as the date filter links it
    ):
        page = client.get("/admin/chat/conversation/", query).content.decode()
        assert "Rockets" in page, query


def test_the_transcript_is_read_only_data_with_the_system_prompt(client, staff, conversation):
    client.force_login(staff)
    response = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    page = response.content.decode()
    assert response.status_code == 200
    data = transcript_data(page, f"transcript-{conversation.pk}")
    assert (data["systemPrompt"], data["systemPromptIsDefault"]) == (
        "Answer like a physicist.",
        False,
    )
    user, reply = data["messages"]
    assert user["content"] == "How do rockets fly?"
    assert reply["content"].startswith("**Thrust.** </script>")
    assert (reply["model"], reply["status"], reply["finish_reason"]) == (
        "gpt-x-2024",
        "complete",
        "stop",
    )
    assert reply["usage"]["total_tokens"] == 12
    # The markup is data, never markup: nothing in it can close the script block or run.
    assert "<script>alert(1)" not in page and "<img" not in page
    assert '<script src="/static/chat/admin-transcript.js" type="module">' in page
    assert 'name="title"' not in page  # no editable form fields


def test_the_transcript_shows_every_version_and_which_branch_is_shown(client, staff, alice):
    conversation = Conversation.objects.create(user=alice, title="Versions")
    question = Message.objects.create(conversation=conversation, role="user", content="Q")
    first, second = (
        Message.objects.create(
            conversation=conversation, role="assistant", content=text, parent=question
        )
        for text in ("First answer", "Second answer")
    )
    conversation.current = first
    conversation.save()
    client.force_login(staff)
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    messages = transcript_data(page, f"transcript-{conversation.pk}")["messages"]
    assert [(m["content"], m.get("version"), m["shown"]) for m in messages] == [
        ("Q", None, True),
        ("First answer", 1, True),
        ("Second answer", 2, False),
    ]
    assert messages[2]["versions"] == [first.pk, second.pk]


def test_a_conversation_without_its_own_prompt_shows_the_site_default(
    client, staff, conversation, settings
):
    settings.CHAT_SYSTEM_PROMPT = "Be helpful."
    conversation.system_prompt = ""
    conversation.save()
    client.force_login(staff)
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    data = transcript_data(page, f"transcript-{conversation.pk}")
    assert (data["systemPrompt"], data["systemPromptIsDefault"]) == ("Be helpful.", True)


def test_the_message_admin_lists_and_filters(client, staff, conversation):
    client.force_login(staff)
    page = client.get("/admin/chat/message/", {"role": "assistant"}).content.decode()
    assert "assistant" in page
    message = Message.objects.get(role="assistant")
    detail = client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()
    assert "Thrust." in detail and "<script>alert" not in detail
    assert transcript_data(detail, f"message-{message.pk}")["messages"][0]["id"] == message.pk


def test_the_transcript_shows_tool_calls_with_their_results(client, staff, alice):
    conversation = Conversation.objects.create(user=alice, title="Maths")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        tool_calls=[
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            }
        ],
    )
    Message.objects.create(
        conversation=conversation,
        role="tool",
        tool_call_id="c1",
        content='{"result": 42}',
        duration_ms=4,
    )
    client.force_login(staff)
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    (reply,) = transcript_data(page, f"transcript-{conversation.pk}")["messages"]
    assert reply["tool_calls"] == [
        {
            "index": 0,
            "id": "c1",
            "name": "calculator",
            "arguments": '{"expression": "6*7"}',
            "state": "done",
            "duration_ms": 4,
            "result": '{"result": 42}',
        }
    ]
