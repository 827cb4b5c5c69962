"""Where replies are stored: created, checkpointed while they stream, saved whole at the
end, and marked `interrupted` when the process writing them is gone."""

from __future__ import annotations

from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from chat import broadcast, limits, quotas
from chat.models import (
    TOOL_STATUS_OF_STATE,
    Conversation,
    Message,
    ToolState,
    mark_stale_replies_interrupted,
)

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


def live_reply(conversation: Conversation, running: set[int]) -> Message | None:
    """The reply being written in this conversation, by whichever process, if any;
    `running`: the replies this process is writing."""
    mark_dead_replies(conversation, running)
    return conversation.messages.filter(status=Status.STREAMING).first()


@database_sync_to_async
def begin(
    conversation: Conversation,
    writer: str,
    user_text: str | None,
    model: str | None,
    running: set[int],
) -> tuple[dict | None, Message, list[dict]]:
    """Everything a reply needs before the model is asked, in one database call: the user's
    message saved (none for a retry), the model picked last kept on the conversation, the
    reply's row created, and the history to send.

    Refused as Busy, with nothing saved, when another process is writing a reply in the
    conversation (in one process, chat.running has already made sure), or as
    limits.Limited past what the user may use; `running`: the replies this process is
    writing.
    """
    with transaction.atomic():
        # Serialises one user's starts across processes (SQLite serialises every write).
        get_user_model().objects.select_for_update().filter(pk=conversation.user_id).first()
        if broadcast.multi_process() and live_reply(conversation, running) is not None:
            raise Busy
        limits.check_replies(conversation.user_id, new_message=user_text is not None)
        user_message = None
        if user_text is not None:
            user_message = Message.objects.create(
                conversation=conversation, role=Message.Role.USER, content=user_text
            )
        conversation.model = model or conversation.model or settings.CHAT_MODEL
        conversation.updated = timezone.now()
        conversation.save(update_fields=["model", "updated"])
        reply = _new_reply(conversation, writer)
    history = conversation.history_for_model(before=reply.pk)
    return (user_message.as_dict() if user_message else None), reply, history


@database_sync_to_async
def next_round(conversation: Conversation, writer: str) -> tuple[Message, list[dict]]:
    """The next round's reply row after a round of tool calls, and the history it answers."""
    reply = _new_reply(conversation, writer)
    return reply, conversation.history_for_model(before=reply.pk)


def _new_reply(conversation: Conversation, writer: str) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Status.STREAMING,
        model=conversation.model or settings.CHAT_MODEL,
        writer=writer,
    )


@database_sync_to_async
def checkpoint_all(texts: dict[int, str]) -> None:
    """`checkpoint` for many replies (message id: text so far) in one transaction.

    One statement run for every row: an ORM update per reply cost the database thread,
    and so the event loop waiting on the GIL, about a tenth of a busy process's time.
    """
    table = connection.ops.quote_name(Message._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET content = %s, updated = %s WHERE id = %s AND status = %s",  # noqa: S608 - a table name
            [(text, now, pk, Status.STREAMING.value) for pk, text in texts.items()],
        )


@database_sync_to_async
def save_tool_results(conversation_id: int, calls: list) -> None:
    """One tool message per call, right after the assistant message that made them."""
    Message.objects.bulk_create(
        Message(
            conversation_id=conversation_id,
            role=Message.Role.TOOL,
            tool_call_id=call.id,
            content=call.result,
            status=TOOL_STATUS_OF_STATE.get(call.state, Status.ERROR),
            error="" if call.state == ToolState.DONE else call.result,
            duration_ms=call.duration_ms,
        )
        for call in calls
    )


@database_sync_to_async
def save_final(conversation_id: int, message_id: int, fields: dict) -> None:
    """Save a round whole, and count its tokens towards the user's quotas, in one
    transaction: a round is counted once, or (when the save fails) not at all."""
    close_old_connections()  # a long stream may have outlived the connection
    with transaction.atomic():
        Message.objects.filter(pk=message_id).update(**fields, updated=timezone.now())
        Conversation.objects.filter(pk=conversation_id).update(updated=timezone.now())
        user_id, model = Conversation.objects.values_list("user_id", "model").get(
            pk=conversation_id
        )
        quotas.record(user_id, fields.get("model") or model, fields.get("usage"))
