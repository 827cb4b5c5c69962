"""What is kept, and for how long.

- `manage.py delete_old_conversations` deletes exactly the conversations idle for more than
  CHAT_RETENTION_DAYS (by `updated`), with their messages; `--dry-run` deletes nothing;
  with the setting off (0) it deletes nothing.
- Their audit entries stay (CHAT_RETENTION_AUDIT=keep: the id and title kept as text) or go
  (delete), and no other conversation's entries move.
- A user's delete deletes the conversation and its messages from every table; only the audit
  entries of staff reads stay, as the site's record.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from chat import retention
from chat.audit import AuditEntry
from chat.models import Conversation, Message
from tests.live import ROOT
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
SECRET_QUESTION = "Alice's private question"
SECRET_ANSWER = "Alice's private answer"


@pytest.fixture
def fixed_now(monkeypatch):
    monkeypatch.setattr(retention, "clock", lambda: NOW)
    return NOW


def conversation_of(user, title: str, idle: timedelta) -> Conversation:
    """A conversation with a question and an answer, last active `idle` before NOW, read
    once by staff."""
    conversation = Conversation.objects.create(user=user, title=title, updated=NOW - idle)
    Message.objects.create(conversation=conversation, role="user", content=f"{title}: question")
    Message.objects.create(conversation=conversation, role="assistant", content=f"{title}: answer")
    AuditEntry.objects.create(
        reviewer_name="rita",
        page="conversation",
        conversation=conversation,
        conversation_pk=conversation.pk,
        conversation_title=title,
    )
    return conversation


@pytest.fixture
def chats(alice, bob) -> dict[str, Conversation]:
    return {
        "ancient": conversation_of(alice, "ancient", timedelta(days=400)),
        "just old": conversation_of(bob, "just old", timedelta(days=30, seconds=1)),
        "exactly 30 days": conversation_of(alice, "exactly 30 days", timedelta(days=30)),
        "recent": conversation_of(bob, "recent", timedelta(days=2)),
    }


def run(*args: str) -> str:
    out = StringIO()
    call_command("delete_old_conversations", *args, stdout=out)
    return out.getvalue()


def remaining() -> set[str]:
    return set(Conversation.objects.values_list("title", flat=True))


def test_only_conversations_idle_for_longer_than_the_setting_are_old(chats):
    old = retention.old_conversations(30, now=NOW)
    assert [c.title for c in old] == ["ancient", "just old"]


def test_the_command_deletes_exactly_the_old_ones_with_their_messages(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 30
    out = run()
    assert remaining() == {"exactly 30 days", "recent"}
    assert set(Message.objects.values_list("content", flat=True)) == {
        "exactly 30 days: question",
        "exactly 30 days: answer",
        "recent: question",
        "recent: answer",
    }
    assert "Deleted 2 conversations idle for more than 30 days, with 4 messages" in out


def test_the_dry_run_lists_what_would_go_and_deletes_nothing(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 30
    out = run("--dry-run")
    assert remaining() == set(chats)
    assert Message.objects.count() == 8 and AuditEntry.objects.count() == 4
    assert f"would delete conversation {chats['ancient'].pk} of alice" in out
    assert f"would delete conversation {chats['just old'].pk} of bob" in out
    assert str(chats["recent"].pk) not in out.replace("2 conversations", "")
    assert "Dry run: 2 conversations" in out and "Nothing deleted." in out
    assert "question" not in out  # no text of theirs in the output


def test_with_retention_off_nothing_is_deleted(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 0
    out = run()
    assert remaining() == set(chats)
    assert "CHAT_RETENTION_DAYS is not set" in out


def test_kept_audit_entries_still_say_which_conversation(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 30
    settings.CHAT_RETENTION_AUDIT = "keep"
    run()
    kept = AuditEntry.objects.order_by("conversation_pk")
    assert kept.count() == 4
    gone = [e for e in kept if e.conversation_title in ("ancient", "just old")]
    assert [(e.conversation, e.conversation_pk) for e in gone] == [
        (None, chats["ancient"].pk),
        (None, chats["just old"].pk),
    ]
    assert all(e.conversation is not None for e in kept if e not in gone)


def test_audit_entries_can_go_with_their_conversations(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 30
    settings.CHAT_RETENTION_AUDIT = "delete"
    out = run()
    assert set(AuditEntry.objects.values_list("conversation_title", flat=True)) == {
        "exactly 30 days",
        "recent",
    }
    assert "and 2 audit entries" in out


def test_the_dry_run_says_what_would_become_of_the_audit_entries(settings, fixed_now, chats):
    settings.CHAT_RETENTION_DAYS = 30
    settings.CHAT_RETENTION_AUDIT = "delete"
    assert "their 2 audit entries would be deleted" in run("--dry-run")
    settings.CHAT_RETENTION_AUDIT = "keep"
    assert "their 2 audit entries would be kept" in run("--dry-run")
    assert AuditEntry.objects.count() == 4


def test_a_conversation_active_again_before_the_delete_is_kept(settings, chats):
    old = retention.old_conversations(30, now=NOW)
    Conversation.objects.filter(pk=chats["ancient"].pk).update(updated=NOW)
    deleted = retention.delete_conversations(old, "keep")
    assert deleted.conversations == 1 and "ancient" in remaining()


def test_a_bad_audit_setting_is_refused_in_words(settings, fixed_now, chats):
    from django.core.management.base import CommandError

    settings.CHAT_RETENTION_DAYS = 30
    settings.CHAT_RETENTION_AUDIT = "shred"
    with pytest.raises(CommandError, match="CHAT_RETENTION_AUDIT must be keep or delete"):
        run()
    assert remaining() == set(chats)


# ------------------------------------------------------------------ the user's delete


def every_row() -> list[tuple[str, dict]]:
    """Every row of every table the site's models have, as (model, values)."""
    return [
        (model._meta.label, row)
        for model in apps.get_models(include_auto_created=True)
        for row in model.objects.values()
    ]


def test_a_users_delete_leaves_nothing_but_the_staff_reads(client, alice, reviewer_read):
    conversation, message_ids = reviewer_read
    client.force_login(alice)
    response = client.post(f"/c/{conversation.pk}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.owned_by(alice).exists()  # hidden at once
    # Once the Undo window is over, it is deleted for good, messages and all.
    Conversation.objects.filter(pk=conversation.pk).update(
        deleted=timezone.now() - timedelta(hours=1)
    )
    Conversation.objects.purge_deleted()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(pk__in=message_ids).exists()
    for label, row in every_row():
        text = repr(row)
        assert SECRET_QUESTION not in text and SECRET_ANSWER not in text, label
        if label != "chat.AuditEntry":
            assert "Alice's plans" not in text, label
    # The audit entries stay, saying which conversation and message, pointing at nothing.
    kept = list(
        AuditEntry.objects.order_by("id").values_list(
            "conversation", "conversation_pk", "conversation_title", "message", "message_pk"
        )
    )
    assert kept == [
        (None, conversation.pk, "Alice's plans", None, None),
        (None, conversation.pk, "Alice's plans", None, message_ids[1]),
    ]


@pytest.fixture
def reviewer_read(client, alice, django_user_model):
    """Alice's conversation, opened once by a superuser, and one of its messages too."""
    conversation = Conversation.objects.create(user=alice, title="Alice's plans")
    question = Message.objects.create(
        conversation=conversation, role="user", content=SECRET_QUESTION
    )
    answer = Message.objects.create(
        conversation=conversation, role="assistant", content=SECRET_ANSWER
    )
    root = django_user_model.objects.create_superuser("root", password="root-pass")
    client.force_login(root)
    assert client.get(f"/admin/chat/conversation/{conversation.pk}/change/").status_code == 200
    assert client.get(f"/admin/chat/message/{answer.pk}/change/").status_code == 200
    client.logout()
    return conversation, [question.pk, answer.pk]


def test_deleting_a_users_account_deletes_their_conversations_but_not_the_reads(
    alice, reviewer_read
):
    conversation, message_ids = reviewer_read
    alice.delete()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(pk__in=message_ids).exists()
    assert list(AuditEntry.objects.values_list("conversation", "conversation_pk")) == [
        (None, conversation.pk),
        (None, conversation.pk),
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_RETENTION_DAYS", "a month"),
        ("CHAT_RETENTION_DAYS", "-1"),
        ("CHAT_RETENTION_AUDIT", "shred"),
        ("CHAT_SHOW_REVIEWER_NAMES", "perhaps"),
    ],
)
def test_a_bad_setting_stops_the_site_naming_it(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]


def test_retention_is_off_and_audit_entries_kept_by_default():
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s;"
            " print(s.CHAT_RETENTION_DAYS, s.CHAT_RETENTION_AUDIT, s.CHAT_SHOW_REVIEWER_NAMES)",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "DJANGO_"))}
        | {"DJANGO_SETTINGS_MODULE": "chatsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.stdout.split() == ["0", "keep", "False"], check.stderr
