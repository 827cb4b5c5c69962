"""Staff review conversations in the admin; what they see is sanitised too."""

import html

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", password="staff-password")


@pytest.fixture
def conversation(alice):
    conversation = Conversation.objects.create(user=alice, title="Rockets", model="gpt-x")
    Message.objects.create(
        conversation=conversation,
        role="user",
        content="How do rockets fly?",
        html="<p>How do rockets fly?</p>",
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="Thrust.",
        # Stored HTML is sanitised when written; pretend it was tampered with in the database.
        html='<p>Thrust.</p><script>alert(1)</script><img src="https://evil.example/x">',
        usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    )
    return conversation


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


def test_the_transcript_is_rendered_read_only_and_sanitised(client, staff, conversation):
    client.force_login(staff)
    response = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "<p>Thrust.</p>" in page and "How do rockets fly?" in page
    assert "alert(1)" not in page and "evil.example" not in page
    assert 'name="title"' not in page  # no editable form fields


def test_the_message_admin_lists_and_filters(client, staff, conversation):
    client.force_login(staff)
    page = client.get("/admin/chat/message/", {"role": "assistant"}).content.decode()
    assert "assistant" in page
    message = Message.objects.get(role="assistant")
    detail = client.get(f"/admin/chat/message/{message.pk}/change/").content.decode()
    assert "Thrust." in detail and "<script>alert" not in detail


def test_the_transcript_shows_tool_calls_with_their_results(client, staff, alice):
    from chat.tool_blocks import ToolCallView, render_tool_blocks

    conversation = Conversation.objects.create(user=alice, title="Maths")
    blocks = render_tool_blocks(
        [ToolCallView("c1", "calculator", '{"expression": "6*7"}', "done", 4, '{"result": 42}')]
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        html=blocks,
        tool_calls=[
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            }
        ],
    )
    Message.objects.create(
        conversation=conversation, role="tool", tool_call_id="c1", content='{"result": 42}'
    )
    client.force_login(staff)
    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert '<details class="tool-call is-done">' in page
    assert "calculator" in page and '"result": 42' in html.unescape(page)
    assert 'data-role="tool"' not in page  # shown inside its call's block, not twice
