"""Conversations and their messages, with the rules about them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

TITLE_LENGTH = 80


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user) -> ConversationQuerySet:
        return self.filter(user=user)


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    # Sent as the first message; blank means the site-wide CHAT_SYSTEM_PROMPT.
    system_prompt = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    updated = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated", "-id"]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])

    def display_title(self) -> str:
        return self.title or "New chat"

    def as_dict(self) -> dict:
        return {"id": self.pk, "title": self.display_title(), "url": self.get_absolute_url()}


def title_from_message(text: str) -> str:
    """A title from the first message: its first line, cut at a word near TITLE_LENGTH."""
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line
    cut = line[:TITLE_LENGTH].rsplit(" ", 1)[0] or line[:TITLE_LENGTH]
    return cut + "…"


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system"
        USER = "user"
        ASSISTANT = "assistant"
        TOOL = "tool"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True
    )
    # Sanitised HTML of `content`, stored beside it so pages never re-render old replies.
    html = models.TextField(blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    usage = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # The channel of the task writing this reply while it streams (see chat/generation.py).
    writer = models.CharField(max_length=200, blank=True, editable=False)
    # Moves with every checkpoint: a streaming reply whose row stops moving has lost its
    # process.
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.STREAMING

    def as_dict(self) -> dict:
        return {
            "id": self.pk,
            "role": self.role,
            "status": self.status,
            "html": self.html,
            "error": self.error,
            "created": self.created.isoformat(),
        }

    def as_upstream(self) -> dict:
        """This message in the OpenAI chat format."""
        message: dict = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
            message["content"] = self.content or None  # as OpenAI sends a call without text
        if self.tool_call_id:
            message["tool_call_id"] = self.tool_call_id
        return message


def mark_stale_replies_interrupted(
    conversation: Conversation | None, running: set[int], *, stale_after: timedelta
) -> int:
    """Replies left `streaming` by a process that died become `interrupted`.

    `running` holds the ids this process is writing now; another process's reply counts as
    dead once its row has not been checkpointed for `stale_after`. With no conversation,
    every conversation's.
    """
    cutoff = timezone.now() - stale_after
    stale = Message.objects.filter(status=Message.Status.STREAMING, updated__lt=cutoff)
    if conversation is not None:
        stale = stale.filter(conversation=conversation)
    return stale.exclude(pk__in=running).update(
        status=Message.Status.INTERRUPTED,
        error="The server stopped while this reply was being written. What arrived is kept.",
    )
