"""Every read of a conversation by staff leaves a trace, and its user can see how many.

An `AuditEntry` is written by the admin (chat/admin.py) for each conversation or message
whose text a page showed: the change pages (the transcript), each row of the list pages, and
a conversation's history and delete pages (titles come from the first message). The entry
keeps the reviewer's name, the conversation's id and title and the message's id as plain
values, so it outlives the reviewer's account and the conversation (see chat/retention.py
for what retention does).
Nothing on the site changes or deletes an entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.utils import dateformat, timezone

REASON_LENGTH = 500
QUERY_LENGTH = 500
REVIEWERS_GROUP = "Conversation reviewers"
# What the group holds: the review itself, and the admin's view of both models.
REVIEWER_PERMISSIONS = [
    ("conversation", "review_conversation"),
    ("conversation", "view_conversation"),
    ("message", "view_message"),
]


class Page(models.TextChoices):
    CONVERSATION = "conversation", "conversation page"
    MESSAGE = "message", "message page"
    CONVERSATION_LIST = "conversation list", "conversation list"
    MESSAGE_LIST = "message list", "message list"
    # These show the conversation's title (taken from its first message unless renamed).
    CONVERSATION_HISTORY = "conversation history", "conversation history"
    CONVERSATION_DELETE = "conversation delete", "conversation delete"


# The pages that show a transcript: what the user is told of as a read.
OPENS = [Page.CONVERSATION, Page.MESSAGE]


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_name = models.CharField(max_length=150, db_index=True)
    page = models.CharField(max_length=32, choices=Page.choices)
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # Kept as values so the entry still says which, once the conversation is gone.
    conversation_pk = models.BigIntegerField("conversation id", db_index=True)
    conversation_title = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(
        "chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_pk = models.BigIntegerField("message id", null=True, blank=True)
    reason = models.TextField(blank=True)
    query = models.CharField("search", max_length=QUERY_LENGTH, blank=True)
    path = models.TextField(blank=True)

    class Meta:
        app_label = "chat"
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        # No add/change/delete permission exists to grant: entries are written by code only.
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.reviewer_name} read conversation {self.conversation_pk} ({self.page})"


def record(
    user,
    page: str,
    conversations: Iterable,
    *,
    reason: str = "",
    query: str = "",
    path: str = "",
) -> list[AuditEntry]:
    """One entry per conversation or message shown to `user` on `page`, written at once.
    `conversations` holds Conversation or Message objects."""
    entries = []
    now = timezone.now()
    for shown in conversations:
        message = shown if hasattr(shown, "conversation_id") else None
        conversation = message.conversation if message is not None else shown
        entries.append(
            AuditEntry(
                at=now,
                reviewer=user,
                reviewer_name=user.get_username(),
                page=page,
                conversation=conversation,
                conversation_pk=conversation.pk,
                conversation_title=conversation.title,
                message=message,
                message_pk=message.pk if message is not None else None,
                reason=reason,
                query=query[:QUERY_LENGTH],
                path=path,
            )
        )
    return AuditEntry.objects.bulk_create(entries)


def review_note(conversation) -> str:
    """What the conversation's page tells its user about staff reading it, or "" if none
    has: "Read by staff 2 times, last on 25 Nov 2026". Reviewers are named only where
    CHAT_SHOW_REVIEWER_NAMES says so."""
    reads = AuditEntry.objects.filter(conversation=conversation, page__in=OPENS)
    summary = reads.aggregate(count=models.Count("id"), last=models.Max("at"))
    count = summary["count"]
    if not count:
        return ""
    times = "1 time" if count == 1 else f"{count} times"
    last = dateformat.format(timezone.localtime(summary["last"]), "j M Y")
    names = ""
    if settings.CHAT_SHOW_REVIEWER_NAMES:
        latest_first = reads.order_by("-at", "-id").values_list("reviewer_name", flat=True)
        names = " by " + ", ".join(dict.fromkeys(latest_first))
    return f"Read by staff {times}{names}, last on {last}"
