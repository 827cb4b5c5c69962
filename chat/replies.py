"""Where replies are stored: created, checkpointed while they stream, saved whole at the
end, and marked `interrupted` when the process writing them is gone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from chat import broadcast, limits, quotas
from chat.database import database_sync_to_async
from chat.models import (
    TOOL_STATUS_OF_STATE,
    Conversation,
    Message,
    ToolState,
    mark_stale_replies_interrupted,
)
from chat.protocol import MessageData
from chat.tree import Tree

Status = Message.Status


class Busy(Exception):
    """A reply is already being written in this conversation."""


def mark_dead_replies(conversation: Conversation | None, running: set[int]) -> int:
    """Mark `interrupted` the replies (in one conversation, or all) that nobody is writing;
    `running`: the replies this process is writing."""
    if broadcast.multi_process():
        # Several processes: a writer checkpoints every second, so a still row is dead.
        stale_after = timedelta(
            seconds=max(settings.CHAT_WRITER_TIMEOUT, 3 * settings.CHAT_CHECKPOINT_INTERVAL)
        )
    else:
        # One process: a reply this process is not writing has no writer at all.
        stale_after = timedelta(0)
    return mark_stale_replies_interrupted(conversation, running, stale_after=stale_after)


def live_reply(
    conversation: Conversation, running: set[int], other_than: int | None = None
) -> Message | None:
    """The reply being written in this conversation, by whichever process, if any;
    `running`: the replies this process is writing; `other_than`: a reply not to count."""
    streaming = conversation.messages.filter(status=Status.STREAMING).exclude(pk=other_than)
    # Most conversations have no reply streaming: one read, and no update to look for dead
    # ones (that update was the heaviest statement of a reply's start on PostgreSQL).
    if not streaming.exists():
        return None
    mark_dead_replies(conversation, running)
    return streaming.first()


# Where a reply starts: at the end of the branch shown (a message sent, a retry after a
# user message with no reply), or, for a new version, under a given parent (None: a first
# message).
AT_LEAF: Literal["leaf"] = "leaf"
Parent = int | Literal["leaf"] | None


@dataclass
class Started:
    user_message: MessageData | None  # the user's message, saved (none for a regenerate)
    reply: Message  # the reply's first row, `streaming`
    history: list[dict]  # what the model is sent
    # The whole new branch as the page shows it, when a new version was made: the pages
    # replace what they show with it. None when the branch shown just grew.
    shown: list[MessageData] | None


@database_sync_to_async
def begin(
    conversation: Conversation,
    writer: str,
    user_text: str | None,
    model: str | None,
    running: set[int],
    parent: Parent = AT_LEAF,
) -> Started:
    """Everything a reply needs before the model is asked, in one database call: the user's
    message saved (none for a retry or a regenerate) under `parent`, the model picked last
    kept on the conversation, the reply's row created, the new branch made the one shown,
    and the history to send.

    Refused as Busy, with nothing saved, when another process is writing a reply in the
    conversation (in one process, chat.running has already made sure), or as
    limits.Limited past what the user may use; `running`: the replies this process is
    writing.
    """
    with transaction.atomic():
        # Locks, always in this order (as `switch`): the conversation's row, so that what
        # is read of it is what a reply starts from, then, once this start's rows are
        # written, the user's row, so that one user's starts are counted one after another
        # across processes (SQLite serialises every write anyway). Taken last, the user's
        # lock is held for the counting only, not for the whole start.
        conversation.current_id = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("current_id", flat=True)
            .first()
        )
        forked = parent != AT_LEAF
        if not forked:
            parent = shown_leaf(conversation, fresh=True)
        user_message = None
        if user_text is not None:
            user_message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.USER,
                content=user_text,
                parent_id=parent,
            )
            parent = user_message.pk
        conversation.model = model or conversation.model or settings.CHAT_MODEL
        conversation.updated = timezone.now()
        reply = _new_reply(conversation, writer, parent, also=["model", "updated"])
        get_user_model().objects.select_for_update().filter(pk=conversation.user_id).values_list(
            "pk", flat=True
        ).first()
        if broadcast.multi_process() and live_reply(conversation, running, reply.pk):
            raise Busy  # the rows above are rolled back
        limits.check_replies(
            conversation.user_id,
            new_message=user_text is not None,
            this_start=(reply.pk, user_message.pk if user_message else None),
        )
    # A reply with no parent (a first message that is a reply) is sent the system prompt
    # only: 0 is no message's id. A conversation's first user message is its whole branch,
    # in hand: nothing to read back.
    first = user_message is not None and user_message.parent_id is None
    history = conversation.history_for_model(
        leaf=reply.parent_id or 0, branch=[user_message] if first else None
    )
    shown = conversation.transcript() if forked else None
    return Started(user_message.as_dict() if user_message else None, reply, history, shown)


def shown_leaf(conversation: Conversation, *, fresh: bool = False) -> int | None:
    """The end of the branch shown, read afresh (another tab may have added to it) unless
    `fresh` says the caller just did. Messages written without parents (before versions, or
    by hand) are made one branch."""
    if not fresh:
        conversation.refresh_from_db(fields=["current"])
    if conversation.current_id is None:
        ids = list(conversation.messages.values_list("id", flat=True))
        if not ids:
            return None  # a conversation's first message: nothing to make a branch of
        Message.objects.bulk_update(
            [Message(pk=pk, parent_id=before) for before, pk in pairwise(ids)], ["parent"]
        )
        conversation.current_id = ids[-1] if ids else None
        Conversation.objects.filter(pk=conversation.pk).update(current_id=conversation.current_id)
    return conversation.current_id


class NoSuchMessage(LookupError):
    """No such message in the conversation, or not one of the kind asked for."""

    def __init__(self, role: str = "") -> None:
        super().__init__(role)
        self.role = role  # the role it has, when it exists but is of the wrong kind


def _tree_with(conversation: Conversation, message_id: int) -> tuple[Tree, int | None]:
    """The conversation's tree (made one if its messages have no parents yet) and the end
    of the branch shown; NoSuchMessage when `message_id` is not one of its messages."""
    leaf = shown_leaf(conversation)
    tree = conversation.tree()
    if message_id not in tree:
        raise NoSuchMessage
    return tree, leaf


@database_sync_to_async
def version_parent(conversation: Conversation, message_id: int, role: str) -> int | None:
    """Where a new version of `message_id` goes: under its parent, for a user message; for
    a reply (any round of it), under the parent of its first round. NoSuchMessage when it
    is not a message of this conversation with that role."""
    tree, _ = _tree_with(conversation, message_id)
    if tree.role[message_id] != role:
        raise NoSuchMessage(tree.role[message_id])
    start = tree.reply_start(message_id) if role == Message.Role.ASSISTANT else message_id
    return tree.parent[start]


@database_sync_to_async
def retry_point(conversation: Conversation) -> Parent:
    """Where a retry's reply goes: after a user message with no reply, AT_LEAF; after a
    reply that did not finish (failed, stopped, interrupted), as its new version, under its
    parent. NoSuchMessage when there is nothing to retry: no message, or a finished reply."""
    leaf = shown_leaf(conversation)
    if leaf is None:
        raise NoSuchMessage
    last = Message.objects.get(pk=leaf)
    if last.role == Message.Role.USER:
        return AT_LEAF
    if last.role == Message.Role.ASSISTANT and last.status == Status.COMPLETE:
        raise NoSuchMessage(last.role)
    tree = conversation.tree()
    return tree.parent[tree.reply_start(leaf)]


@database_sync_to_async
def switch(conversation: Conversation, message_id: int, running: set[int]) -> list[MessageData]:
    """Show the version `message_id` and its branch down to its newest message; the branch
    as the page shows it. Refused as Busy while a reply is being written in the
    conversation (its branch must stay shown), NoSuchMessage for a message not in it."""
    with transaction.atomic():
        # The same locks as `begin`, in the same order: a reply cannot start halfway
        # through a switch.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        get_user_model().objects.select_for_update().filter(pk=conversation.user_id).first()
        if live_reply(conversation, running) is not None:
            raise Busy
        tree, _ = _tree_with(conversation, message_id)
        _show(conversation, tree.newest_leaf(message_id))
    return conversation.transcript()


@database_sync_to_async
def next_round(conversation: Conversation, writer: str, parent: int) -> tuple[Message, list[dict]]:
    """The next round's reply row after a round of tool calls (under `parent`, its last tool
    result), and the history it answers."""
    reply = _new_reply(conversation, writer, parent)
    return reply, conversation.history_for_model(leaf=parent)


def _new_reply(
    conversation: Conversation, writer: str, parent: int | None, also: Sequence[str] = ()
) -> Message:
    """The reply's row, made the end of the branch shown; `also`: fields of the
    conversation to save in the same statement."""
    reply = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Status.STREAMING,
        model=conversation.model or settings.CHAT_MODEL,
        writer=writer,
        parent_id=parent,
    )
    _show(conversation, reply.pk, also)
    return reply


def _show(conversation: Conversation, leaf: int, also: Sequence[str] = ()) -> None:
    conversation.current_id = leaf
    changes = {name: getattr(conversation, name) for name in also}
    Conversation.objects.filter(pk=conversation.pk).update(current_id=leaf, **changes)


@database_sync_to_async
def checkpoint_all(texts: dict[int, str | None]) -> None:
    """Checkpoint many replies (message id: text so far, or None to only mark the row
    alive) in one transaction.

    One statement run for every row: an ORM update per reply cost the database thread,
    and so the event loop waiting on the GIL, about a tenth of a busy process's time.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    streaming = Status.STREAMING.value
    written = [(text, now, pk, streaming) for pk, text in texts.items() if text is not None]
    alive = [(now, pk, streaming) for pk, text in texts.items() if text is None]
    with transaction.atomic(), connection.cursor() as cursor:
        if written:
            cursor.executemany(
                f"UPDATE {table} SET content = %s, updated = %s WHERE id = %s AND status = %s",  # noqa: S608 - a table name
                written,
            )
        if alive:
            cursor.executemany(
                f"UPDATE {table} SET updated = %s WHERE id = %s AND status = %s",  # noqa: S608 - a table name
                alive,
            )


@database_sync_to_async
def save_tool_results(conversation_id: int, parent: int, calls: list) -> int:
    """One tool message per call, right after the assistant message that made them (`parent`),
    one after the other; the id of the last, which the next round follows."""
    with transaction.atomic():
        for call in calls:
            parent = Message.objects.create(
                conversation_id=conversation_id,
                role=Message.Role.TOOL,
                tool_call_id=call.id,
                content=call.result,
                status=TOOL_STATUS_OF_STATE.get(call.state, Status.ERROR),
                error="" if call.state == ToolState.DONE else call.result,
                duration_ms=call.duration_ms,
                parent_id=parent,
            ).pk
        Conversation.objects.filter(pk=conversation_id).update(current_id=parent)
    return parent


@database_sync_to_async
def save_final(
    conversation_id: int, message_id: int, fields: dict, user_id: int, asked: str
) -> None:
    """Save a round whole, and count its tokens towards the user's quotas, in one
    transaction: a round is counted once, or (when the save fails) not at all. The tokens
    count for the model that answered, if the provider said, else the one `asked`."""
    close_old_connections()  # a long stream may have outlived the connection
    with transaction.atomic():
        Message.objects.filter(pk=message_id).update(**fields, updated=timezone.now())
        Conversation.objects.filter(pk=conversation_id).update(updated=timezone.now())
        quotas.record(user_id, fields.get("model") or asked, fields.get("usage"))
