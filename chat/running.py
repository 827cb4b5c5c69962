"""The replies this process is writing: starting one, finding one, and keeping them alive.

This is what sockets and pages use; the loop that writes a reply is chat.generation, its
storage chat.replies. A conversation has at most one reply being written; `start` claims it
here before its first await, so two sockets of this process cannot both start one (the
database check in chat.replies covers the other processes). Holding a reply here also
keeps its task from being garbage-collected while it runs.
"""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.signals import request_started

from chat import generation, providers, replies
from chat.generation import Generation
from chat.models import Conversation, Message
from chat.replies import Busy

log = logging.getLogger(__name__)

SWEEP_UID = "chat-sweep-dead-replies"

_running: dict[int, Generation] = {}


class Full(Busy):
    """This process is writing as many replies as it may (CHAT_MAX_REPLIES)."""


async def start(
    conversation: Conversation,
    server: tuple[str, int] | None = None,
    *,
    user_text: str | None = None,
    model: str | None = None,
    parent: replies.Parent = replies.AT_LEAF,
) -> Message:
    """Save the user's message (none for a retry), create the reply's row, announce both,
    and start writing the reply in the background.

    `model`: the model picked for this message, which the conversation keeps from now on.
    `parent`: where the new message goes; by default at the end of the branch shown, or
    under a given message (None: first) for a new version of its child.
    `server` is this server's address, which the demo upstream is reached at. Raises Busy
    (or Full) with nothing saved when the reply cannot start.
    """
    model = model or conversation.model or settings.CHAT_MODEL
    upstream = providers.upstream_for(model, server)
    reply = Generation(conversation.pk, on_finished=lambda: _release(conversation.pk))
    _claim(conversation.pk, reply)  # before the first await
    try:
        # The default prefix matters: channels_redis reads every process-local channel from
        # one Redis key, and a reader of another prefix would starve the consumers.
        reply.channel = await get_channel_layer().new_channel()
        started = await replies.begin(
            conversation, reply.channel, user_text, model, message_ids(), parent
        )
    except BaseException:
        _release(conversation.pk)
        raise
    row = started.reply
    reply.next_round(row.pk)
    # From here the reply's task owns the row: whatever fails, it ends the reply in words.
    reply.task = asyncio.create_task(
        generation.run(reply, conversation, upstream, started.history, started=started),
        name=f"reply-{row.pk}",
    )
    _keep_checkpointing()
    return row


def get(conversation_id: int) -> Generation | None:
    """The reply this process is writing in a conversation, if it is writing one."""
    return _running.get(conversation_id)


def full() -> bool:
    return len(_running) >= settings.CHAT_MAX_REPLIES


def message_ids() -> set[int]:
    """The reply messages this process is writing."""
    return {reply.message_id for reply in _running.values()}


def clear() -> None:
    """Forget every reply (tests start each with none)."""
    _running.clear()


def _claim(conversation_id: int, reply: Generation) -> None:
    if conversation_id in _running:
        raise Busy
    if full():
        raise Full
    _running[conversation_id] = reply


def _release(conversation_id: int) -> None:
    _running.pop(conversation_id, None)


# --- liveness ---------------------------------------------------------------------------


def live_reply(conversation: Conversation) -> Message | None:
    """The reply being written in this conversation, by whichever process, if any."""
    return replies.live_reply(conversation, message_ids())


def mark_dead_replies(conversation: Conversation | None = None) -> int:
    return replies.mark_dead_replies(conversation, message_ids())


def sweep_on_first_request(**kwargs) -> None:
    """When the site starts serving, mark the replies a previous run left `streaming`."""
    request_started.disconnect(dispatch_uid=SWEEP_UID)
    count = mark_dead_replies()
    if count:
        log.info("marked %d unfinished replies as interrupted", count)
    Conversation.objects.purge_deleted()  # those whose Undo ran out while the site was down


# The task that checkpoints this process's replies, per event loop (tests run several).
_checkpointers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def _keep_checkpointing() -> None:
    """Make sure the process's checkpointer runs: it stops once no reply is being written."""
    loop = asyncio.get_running_loop()
    task = _checkpointers.get(loop)
    if task is None or task.done():
        for old in [old for old in _checkpointers if old.is_closed()]:
            del _checkpointers[old]
        _checkpointers[loop] = loop.create_task(_checkpoint_all(), name="checkpoints")


# A checkpoint rewrites a reply's text whole. Rewritten at every interval, a reply streamed
# at a fixed rate cost bytes growing with the square of its length. Short replies are
# rewritten whenever they grew; past REWRITE_BELOW characters, only once they have grown by
# GROWTH of what was last written, so the bytes written stay within a few times the reply's
# length. Between those, the checkpoint only marks the row alive.
REWRITE_BELOW = 8_000  # characters
GROWTH = 0.25


def _worth_writing(reply: Generation) -> bool:
    written, length = reply.checkpointed, reply.length
    grown = length - written
    return grown > 0 and (length <= REWRITE_BELOW or grown >= GROWTH * written)


async def _checkpoint_all() -> None:
    """Every CHAT_CHECKPOINT_INTERVAL, in one database call for all of this process's
    replies: the text so far of each that grew enough (above), and for every one the time,
    which shows its writer is alive. Beside the frames, never in their way."""
    while _running:
        await asyncio.sleep(settings.CHAT_CHECKPOINT_INTERVAL)
        # A round being saved (`finished`) is left to its final save.
        live = [r for r in list(_running.values()) if not r.finished]
        if not live:
            continue
        texts: dict[int, str | None] = {}
        for reply in live:
            if _worth_writing(reply):
                texts[reply.message_id] = reply.text
                reply.checkpointed = reply.length
            else:
                texts[reply.message_id] = None
        try:
            await replies.checkpoint_all(texts)
        except Exception:
            log.exception("checkpoint of replies %s failed", sorted(texts))
