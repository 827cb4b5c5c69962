"""Reading a conversation in the admin is a permission, every read leaves an audit entry,
and the conversation's user is told how often staff read it.

- Reviewers (the group "Conversation reviewers", made by migration 0005) read; other staff
  are refused with one answer for ids that exist and ids that do not.
- Every admin page showing a conversation's text writes an entry per conversation or message
  it shows: the conversation page, the message page, and the rows of both lists.
- Superusers read the audit log; nobody can add, change or delete an entry from the site.
- The user's page says "Read by staff N times, last on <date>", naming reviewers only when
  CHAT_SHOW_REVIEWER_NAMES is on.
"""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from chat.audit import REVIEWERS_GROUP, AuditEntry, Page
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

QUESTION = "Alice's private question"
ANSWER = "Alice's private answer"
review_migration = importlib.import_module("chat.migrations.0005_review")


@pytest.fixture
def reviewers_group() -> Group:
    """The group as the migration makes it (made again: a transactional test elsewhere in
    the run may have flushed the migrated one)."""
    review_migration.reviewers_group(apps, None)
    return Group.objects.get(name=REVIEWERS_GROUP)


@pytest.fixture
def reviewer(django_user_model, reviewers_group):
    user = django_user_model.objects.create_user("rita", password="rita-pass", is_staff=True)
    user.groups.add(reviewers_group)
    return user


@pytest.fixture
def carol(django_user_model):
    """Staff, not a reviewer."""
    return django_user_model.objects.create_user("carol", password="carol-pass", is_staff=True)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-pass")


@pytest.fixture
def chat(alice) -> Conversation:
    conversation = Conversation.objects.create(user=alice, title="Alice's plans")
    Message.objects.create(conversation=conversation, role="user", content=QUESTION)
    Message.objects.create(conversation=conversation, role="assistant", content=ANSWER)
    return conversation


def entries() -> list[tuple]:
    return list(
        AuditEntry.objects.order_by("id").values_list(
            "reviewer_name", "page", "conversation_pk", "message_pk", "reason"
        )
    )


# ------------------------------------------------------------------- who may read


def test_the_migration_makes_the_reviewers_group_with_review_and_view_permissions(
    reviewers_group,
):
    codenames = set(reviewers_group.permissions.values_list("codename", flat=True))
    assert codenames == {"review_conversation", "view_conversation", "view_message"}
    review_migration.reviewers_group(apps, None)  # again: nothing doubled
    assert Group.objects.filter(name=REVIEWERS_GROUP).count() == 1
    assert reviewers_group.permissions.count() == 3


def test_a_reviewer_who_is_not_a_superuser_reads_the_transcript(client, reviewer, chat):
    client.force_login(reviewer)
    response = client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    assert response.status_code == 200
    assert QUESTION in response.content.decode()
    message = chat.messages.get(role="assistant")
    assert client.get(f"/admin/chat/message/{message.pk}/change/").status_code == 200
    assert client.get("/admin/chat/conversation/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/conversation/{c}/change/",
        "/admin/chat/conversation/{c}/history/",
        "/admin/chat/message/{m}/change/",
        "/admin/chat/message/{m}/history/",
    ],
)
def test_staff_without_the_review_permission_are_refused_alike_for_any_id(
    client, carol, chat, path
):
    message = chat.messages.first()
    client.force_login(carol)
    his = client.get(path.format(c=chat.pk, m=message.pk))
    missing = client.get(path.format(c=chat.pk + 1000, m=message.pk + 1000))
    assert his.status_code == missing.status_code == 403
    assert his.content == missing.content
    assert QUESTION not in his.content.decode()
    assert AuditEntry.objects.count() == 0


def test_the_view_permission_alone_does_not_let_staff_read(client, carol, chat):
    """Review is its own permission: the model's view permission, given for another reason,
    is not a way in."""
    from django.contrib.auth.models import Permission

    carol.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_conversation", "view_message"])
    )
    client.force_login(carol)
    assert client.get(f"/admin/chat/conversation/{chat.pk}/change/").status_code == 403
    assert client.get("/admin/chat/conversation/").status_code == 403


def test_staff_without_the_review_permission_are_refused_the_lists(client, carol, chat):
    client.force_login(carol)
    for path in ("/admin/chat/conversation/", "/admin/chat/message/"):
        assert client.get(path).status_code == 403, path
    assert AuditEntry.objects.count() == 0


# -------------------------------------------------------------- every read is written


def test_opening_a_conversation_writes_who_which_when_and_the_page(client, reviewer, chat):
    client.force_login(reviewer)
    before = datetime.now(UTC)
    client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    (entry,) = AuditEntry.objects.all()
    assert (entry.reviewer, entry.reviewer_name, entry.page) == (reviewer, "rita", "conversation")
    assert (entry.conversation, entry.conversation_pk, entry.conversation_title) == (
        chat,
        chat.pk,
        "Alice's plans",
    )
    assert entry.message is None and entry.reason == ""
    assert entry.path == f"/admin/chat/conversation/{chat.pk}/change/"
    assert before <= entry.at <= datetime.now(UTC)


def test_each_opening_is_one_more_entry(client, reviewer, chat):
    client.force_login(reviewer)
    for _ in range(3):
        client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    assert AuditEntry.objects.filter(page=Page.CONVERSATION).count() == 3


def test_the_reason_given_is_recorded_and_kept_in_the_form(client, reviewer, chat):
    client.force_login(reviewer)
    page = client.get(
        f"/admin/chat/conversation/{chat.pk}/change/", {"reason": "  Abuse report #42 "}
    ).content.decode()
    assert entries() == [("rita", "conversation", chat.pk, None, "Abuse report #42")]
    assert 'name="reason"' in page and 'value="Abuse report #42"' in page
    assert "Reason for reading" in page


def test_an_unstorable_or_overlong_reason_is_recorded_as_far_as_it_can_be_and_said_so(
    client, reviewer, chat
):
    client.force_login(reviewer)
    page = client.get(
        f"/admin/chat/conversation/{chat.pk}/change/", {"reason": "bad\x00" + "x" * 600}
    ).content.decode()
    (entry,) = AuditEntry.objects.all()
    assert entry.reason.startswith("bad\ufffdx") and len(entry.reason) == 500
    assert "a NUL character (U+0000)" in page
    assert "cut to its first 500 characters" in page


def test_opening_a_message_writes_its_conversation_and_the_message(client, reviewer, chat):
    message = chat.messages.get(role="assistant")
    client.force_login(reviewer)
    page = client.get(f"/admin/chat/message/{message.pk}/change/", {"reason": "Ticket 7"})
    assert ANSWER in page.content.decode()
    assert entries() == [("rita", "message", chat.pk, message.pk, "Ticket 7")]


def test_the_conversation_list_writes_an_entry_for_each_conversation_it_shows(
    client, reviewer, chat, bob
):
    other = Conversation.objects.create(user=bob, title="Bob's plans")
    client.force_login(reviewer)
    page = client.get("/admin/chat/conversation/").content.decode()
    assert "Alice&#x27;s plans" in page and "Bob&#x27;s plans" in page
    assert sorted(entries()) == sorted(
        [
            ("rita", "conversation list", chat.pk, None, ""),
            ("rita", "conversation list", other.pk, None, ""),
        ]
    )


def test_a_searched_list_writes_only_the_rows_shown_with_the_search_and_reason(
    client, reviewer, chat, bob
):
    Conversation.objects.create(user=bob, title="Bob's plans")
    client.force_login(reviewer)
    response = client.get(
        "/admin/chat/conversation/", {"q": "private question", "reason": "Legal hold"}
    )
    assert response.status_code == 200  # `reason` is not mistaken for a filter
    (entry,) = AuditEntry.objects.all()
    assert (entry.conversation_pk, entry.query, entry.reason) == (
        chat.pk,
        "private question",
        "Legal hold",
    )


def test_the_message_list_writes_an_entry_for_each_message_it_shows(client, reviewer, chat):
    client.force_login(reviewer)
    assert client.get("/admin/chat/message/").status_code == 200
    shown = set(chat.messages.values_list("pk", flat=True))
    assert {e[3] for e in entries()} == shown
    assert {e[:3] for e in entries()} == {("rita", "message list", chat.pk)}


def test_the_history_and_delete_pages_showing_the_title_write_entries(client, root, chat):
    client.force_login(root)
    assert client.get(f"/admin/chat/conversation/{chat.pk}/history/").status_code == 200
    assert client.get(f"/admin/chat/conversation/{chat.pk}/delete/").status_code == 200
    assert entries() == [
        ("root", "conversation history", chat.pk, None, ""),
        ("root", "conversation delete", chat.pk, None, ""),
    ]


def test_the_delete_selected_confirmation_writes_an_entry_per_conversation_named(
    client, root, chat, bob
):
    other = Conversation.objects.create(user=bob, title="Bob's plans")
    client.force_login(root)
    page = client.post(
        "/admin/chat/conversation/",
        {"action": "delete_selected", "_selected_action": [chat.pk, other.pk]},
    )
    assert page.status_code == 200 and "Bob&#x27;s plans" in page.content.decode()
    assert sorted(entries()) == sorted(
        [
            ("root", "conversation delete", chat.pk, None, ""),
            ("root", "conversation delete", other.pk, None, ""),
        ]
    )
    assert Conversation.objects.count() == 2  # only asked, not deleted


def test_a_message_history_page_shows_no_text_and_writes_nothing(client, reviewer, chat):
    message = chat.messages.get(role="assistant")
    client.force_login(reviewer)
    page = client.get(f"/admin/chat/message/{message.pk}/history/")
    assert page.status_code == 200
    body = page.content.decode()
    assert ANSWER not in body and "Alice&#x27;s plans" not in body
    assert AuditEntry.objects.count() == 0


def test_a_refused_or_missing_page_writes_nothing(client, reviewer, chat):
    client.force_login(reviewer)
    assert client.get(f"/admin/chat/conversation/{chat.pk + 1000}/change/").status_code == 302
    assert client.post(f"/admin/chat/conversation/{chat.pk}/change/", {}).status_code == 403
    assert AuditEntry.objects.count() == 0


def test_entries_outlive_the_reviewers_account(client, reviewer, chat):
    client.force_login(reviewer)
    client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    reviewer.delete()
    (entry,) = AuditEntry.objects.all()
    assert (entry.reviewer, entry.reviewer_name, entry.conversation_pk) == (None, "rita", chat.pk)


# ------------------------------------------------------------------- the audit log


@pytest.fixture
def logged(client, reviewer, chat) -> AuditEntry:
    client.force_login(reviewer)
    client.get(f"/admin/chat/conversation/{chat.pk}/change/", {"reason": "Abuse report"})
    client.logout()
    return AuditEntry.objects.get()


def reviewers_listed(page: str) -> list[str]:
    """The reviewer column of the log's rows."""
    return re.findall(r'<t[dh] class="field-reviewer_name">(?:<a [^>]*>)?([^<]*)<', page)


def test_a_superuser_reads_the_log_and_filters_it(client, root, logged, chat, bob):
    other = Conversation.objects.create(user=bob, title="Bob's plans")
    AuditEntry.objects.create(
        reviewer_name="sam",
        page="conversation",
        conversation=other,
        conversation_pk=other.pk,
        at=datetime(2001, 1, 1, tzinfo=UTC),
    )
    client.force_login(root)
    page = client.get("/admin/chat/auditentry/").content.decode()
    assert sorted(reviewers_listed(page)) == ["rita", "sam"] and "Abuse report" in page
    for query, listed in (
        ({"reviewer_name": "rita"}, ["rita"]),
        ({"conversation_pk": other.pk}, ["sam"]),
        ({"conversation_pk": chat.pk}, ["rita"]),
        ({"at__gte": "2020-01-01 00:00:00+00:00"}, ["rita"]),  # as the date filter links it
        ({"q": "Abuse"}, ["rita"]),
    ):
        filtered = client.get("/admin/chat/auditentry/", query)
        assert filtered.status_code == 200, query
        assert reviewers_listed(filtered.content.decode()) == listed, query
    assert client.get(f"/admin/chat/auditentry/{logged.pk}/change/").status_code == 200
    assert AuditEntry.objects.count() == 2  # reading the log is not itself a read


def test_reviewers_and_other_staff_cannot_read_the_log(client, reviewer, carol, logged):
    for user in (reviewer, carol):
        client.force_login(user)
        assert client.get("/admin/chat/auditentry/").status_code == 403
        assert client.get(f"/admin/chat/auditentry/{logged.pk}/change/").status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/admin/chat/auditentry/add/", None),
        ("post", "/admin/chat/auditentry/add/", {"reviewer_name": "x", "conversation_pk": 1}),
        ("post", "/admin/chat/auditentry/{e}/change/", {"reason": "Nothing to see"}),
        ("get", "/admin/chat/auditentry/{e}/delete/", None),
        ("post", "/admin/chat/auditentry/{e}/delete/", {"post": "yes"}),
    ],
)
def test_nobody_not_even_a_superuser_adds_changes_or_deletes_an_entry(
    client, root, logged, method, path, data
):
    client.force_login(root)
    response = getattr(client, method)(path.format(e=logged.pk), data or {})
    assert response.status_code == 403
    assert list(AuditEntry.objects.values_list("pk", "reason")) == [(logged.pk, "Abuse report")]


def test_the_log_has_no_bulk_delete_action(client, root, logged):
    client.force_login(root)
    page = client.get("/admin/chat/auditentry/").content.decode()
    assert "delete_selected" not in page
    client.post(
        "/admin/chat/auditentry/",
        {"action": "delete_selected", "_selected_action": [logged.pk], "post": "yes"},
    )
    assert AuditEntry.objects.filter(pk=logged.pk).exists()


# ------------------------------------------------------------- what the user sees


def read_on(conversation: Conversation, name: str, at: datetime, page: str = "conversation"):
    AuditEntry.objects.create(
        reviewer_name=name,
        page=page,
        conversation=conversation,
        conversation_pk=conversation.pk,
        at=at,
    )


def test_the_users_page_says_how_often_and_when_staff_last_read_it(client, alice, chat):
    client.force_login(alice)
    assert 'id="review-note"' not in client.get(f"/c/{chat.pk}/").content.decode()
    read_on(chat, "rita", datetime(2026, 11, 20, 12, tzinfo=UTC))
    read_on(chat, "sam", datetime(2026, 11, 25, 12, tzinfo=UTC), page="message")
    read_on(chat, "sam", datetime(2026, 11, 26, 12, tzinfo=UTC), page="conversation list")
    page = client.get(f"/c/{chat.pk}/").content.decode()
    assert "Read by staff 2 times, last on 25 Nov 2026." in page
    assert "rita" not in page and "sam" not in page


def test_one_read_is_said_in_the_singular(client, alice, chat):
    read_on(chat, "rita", datetime(2026, 11, 25, 12, tzinfo=UTC))
    client.force_login(alice)
    assert (
        "Read by staff 1 time, last on 25 Nov 2026."
        in client.get(f"/c/{chat.pk}/").content.decode()
    )


def test_reviewers_are_named_only_when_the_setting_says_so(client, alice, chat, settings):
    read_on(chat, "rita", datetime(2026, 11, 20, 12, tzinfo=UTC))
    read_on(chat, "sam", datetime(2026, 11, 25, 12, tzinfo=UTC))
    read_on(chat, "rita", datetime(2026, 11, 24, 12, tzinfo=UTC))
    settings.CHAT_SHOW_REVIEWER_NAMES = True
    client.force_login(alice)
    page = client.get(f"/c/{chat.pk}/").content.decode()
    assert "Read by staff 3 times by sam, rita, last on 25 Nov 2026." in page


def test_a_real_read_in_the_admin_shows_on_the_users_page(client, alice, reviewer, chat):
    client.force_login(reviewer)
    client.get(f"/admin/chat/conversation/{chat.pk}/change/")
    client.force_login(alice)
    page = client.get(f"/c/{chat.pk}/").content.decode()
    assert 'id="review-note"' in page and "Read by staff 1 time, last on " in page


def test_another_conversations_reads_are_not_counted(client, alice, chat):
    other = Conversation.objects.create(user=alice, title="Other")
    read_on(other, "rita", datetime(2026, 11, 25, 12, tzinfo=UTC))
    client.force_login(alice)
    assert "Read by staff" not in client.get(f"/c/{chat.pk}/").content.decode()
