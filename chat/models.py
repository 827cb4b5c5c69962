"""Conversations and their messages, with the rules about them."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from chat.protocol import ConversationData, MessageData, ToolCallData
from chat.tree import Tree

# A title made from text (the first message, the model's answer) is cut near this length;
# any title, a user's own included, is cut to TITLE_MAX_LENGTH, the column's size.
TITLE_LENGTH = 80
TITLE_MAX_LENGTH = 200


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user) -> ConversationQuerySet:
        """The user's conversations, without those being deleted: a deleted one is gone
        from every list, page and socket at once, though Undo may still bring it back."""
        return self.filter(user=user, deleted__isnull=True)

    def deleted_by(self, user) -> ConversationQuerySet:
        """The user's conversations deleted but still within their Undo window."""
        return self.filter(user=user, deleted__isnull=False, deleted__gte=undo_cutoff())

    def purge_deleted(self) -> int:
        """Delete for good, messages and all, every conversation whose Undo window is over."""
        deleted, _ = Conversation.objects.filter(deleted__lt=undo_cutoff()).delete()
        return deleted


def undo_cutoff():
    """Conversations deleted before this can no longer be brought back. The page offers
    Undo for CHAT_UNDO_SECONDS; the server waits a few seconds more for a late click."""
    return timezone.now() - timedelta(seconds=settings.CHAT_UNDO_SECONDS + UNDO_GRACE)


UNDO_GRACE = 5  # seconds: an Undo clicked at the last moment still arrives in time


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH, blank=True)
    model = models.CharField(max_length=200, blank=True)
    # Sent as the first message; blank means the site-wide CHAT_SYSTEM_PROMPT.
    system_prompt = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    updated = models.DateTimeField(default=timezone.now, db_index=True)
    # The leaf of the branch shown (and sent upstream); null only for a conversation with no
    # messages, or one whose messages were written without parents (then read in order).
    current = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the user pinned it (pinned ones are listed first, the latest pinned on top).
    pinned = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the user deleted it: hidden at once, deleted for good once Undo is too late.
    deleted = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated", "-id"]
        # Reading conversations in the admin (chat/admin.py, chat/audit.py).
        permissions = [("review_conversation", "Can read conversations in the admin")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])

    def display_title(self) -> str:
        return self.title or "New chat"

    def as_dict(self) -> ConversationData:
        return {
            "id": self.pk,
            "title": self.display_title(),
            "url": self.get_absolute_url(),
            "updated": self.updated.isoformat(),
            "pinned": self.pinned is not None,
        }

    def tree(self) -> Tree:
        return Tree(self.messages.values_list("id", "parent_id", "role").order_by())

    def branch(self, leaf: int | None = None, tree: Tree | None = None) -> list[Message]:
        """The messages of the branch ending at `leaf` (default: the one shown), in order."""
        leaf = leaf if leaf is not None else self.current_id
        if leaf is None:  # no tree (yet): the messages in the order they were written
            return list(self.messages.all())
        tree = tree or self.tree()
        ids = tree.branch(leaf)
        if 2 * len(ids) >= len(tree):  # most of them: one plain read beats a list of ids
            rows = {m.pk: m for m in self.messages.all()}
        else:
            rows = Message.objects.in_bulk(ids)
        return [rows[pk] for pk in ids if pk in rows]

    def history_for_model(
        self, leaf: int | None = None, branch: list[Message] | None = None
    ) -> list[dict]:
        """The messages to send upstream, in the OpenAI shape, system prompt first: the
        branch ending at `leaf` (default: the one shown), and nothing from other branches;
        or `branch` itself, when the caller holds it whole.

        A failed or interrupted answer is left out (the user asked again instead) unless it
        made tool calls, which are kept with their results; a stopped one stays, as the user
        saw it. Every tool message follows the assistant message that made its call.
        """
        system_prompt = self.system_prompt or settings.CHAT_SYSTEM_PROMPT
        history = [{"role": "system", "content": system_prompt}] if system_prompt else []
        Status, Role = Message.Status, Message.Role
        called: set[str] = set()
        for message in self.branch(leaf) if branch is None else branch:
            if message.status == Status.STREAMING or message.role == Role.SYSTEM:
                continue
            if message.role == Role.ASSISTANT:
                if message.tool_calls:
                    called.update(call["id"] for call in message.tool_calls)
                elif message.status in {Status.ERROR, Status.INTERRUPTED} or not message.content:
                    continue
            elif message.role == Role.TOOL and message.tool_call_id not in called:
                continue  # its call was never saved (the process died mid-round)
            history.append(message.as_upstream())
        return history

    def transcript(self) -> list[MessageData]:
        """The branch shown, as the page shows it (docs/protocol.md): each tool result folded
        into the call that asked for it, system messages left out, and on each message with
        other versions, their ids (`versions`) and which one it is (`version`, from 1)."""
        tree = self.tree() if self.current_id is not None else None
        rows = [m for m in self.branch(tree=tree) if m.role != Message.Role.SYSTEM]
        results = {m.tool_call_id: m for m in rows if m.role == Message.Role.TOOL}
        return [
            m.as_dict(results, tree.siblings(m.pk) if tree else None)
            for m in rows
            if m.role != Message.Role.TOOL
        ]


# Text no database stores as it is: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates
# (not characters at all: JSON can carry them, UTF-8 cannot).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    return UNSTORABLE.search(text) is not None


def storable(text: str) -> str:
    """`text` with what no database can store replaced by U+FFFD: for what the site does not
    write itself (a model's reply, a tool's output), which must be kept, not refused."""
    return UNSTORABLE.sub("\ufffd", text)


def storable_json(value):
    """`storable` through a JSON value's strings (PostgreSQL's jsonb refuses NUL too)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    return value


def title_from_message(text: str) -> str:
    """A title from the first message: its text on one line, cut at a word near
    TITLE_LENGTH."""
    return cut_title(text, TITLE_LENGTH)


def cut_title(text: str, length: int = TITLE_MAX_LENGTH) -> str:
    """`text` on one line, storable, and at most `length` characters (with "…" where it
    was cut, at a word when there is one): every title, whoever wrote it, goes through it."""
    line = " ".join(storable(text).split())
    if len(line) <= length:
        return line
    room = length - 1  # for the "…"
    if line[room] == " ":  # a word ends right there
        return line[:room] + "…"
    cut = line[:room].rsplit(" ", 1)[0] or line[:room]
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
    # The message this one follows (chat/tree.py); messages with the same parent are
    # versions of one another. The first message of a conversation has none.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True
    )
    tool_calls = models.JSONField(null=True, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    usage = models.JSONField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # How long a tool took (tool messages only).
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
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

    def as_dict(
        self, results: dict[str, Message] | None = None, versions: list[int] | None = None
    ) -> MessageData:
        """This message on the wire (docs/protocol.md). A streaming reply's text is sent by
        its writer, so its `content` is left empty here. `results`: the conversation's tool
        messages by call id, to fold into this message's calls; `versions`: the ids of this
        message and its siblings, oldest first."""
        data: MessageData = {
            "id": self.pk,
            "role": self.role,
            "status": self.status,
            "content": "" if self.status == self.Status.STREAMING else self.content,
            "error": self.error,
            "created": self.created.isoformat(),
            "model": self.model,
            "finish_reason": self.finish_reason,
        }
        if self.tool_calls:
            data["tool_calls"] = [
                tool_call_dict(i, call, (results or {}).get(call.get("id", "")))
                for i, call in enumerate(self.tool_calls)
            ]
        if versions and len(versions) > 1:
            data["versions"] = list(versions)
            data["version"] = versions.index(self.pk) + 1
        return data

    def as_upstream(self) -> dict:
        """This message in the OpenAI chat format."""
        message: dict = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
            message["content"] = self.content or None  # as OpenAI sends a call without text
        if self.tool_call_id:
            message["tool_call_id"] = self.tool_call_id
        return message


class ToolState(models.TextChoices):
    """Where one tool call is: the same words in Python, the wire, the page and its CSS
    (`is-<state>`); the labels are what the page shows."""

    STREAMING = "streaming", "preparing…"  # its arguments are still arriving
    RUNNING = "running", "running…"
    DONE = "done", "done"
    FAILED = "failed", "failed"
    STOPPED = "stopped", "stopped"


ENDED_TOOL_STATES = (ToolState.DONE, ToolState.FAILED, ToolState.STOPPED)

# What the page says under a reply that did not end `complete` (its own error when it has
# one, this when not).
NOTICES = {
    Message.Status.STOPPED: "Stopped.",
    Message.Status.ERROR: "Something went wrong while writing this reply.",
    Message.Status.INTERRUPTED: "This reply was interrupted.",
}


def vocabulary() -> dict:
    """The words above for the page's scripts (static/chat/vocabulary.js reads them), so
    JavaScript uses these definitions instead of its own copies."""
    return {
        "statuses": {status.name: status.value for status in Message.Status},
        "toolStates": {state.name: state.value for state in ToolState},
        "toolStateLabels": {state.value: state.label for state in ToolState},
        "endedToolStates": [state.value for state in ENDED_TOOL_STATES],
        "notices": {status.value: words for status, words in NOTICES.items()},
    }


# A tool message's status says how its call ended.
TOOL_STATE_OF_STATUS = {
    Message.Status.COMPLETE: ToolState.DONE,
    Message.Status.ERROR: ToolState.FAILED,
    Message.Status.STOPPED: ToolState.STOPPED,
}
TOOL_STATUS_OF_STATE = {state: status for status, state in TOOL_STATE_OF_STATUS.items()}


def tool_call_dict(index: int, call: dict, result: Message | None) -> ToolCallData:
    """A saved tool call with its result, as the page shows it."""
    function = call.get("function") or {}
    return {
        "index": index,
        "id": call.get("id", ""),
        "name": function.get("name", ""),
        "arguments": function.get("arguments", ""),
        "state": TOOL_STATE_OF_STATUS.get(result.status, ToolState.FAILED)
        if result is not None
        else ToolState.FAILED,
        "duration_ms": result.duration_ms if result is not None else None,
        "result": result.content if result is not None else "",
    }


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


class UsageDay(models.Model):
    """The tokens one user's replies used on one day (UTC) with one model: what quotas and
    the usage pages count (chat/quotas.py). Each saved round adds to its row in one UPDATE,
    so concurrent replies in any process lose nothing."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_days"
    )
    day = models.DateField()
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    rounds = models.PositiveIntegerField(default=0)  # assistant messages (a tool round is one)
    estimated_rounds = models.PositiveIntegerField(default=0)  # whose usage was estimated

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "model"], name="one_usage_row")
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.model}"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Quota(models.Model):
    """One user's token quotas, in place of the site's (CHAT_QUOTA_DAILY_TOKENS,
    CHAT_QUOTA_MONTHLY_TOKENS). Empty: the site's; 0: no limit for this user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota"
    )
    daily_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Empty: the site's default. 0: no daily limit."
    )
    monthly_tokens = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Empty: the site's default. 0: no monthly limit."
    )

    def __str__(self) -> str:
        return f"Quota of {self.user}"


# The audit log of staff reads lives in its own module; imported here so Django finds it.
from chat.audit import AuditEntry  # noqa: E402, F401
