"""A reply being written: an asyncio task that lives apart from any websocket.

It streams from the upstream, renders the growing markdown, publishes seq-numbered frames to
the conversation's group, checkpoints the reply to the database, and saves it whole at the
end with a status that says how it ended. When the model calls tools, the task runs them,
saves the calls and their results, and asks the model again: each round is one assistant
message, followed by one tool message per call, exactly as the OpenAI API shapes history.
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

from chat import titles
from chat import upstream as upstream_api
from chat.assembler import StreamAssembler
from chat.models import Conversation, Message, mark_stale_replies_interrupted
from chat.render import Frame, IncrementalRenderer
from chat.tool_blocks import ToolCallView, render_tool_blocks
from chat.tools import ToolContext, enabled_tools, run_tool_call

log = logging.getLogger(__name__)

Status = Message.Status

# finish_reason values that mean the model did not finish its answer.
CUT_SHORT = {
    "length": "The reply was cut off: the model reached its maximum length.",
    "content_filter": "The reply was cut off by the provider's content filter.",
}
TOOL_STOPPED = "Stopped by the user before the tool finished."


def group_name(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


@dataclass
class Generation:
    """The reply being written in one conversation; its current round's state."""

    conversation_id: int
    message_id: int  # the current round's assistant message
    # This reply's own channel-layer channel: how any process asks it for a snapshot or
    # tells it to stop.
    channel: str = ""
    renderer: IncrementalRenderer = field(default_factory=IncrementalRenderer)
    assembler: StreamAssembler = field(default_factory=StreamAssembler)
    calls: list[ToolCallView] = field(default_factory=list)
    calls_changed: bool = False  # tool-call fragments arrived since `calls` was built
    tools_ran: bool = False  # this round's calls were run and their results saved
    seq: int = 0
    status: str = Status.STREAMING
    error: str = ""
    stop_requested: bool = False
    finished: bool = False  # the round is over: no more frames from the publisher
    task: asyncio.Task | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def next_round(self, message_id: int) -> None:
        self.message_id = message_id
        self.renderer, self.assembler = IncrementalRenderer(), StreamAssembler()
        self.calls, self.calls_changed, self.tools_ran = [], False, False
        self.seq, self.status, self.error, self.finished = 0, Status.STREAMING, "", False
        self.changed.clear()

    @property
    def html(self) -> str:
        return self.renderer.html + self._tools_html()

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
            "tools": self._tools_html(),
            "status": self.status,
            "error": self.error,
        }

    def _tools_html(self) -> str:
        if self.calls_changed:  # arguments still streaming in: show them as they are
            self.calls = [
                ToolCallView(
                    call["id"] or "", call["function"]["name"], call["function"]["arguments"]
                )
                for call in self.assembler.tool_calls()
            ]
            self.calls_changed = False
        return render_tool_blocks(self.calls)


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


async def start(conversation: Conversation, server: tuple[str, int] | None = None) -> Message:
    """Create the reply's row, announce it, and start writing it in the background.

    `server` is this server's address, which the demo upstream is reached at.
    """
    upstream = upstream_api.configured_upstream(conversation.model or settings.CHAT_MODEL, server)
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
    await _announce(reply)
    generation.task = asyncio.create_task(
        _run(generation, conversation, upstream), name=f"reply-{reply.pk}"
    )
    return reply


def _stop(generation: Generation) -> None:
    """Stop the reply: cancelling its task closes the upstream request and abandons tools."""
    if generation.stop_requested or generation.task is None:
        return
    generation.stop_requested = True
    if not generation.finished:
        generation.task.cancel()
    # Otherwise a round is being saved: let it finish; the next one will not start.


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
    listener = asyncio.create_task(_listen(generation))
    try:
        round_number = 1
        while await _round(generation, conversation, upstream, round_number):
            await _save_round(generation, last=False)
            reply = await _create_reply(conversation, generation.channel, check_busy=False)
            generation.next_round(reply.pk)
            await _announce(reply)
            round_number += 1
    except asyncio.CancelledError:
        if not generation.stop_requested:
            raise  # the process is going away
        generation.status = Status.STOPPED  # stopped between two rounds
    finally:
        listener.cancel()
        await _save_round(generation, last=True)
    if generation.status == Status.COMPLETE and settings.CHAT_MODEL_TITLES:
        _in_background(_improve_title(conversation, upstream))


async def _round(
    generation: Generation,
    conversation: Conversation,
    upstream: upstream_api.Upstream,
    round_number: int,
) -> bool:
    """Stream one answer and run the tools it calls. True: ask the model again."""
    if generation.stop_requested:  # Stop came while the last round was being saved
        generation.status = Status.STOPPED
        return False
    publisher = asyncio.create_task(_publish_frames(generation))
    tools = enabled_tools()
    go_on = False
    try:
        history = await _history(conversation, generation.message_id)
        async for progress in upstream_api.stream_completion(
            upstream,
            history,
            conversation.model or settings.CHAT_MODEL,
            generation.assembler,
            [tool.spec() for tool in tools],
        ):
            text = progress.content or progress.refusal
            if text:
                generation.renderer.feed(text)
            generation.calls_changed |= progress.tool_calls
            if text or progress.tool_calls:
                generation.changed.set()
        # The reply stays `streaming` while its tools run: Stop must still reach them.
        status, error = _outcome(generation.assembler.result())
        calls = generation.assembler.tool_calls()
        if status == Status.COMPLETE and calls:
            await _run_tools(
                generation, calls, tools, ToolContext(conversation.user_id, conversation.pk)
            )
            if round_number >= settings.CHAT_MAX_TOOL_ROUNDS:
                status = Status.ERROR
                error = (
                    f"The model asked for tools {round_number} times in a row, the most this "
                    "site allows (CHAT_MAX_TOOL_ROUNDS), so the reply ends here. Send a message "
                    "to let it go on."
                )
            else:
                go_on = True
        generation.status, generation.error = status, error
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
    return go_on


async def _run_tools(
    generation: Generation, calls: list[dict], tools: list, context: ToolContext
) -> None:
    """Run the round's calls at once, showing each as it starts and ends; save the results."""
    generation.calls = [
        ToolCallView(
            call["id"] or f"call_{generation.message_id}_{i}",  # some servers send no id
            call["function"]["name"],
            call["function"]["arguments"],
            "running",
        )
        for i, call in enumerate(calls)
    ]
    generation.calls_changed = False
    generation.changed.set()

    async def run(view: ToolCallView, call: dict) -> None:
        result = await run_tool_call(call, context, tools)
        view.state = "done" if result.ok else "failed"
        view.duration_ms, view.result = result.duration_ms, result.content
        generation.changed.set()

    try:
        await asyncio.gather(
            *(run(view, call) for view, call in zip(generation.calls, calls, strict=True))
        )
    finally:
        # Stopped halfway, every call still gets a result, so the history stays whole.
        for view in generation.calls:
            if view.state == "running":
                view.state, view.result = "stopped", TOOL_STOPPED
        await _save_tool_results(generation)
        generation.tools_ran = True


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


async def _save_round(generation: Generation, *, last: bool) -> None:
    """Save the round's message whole and send its last frame."""
    if generation.status == Status.STREAMING:  # cut off by a shutdown: keep what we have
        generation.status = Status.INTERRUPTED
        generation.error = "The server stopped while this reply was being written."
    for view in generation.calls:
        if view.state == "streaming":  # arguments cut off before the tool could run
            view.state = "stopped" if generation.status == Status.STOPPED else "failed"
    final = generation.renderer.finish()
    try:
        await _save_final(generation)
    finally:
        if last:
            # Saved before it leaves the registry, so a page opened now finds it in one
            # place or the other.
            _running.pop(generation.conversation_id, None)
        await publish(generation.conversation_id, generation.event(final))


# Background work that no reply waits for; held so it is not garbage-collected midway.
_background: set[asyncio.Task] = set()


def _in_background(work) -> None:
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _improve_title(conversation: Conversation, upstream: upstream_api.Upstream) -> None:
    try:
        title = await titles.improve_title(conversation, upstream)
    except Exception:
        log.exception("title of conversation %s", conversation.pk)
        return
    if title:
        conversation.title = title
        await publish(
            conversation.pk, {"type": "conversation", "conversation": conversation.as_dict()}
        )


async def _announce(reply: Message) -> None:
    await publish(
        reply.conversation_id,
        {"type": "message", "conversation": reply.conversation_id, "message": reply.as_dict()},
    )


def _outcome(result: dict) -> tuple[str, str]:
    choice = result["choices"][0] if result["choices"] else {}
    reason = choice.get("finish_reason")
    if reason in CUT_SHORT:
        return Status.ERROR, CUT_SHORT[reason]
    return Status.COMPLETE, ""


@database_sync_to_async
def _create_reply(conversation: Conversation, writer: str, *, check_busy: bool = True) -> Message:
    with transaction.atomic():
        # Serialises starts in one conversation across processes (SQLite locks the file).
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if check_busy and live_reply(conversation) is not None:
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
    """The messages to send upstream, in the OpenAI shape, system prompt first.

    A failed or interrupted answer is left out (the user asked again instead) unless it
    made tool calls, which are kept with their results; a stopped one stays, as the user
    saw it. Every tool message follows the assistant message that made its call.
    """
    system_prompt = conversation.system_prompt or settings.CHAT_SYSTEM_PROMPT
    history = [{"role": "system", "content": system_prompt}] if system_prompt else []
    rows = conversation.messages.exclude(status=Status.STREAMING).exclude(role=Message.Role.SYSTEM)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    called: set[str] = set()
    for message in rows:
        if message.role == Message.Role.ASSISTANT:
            if message.tool_calls:
                called.update(call["id"] for call in message.tool_calls)
            elif message.status in {Status.ERROR, Status.INTERRUPTED} or not message.content:
                continue
        elif message.role == Message.Role.TOOL and message.tool_call_id not in called:
            continue  # its call was never saved (the process died mid-round)
        history.append(message.as_upstream())
    return history


@database_sync_to_async
def _checkpoint(generation: Generation) -> None:
    Message.objects.filter(pk=generation.message_id, status=Status.STREAMING).update(
        content=generation.renderer.text, html=generation.html, updated=timezone.now()
    )


@database_sync_to_async
def _save_tool_results(generation: Generation) -> None:
    Message.objects.bulk_create(
        Message(
            conversation_id=generation.conversation_id,
            role=Message.Role.TOOL,
            tool_call_id=view.id,
            content=view.result,
            error="" if view.state == "done" else view.result,
        )
        for view in generation.calls
    )


@database_sync_to_async
def _save_final(generation: Generation) -> None:
    close_old_connections()  # a long stream may have outlived the connection
    result = generation.assembler.result()
    choice = result["choices"][0] if result["choices"] else {}
    fields = {
        "content": generation.renderer.text,
        "html": generation.html,
        "status": generation.status,
        "error": generation.error,
        "finish_reason": choice.get("finish_reason") or "",
        # Exactly as streamed, and only once they have results: history needs both.
        "tool_calls": [
            {"id": v.id, "type": "function", "function": {"name": v.name, "arguments": v.arguments}}
            for v in generation.calls
        ]
        if generation.tools_ran
        else None,
        "usage": result.get("usage"),
        "updated": timezone.now(),
    }
    if result.get("model"):  # the exact model version that answered, when the provider says
        fields["model"] = result["model"]
    Message.objects.filter(pk=generation.message_id).update(**fields)
    Conversation.objects.filter(pk=generation.conversation_id).update(updated=timezone.now())
