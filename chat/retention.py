"""Conversations kept no longer than CHAT_RETENTION_DAYS after their last activity.

`manage.py delete_old_conversations` deletes them with their messages. Their audit entries
(chat/audit.py) stay or go as CHAT_RETENTION_AUDIT says: `keep` leaves them, the reference
to the conversation emptied but its id and title kept in the entry; `delete` deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from chat.audit import AuditEntry
from chat.models import Conversation, Message

AUDIT_CHOICES = ("keep", "delete")
clock = timezone.now  # what "now" is; tests set it to a fixed time


@dataclass(frozen=True)
class Deleted:
    conversations: int
    messages: int
    audit_entries: int  # deleted; under `keep` always 0


def old_conversations(days: int, now: datetime | None = None):
    """The conversations whose last activity (`updated`) is more than `days` days before
    `now`."""
    cutoff = (now or clock()) - timedelta(days=days)
    return Conversation.objects.filter(updated__lt=cutoff).order_by("updated", "id")


def delete_conversations(conversations, audit: str) -> Deleted:
    """Delete `conversations` and their messages, and their audit entries if `audit` is
    "delete"; under "keep" the entries stay (Django empties their reference)."""
    if audit not in AUDIT_CHOICES:
        raise ValueError(f"audit must be keep or delete, not {audit!r}")
    with transaction.atomic():
        ids = list(conversations.values_list("pk", flat=True))
        messages = Message.objects.filter(conversation_id__in=ids).count()
        entries = 0
        if audit == "delete":
            entries, _ = AuditEntry.objects.filter(conversation_pk__in=ids).delete()
        # Filtered again as it deletes: one that came back to life meanwhile stays.
        conversations.filter(pk__in=ids).delete()
    return Deleted(len(ids), messages, entries)
