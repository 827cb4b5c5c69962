"""The HTTP side: login, the chat pages, rename and delete, ownership."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_chat(alice):
    conversation = Conversation.objects.create(user=alice, title="Trip plans")
    Message.objects.create(conversation=conversation, role="user", content="Hi")
    Message.objects.create(conversation=conversation, role="assistant", content="**Hello**")
    return conversation


def test_pages_need_a_login(client, alices_chat):
    for url in ("/", alices_chat.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_logging_in_with_username_and_password_opens_the_chat(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logging_out_ends_the_session(client, alice):
    client.force_login(alice)
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_the_new_chat_page_lists_conversations_newest_first(client, alice):
    Conversation.objects.create(user=alice, title="Older")
    Conversation.objects.create(user=alice, title="Newer")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert page.index("Newer") < page.index("Older")


def page_data(response) -> dict:
    """What the page hands its script: the json_script block."""
    return json.loads(_json_script(response.content.decode()))


def _json_script(page: str) -> str:
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', page, re.S)
    assert match, "the page has no page-data"
    return match.group(1)


def test_a_saved_conversation_reopens_with_every_message_as_source(client, alice, alices_chat):
    client.force_login(alice)
    messages = page_data(client.get(alices_chat.get_absolute_url()))["messages"]
    assert [(m["role"], m["content"], m["status"]) for m in messages] == [
        ("user", "Hi", "complete"),
        ("assistant", "**Hello**", "complete"),
    ]


def test_markup_in_messages_stays_inert_text_in_the_page(client, alice, alices_chat):
    Message.objects.create(
        conversation=alices_chat, role="assistant", content="</script><script>alert(1)</script>"
    )
    client.force_login(alice)
    response = client.get(alices_chat.get_absolute_url())
    assert "<script>alert(1)" not in response.content.decode()
    assert page_data(response)["messages"][-1]["content"].endswith("<script>alert(1)</script>")


def test_another_users_conversation_is_404_like_a_missing_one(client, bob, alices_chat):
    client.force_login(bob)
    assert client.get(alices_chat.get_absolute_url()).status_code == 404
    assert client.get("/c/999999/").status_code == 404
    assert client.post(f"/c/{alices_chat.pk}/rename/", {"title": "mine"}).status_code == 404
    assert client.post(f"/c/{alices_chat.pk}/delete/").status_code == 404
    assert Conversation.objects.filter(pk=alices_chat.pk, title="Trip plans").exists()


def test_others_conversations_are_not_listed(client, bob, alices_chat):
    client.force_login(bob)
    assert "Trip plans" not in client.get("/").content.decode()


def test_rename_and_delete(client, alice, alices_chat):
    client.force_login(alice)
    client.post(f"/c/{alices_chat.pk}/rename/", {"title": "  Summer   trip "})
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Summer trip"
    response = client.post(f"/c/{alices_chat.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    # Gone from the user's pages at once; from the database once Undo is too late
    # (tests/test_sidebar.py tests the window).
    assert client.get(alices_chat.get_absolute_url()).status_code == 404
    long_ago = timezone.now() - timedelta(days=1)
    Conversation.objects.filter(pk=alices_chat.pk).update(deleted=long_ago)
    client.get("/")
    assert not Conversation.objects.filter(pk=alices_chat.pk).exists()
    assert not Message.objects.exists()


def test_rename_and_delete_need_post(client, alice, alices_chat):
    client.force_login(alice)
    assert client.get(f"/c/{alices_chat.pk}/delete/").status_code == 405
    assert Conversation.objects.filter(pk=alices_chat.pk).exists()


def test_an_unfinished_reply_from_a_dead_process_shows_as_interrupted(client, alice, alices_chat):
    Message.objects.create(
        conversation=alices_chat, role="assistant", status="streaming", content="Half a"
    )
    client.force_login(alice)
    messages = page_data(client.get(alices_chat.get_absolute_url()))["messages"]
    assert (messages[-1]["status"], messages[-1]["content"]) == ("interrupted", "Half a")
    assert Message.objects.get(content="Half a").status == "interrupted"


def test_the_demo_banner_shows_only_in_demo_mode(client, alice, settings):
    client.force_login(alice)
    settings.CHAT_DEMO_MODE = True
    assert "Demo mode" in client.get("/").content.decode()
    settings.CHAT_DEMO_MODE = False
    assert "Demo mode" not in client.get("/").content.decode()


def test_pages_carry_a_strict_content_security_policy(client, alice):
    client.force_login(alice)
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy


def test_sign_up_is_closed_by_default(client, db):
    assert client.get("/accounts/signup/").status_code == 404
    assert "Create an account" not in client.get("/accounts/login/").content.decode()


def test_sign_up_opens_with_its_setting(client, db, settings, django_user_model):
    settings.CHAT_ALLOW_SIGNUP = True
    assert "Create an account" in client.get("/accounts/login/").content.decode()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert django_user_model.objects.filter(username="carol").exists()
    assert client.get("/").status_code == 200


def test_the_first_request_marks_replies_left_streaming_by_a_previous_run(client, alice):
    from django.core.signals import request_started

    from chat.running import SWEEP_UID, sweep_on_first_request

    conversation = Conversation.objects.create(user=alice)
    Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    request_started.connect(sweep_on_first_request, dispatch_uid=SWEEP_UID)
    client.get("/accounts/login/")
    assert Message.objects.get().status == "interrupted"
