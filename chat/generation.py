"""A reply being written: an asyncio task that lives apart from any websocket.

It streams from the upstream, renders the growing markdown, publishes seq-numbered frames to
the conversation's group, checkpoints the reply to the database, and saves it whole at the
end with a status that says how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.signals import request_started
from django.db import close_old_connections, transaction
from django.utils import timezone

from chat import upstream as upstream_api
from chat.assembler import StreamAssembler
from chat.models import Conversation, Message, mark_stale_replies_interrupted
from chat.render import Frame, IncrementalRenderer

log = logging.getLogger(__name__)

Status = Message.Status

# finish_reason values that mean the model did not finish its answer.
CUT_SHORT = {
    "length": "The reply was cut off: the model reached its maximum length.",
    "content_filter": "The reply was cut off by the provider's content filter.",
}


def group_name(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


@dataclass
class Generation:
    conversation_id: int
    message_id: int
    # This reply's own channel-layer channel: how any process asks it for a snapshot or
    # tells it to stop.
    channel: str = ""
    renderer: IncrementalRenderer = field(default_factory=IncrementalRenderer)
    seq: int = 0
    status: str = Status.STREAMING
    error: str = ""
    stop_requested: bool = False
    finished: bool = False
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def event(self, frame: Frame) -> dict:
        """The next live `frame` (see docs/protocol.md)."""
        self.seq += 1
        return self._as_event(frame)

    def snapshot(self) -> dict:
        """Everything so far for a new subscriber, numbered like the live frame it follows."""
        return self._as_event(self.renderer.snapshot())

    def _as_event(self, frame: Frame) -> dict:
        return {
            "type": "frame",
            "conversation": self.conversation_id,
            "message": self.message_id,
            "seq": self.seq,
            **asdict(frame),
            "status": self.status,
            "error": self.error,
        }


# Replies being written by this process, by conversation id. Holding the task here also
# keeps it from being garbage-collected while it runs.
_running: dict[int, Generation] = {}


class Busy(Exception):
    """A reply is already being written in this conversation."""


def _single_process() -> bool:
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")


def mark_dead_replies(conversation: Conversation | None = None) -> int:
    """Mark `interrupted` the replies (in one conversation, or all) that nobody is writing."""
    running = {g.message_id for g in _running.values()}
    if _single_process():
        # One process: a reply this process is not writing has no writer at all.
        stale_after = timedelta(0)
    else:
        # Several processes: a writer checkpoints every second, so a still row is dead.
        stale_after = timedelta(seconds=max(30, 5 * settings.CHAT_CHECKPOINT_INTERVAL))
    return mark_stale_replies_interrupted(conversation, running, stale_after=stale_after)


def sweep_on_first_request(**kwargs) -> None:
    """When the site starts serving, mark the replies a previous run left `streaming`."""
    from chat.apps import SWEEP_UID

    request_started.disconnect(dispatch_uid=SWEEP_UID)
    count = mark_dead_replies()
    if count:
        log.info("marked %d unfinished replies as interrupted", count)


def live_reply(conversation: Conversation) -> Message | None:
    """The reply being written in this conversation, by whichever process, if any."""
    mark_dead_replies(conversation)
    return conversation.messages.filter(status=Status.STREAMING).first()


async def publish(conversation_id: int, event: dict) -> None:
    await get_channel_layer().group_send(
        group_name(conversation_id), {"type": "chat.event", "event": event}
    )


async def request_snapshot(writer: str, reply_to: str) -> None:
    """Ask a reply's writer to send everything so far to channel `reply_to`."""
    await get_channel_layer().send(writer, {"type": "reply.sync", "reply_to": reply_to})


async def request_stop(writer: str) -> None:
    await get_channel_layer().send(writer, {"type": "reply.stop"})


async def start(conversation: Conversation, upstream: upstream_api.Upstream) -> Message:
    """Create the reply's row, announce it, and start writing it in the background."""
    if conversation.pk in _running:
        raise Busy
    # Claimed before the first await, so two sockets of this process cannot both start one;
    # _create_reply checks the database for the other processes.
    generation = _running[conversation.pk] = Generation(conversation.pk, message_id=0)
    try:
        # The default prefix matters: channels_redis reads every process-local channel from
        # one Redis key, and a reader of another prefix would starve the consumers.
        generation.channel = await get_channel_layer().new_channel()
        reply = await _create_reply(conversation, generation.channel)
    except BaseException:
        del _running[conversation.pk]
        raise
    generation.message_id = reply.pk
    await publish(
        conversation.pk,
        {"type": "message", "conversation": conversation.pk, "message": reply.as_dict()},
    )
    generation.task = asyncio.create_task(
        _run(generation, conversation, upstream), name=f"reply-{reply.pk}"
    )
    return reply


def _stop(generation: Generation) -> None:
    """Stop the reply: cancelling its task closes the upstream request."""
    if generation.stop_requested or generation.finished or generation.task is None:
        return  # already stopping, or already saving its end: let it finish
    generation.stop_requested = True
    generation.task.cancel()


async def _listen(generation: Generation) -> None:
    """Answer requests sent to this reply's channel, from this process or another."""
    layer = get_channel_layer()
    while True:
        request = await layer.receive(generation.channel)
        if request.get("type") == "reply.stop":
            _stop(generation)
        elif request.get("type") == "reply.sync" and isinstance(request.get("reply_to"), str):
            await layer.send(
                request["reply_to"], {"type": "chat.snapshot", "event": generation.snapshot()}
            )


async def _run(
    generation: Generation, conversation: Conversation, upstream: upstream_api.Upstream
) -> None:
    assembler = StreamAssembler()
    publisher = asyncio.create_task(_publish_frames(generation))
    listener = asyncio.create_task(_listen(generation))
    try:
        history = await _history(conversation, generation.message_id)
        async for progress in upstream_api.stream_completion(
            upstream, history, conversation.model or settings.CHAT_MODEL, assembler
        ):
            text = progress.content or progress.refusal
            if text:
                generation.renderer.feed(text)
                generation.changed.set()
        generation.status, generation.error = _outcome(assembler.result())
    except upstream_api.UpstreamError as exc:
        generation.status, generation.error = Status.ERROR, str(exc)
    except asyncio.CancelledError:
        if not generation.stop_requested:
            raise  # the process is going away; the row is marked interrupted later
        generation.status = Status.STOPPED
    except Exception:
        log.exception("reply %s failed", generation.message_id)
        generation.status = Status.ERROR
        generation.error = "Something went wrong on the server while writing this reply."
    finally:
        # Let the publisher finish the frame in hand: a numbered frame lost halfway would
        # leave a gap in every browser.
        generation.finished = True
        generation.changed.set()
        await asyncio.gather(publisher, return_exceptions=True)
        listener.cancel()
        if generation.status == Status.STREAMING:  # cancelled by shutdown: keep what we have
            generation.status = Status.INTERRUPTED
            generation.error = "The server stopped while this reply was being written."
        await _finish(generation, assembler)


async def _publish_frames(generation: Generation) -> None:
    """Coalesce renders into frames every CHAT_FRAME_INTERVAL; checkpoint every second."""
    last_checkpoint = time.monotonic()
    while True:
        # Nothing new within a checkpoint interval still checkpoints below, so the row
        # shows that its writer is alive.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                generation.changed.wait(), timeout=settings.CHAT_CHECKPOINT_INTERVAL
            )
        if generation.finished:
            return  # the last frame is the generation's own, sent when the reply is saved
        if generation.changed.is_set():
            generation.changed.clear()
            await publish(generation.conversation_id, generation.event(generation.renderer.frame()))
        if time.monotonic() - last_checkpoint >= settings.CHAT_CHECKPOINT_INTERVAL:
            try:
                await _checkpoint(generation)
            except Exception:
                log.exception("checkpoint of reply %s failed", generation.message_id)
            last_checkpoint = time.monotonic()
        await asyncio.sleep(settings.CHAT_FRAME_INTERVAL)


async def _finish(generation: Generation, assembler: StreamAssembler) -> None:
    final = generation.renderer.finish()
    try:
        await _save_final(generation, assembler)
    finally:
        # Saved before it leaves the registry, so a page opened now finds it in one place
        # or the other.
        _running.pop(generation.conversation_id, None)
        await publish(generation.conversation_id, generation.event(final))


def _outcome(result: dict) -> tuple[str, str]:
    choice = result["choices"][0] if result["choices"] else {}
    reason = choice.get("finish_reason")
    if reason in CUT_SHORT:
        return Status.ERROR, CUT_SHORT[reason]
    return Status.COMPLETE, ""


@database_sync_to_async
def _create_reply(conversation: Conversation, writer: str) -> Message:
    with transaction.atomic():
        # Serialises starts in one conversation across processes (SQLite locks the file).
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if live_reply(conversation) is not None:
            raise Busy
        return Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=Status.STREAMING,
            model=conversation.model or settings.CHAT_MODEL,
            writer=writer,
        )


@database_sync_to_async
def _history(conversation: Conversation, reply_id: int) -> list[dict]:
    return conversation_history(conversation, before=reply_id)


def conversation_history(conversation: Conversation, before: int | None = None) -> list[dict]:
    """The messages to send upstream, in the OpenAI shape.

    Failed and interrupted replies are left out (the user asked again instead); a stopped
    reply stays, as the user saw it.
    """
    messages = conversation.messages.exclude(
        status__in=[Status.ERROR, Status.INTERRUPTED, Status.STREAMING]
    )
    if before is not None:
        messages = messages.filter(pk__lt=before)
    return [m.as_upstream() for m in messages if m.content or m.tool_calls]


@database_sync_to_async
def _checkpoint(generation: Generation) -> None:
    renderer = generation.renderer
    Message.objects.filter(pk=generation.message_id, status=Status.STREAMING).update(
        content=renderer.text, html=renderer.html, updated=timezone.now()
    )


@database_sync_to_async
def _save_final(generation: Generation, assembler: StreamAssembler) -> None:
    close_old_connections()  # a long stream may have outlived the connection
    result = assembler.result()
    choice = result["choices"][0] if result["choices"] else {}
    message = choice.get("message", {})
    fields = {
        "content": generation.renderer.text,
        "html": generation.renderer.html,
        "status": generation.status,
        "error": generation.error,
        "finish_reason": choice.get("finish_reason") or "",
        "tool_calls": message.get("tool_calls") or None,
        "usage": result.get("usage"),
        "updated": timezone.now(),
    }
    if result.get("model"):  # the exact model version that answered, when the provider says
        fields["model"] = result["model"]
    Message.objects.filter(pk=generation.message_id).update(**fields)
    Conversation.objects.filter(pk=generation.conversation_id).update(updated=timezone.now())
