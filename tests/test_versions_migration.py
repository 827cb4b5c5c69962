"""Conversations written before versions existed become one branch each: every message
follows the one written before it, and the last one is shown."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("chat", "0007_search")  # the migration before versions


def versions_migration(executor: MigrationExecutor) -> tuple[str, str]:
    (name,) = [
        n for app, n in executor.loader.disk_migrations if app == "chat" and n.endswith("_versions")
    ]
    return ("chat", name)


@pytest.fixture
def back_to_the_latest():
    """Whatever happens in the test, the database ends with every migration applied."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_conversations_migrate_as_one_branch(alice, back_to_the_latest):
    executor = MigrationExecutor(connection)
    after = versions_migration(executor)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    OldConversation, OldMessage = (
        old.get_model("chat", "Conversation"),
        old.get_model("chat", "Message"),
    )
    talk = OldConversation.objects.create(user_id=alice.pk, title="Old talk")
    other = OldConversation.objects.create(user_id=alice.pk, title="Written meanwhile")
    empty = OldConversation.objects.create(user_id=alice.pk, title="Nothing yet")
    rows, others = [], []
    for role, text, call in [
        ("user", "Q1", ""),
        ("assistant", "", ""),
        ("tool", "42", "c1"),
        ("assistant", "A1", ""),
        ("user", "Q2", ""),
        ("assistant", "A2", ""),
    ]:
        rows.append(
            OldMessage.objects.create(conversation=talk, role=role, content=text, tool_call_id=call)
        )
        # Another conversation's messages, between these: never anyone's parent here.
        others.append(OldMessage.objects.create(conversation=other, role="user", content=text))

    executor = MigrationExecutor(connection)  # the graph as it is now
    executor.migrate([after])
    new = executor.loader.project_state([after]).apps
    NewConversation, NewMessage = (
        new.get_model("chat", "Conversation"),
        new.get_model("chat", "Message"),
    )
    parents = dict(NewMessage.objects.values_list("pk", "parent_id"))
    assert [parents[m.pk] for m in rows] == [None] + [m.pk for m in rows[:-1]]
    assert NewConversation.objects.get(pk=talk.pk).current_id == rows[-1].pk
    assert [parents[m.pk] for m in others] == [None] + [m.pk for m in others[:-1]]
    assert NewConversation.objects.get(pk=other.pk).current_id == others[-1].pk
    assert NewConversation.objects.get(pk=empty.pk).current_id is None


def test_a_migrated_conversation_is_sent_and_shown_as_that_branch(alice):
    talk = Conversation.objects.create(user=alice, title="Old talk")
    for role, text in [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")]:
        Message.objects.create(conversation=talk, role=role, content=text)
    migration = import_module(
        f"chat.migrations.{versions_migration(MigrationExecutor(connection))[1]}"
    )
    migration.one_branch(apps, None)
    talk.refresh_from_db()
    assert [m["content"] for m in talk.history_for_model()] == ["Q1", "A1", "Q2", "A2"]
    assert [m["content"] for m in talk.transcript()] == ["Q1", "A1", "Q2", "A2"]
    assert all("versions" not in m for m in talk.transcript())
