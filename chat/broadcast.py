"""How events reach the sockets: straight to this process's sockets, and through the channel
layer only for what must cross processes (see "How frames travel" in docs/protocol.md).

Events are encoded to JSON once and handed to every subscriber as text. A subscriber is a
socket with a conversation open; it gets every event of that conversation written by this
process. With several processes (REDIS_URL), conversation events also go to the
conversation's group, and a reply's frames go point to point to the channels of the sockets
in other processes that asked its writer to watch it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from typing import Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from chat.frames import history_parts
from chat.pacing import Slices
from chat.protocol import MessageData

log = logging.getLogger(__name__)

# Tells this process's own group events apart from other processes': its sockets have had
# them already, straight from the hub.
PROCESS_ID = uuid.uuid4().hex


class Subscriber(Protocol):
    async def relay(
        self, data: str, message: int | None = None, seq: int = 0, text: bytes | None = None
    ) -> None:
        """Send `data` (an encoded event) to the browser; `message` and `seq` say which
        reply frame it is, if it is one; `text`: the frame's text as UTF-8, when the frame
        holds nothing else (a socket may send it alone: see docs/protocol.md)."""


_subscribers: dict[int, set[Subscriber]] = defaultdict(set)


def group_name(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


def multi_process() -> bool:
    """Whether other processes may be serving the same conversations (a shared layer)."""
    return not settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")


def subscribe(conversation_id: int, subscriber: Subscriber) -> None:
    _subscribers[conversation_id].add(subscriber)


def unsubscribe(conversation_id: int, subscriber: Subscriber) -> None:
    subscribers = _subscribers.get(conversation_id)
    if subscribers is not None:
        subscribers.discard(subscriber)
        if not subscribers:
            del _subscribers[conversation_id]


def encode(event: dict) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


async def relay_here(
    conversation_id: int,
    data: str,
    message: int | None = None,
    seq: int = 0,
    text: bytes | None = None,
) -> None:
    """Hand an encoded event to this process's sockets on the conversation. One socket
    that fails is dropped, and the others still get it."""
    for subscriber in list(_subscribers.get(conversation_id, ())):
        try:
            await subscriber.relay(data, message, seq, text)
        except Exception:
            log.exception("a socket on conversation %s failed; it is dropped", conversation_id)
            unsubscribe(conversation_id, subscriber)


async def publish(
    conversation_id: int,
    event: dict,
    *,
    message: int | None = None,
    seq: int = 0,
    writer: str = "",
    reply: int | None = None,
) -> None:
    """Send a conversation event to every socket on the conversation, in every process.

    `writer`, `reply`: the channel of the task writing the reply this event announces, and
    the reply's id, so sockets in other processes can ask it to watch.
    """
    data = encode(event)
    await relay_here(conversation_id, data, message, seq)
    if multi_process():
        await get_channel_layer().group_send(
            group_name(conversation_id),
            {
                "type": "chat.event",
                "origin": PROCESS_ID,
                "data": data,
                "message": message,
                "seq": seq,
                "writer": writer,
                "reply": reply,
            },
        )


async def publish_history(conversation_id: int, messages: list[MessageData]) -> None:
    """The branch a conversation shows, to every socket on it: a `history` in parts under
    the frame limit, as `open` sends it, after a new version or a switch."""
    parts = history_parts(messages)
    slices = Slices()  # megabytes of history must not hold up the loop
    for number, part in enumerate(parts):
        await publish(
            conversation_id,
            {
                "type": "history",
                "conversation": conversation_id,
                "messages": part,
                "part": number,
                "last": number == len(parts) - 1,
            },
        )
        await slices.pause()


async def send_to(
    channel: str, data: str, message: int | None = None, seq: int = 0, text: bytes | None = None
) -> None:
    """Send an encoded frame to one socket in another process."""
    await get_channel_layer().send(
        channel,
        {"type": "chat.relay", "data": data, "message": message, "seq": seq, "text": text},
    )


async def join_group(conversation_id: int, channel: str) -> None:
    if multi_process():
        await get_channel_layer().group_add(group_name(conversation_id), channel)


async def leave_group(conversation_id: int, channel: str) -> None:
    if multi_process():
        await get_channel_layer().group_discard(group_name(conversation_id), channel)


# --- requests to a reply's writer, by its channel (stored on the reply's row) ------------


async def request_watch(writer: str, reply_to: str, offset: int) -> None:
    """Ask a reply's writer to send `reply_to` everything from `offset`, then every frame."""
    await get_channel_layer().send(
        writer, {"type": "reply.watch", "reply_to": reply_to, "offset": offset}
    )


async def request_unwatch(writer: str, reply_to: str) -> None:
    await get_channel_layer().send(writer, {"type": "reply.unwatch", "reply_to": reply_to})


async def request_stop(writer: str) -> None:
    await get_channel_layer().send(writer, {"type": "reply.stop"})


# --- sessions ---------------------------------------------------------------------------

_sessions: dict[str, set] = defaultdict(set)


def session_group(session_key: str) -> str:
    import hashlib

    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


async def watch_session(session_key: str, socket, channel: str) -> None:
    """Let `socket` hear (`session_ended()`) when its session is logged out."""
    _sessions[session_key].add(socket)
    if multi_process():
        await get_channel_layer().group_add(session_group(session_key), channel)


async def unwatch_session(session_key: str, socket, channel: str) -> None:
    sockets = _sessions.get(session_key)
    if sockets is not None:
        sockets.discard(socket)
        if not sockets:
            del _sessions[session_key]
    if multi_process():
        await get_channel_layer().group_discard(session_group(session_key), channel)


async def end_session(session_key: str) -> None:
    """The session was logged out: end its sockets here and in every process."""
    for socket in list(_sessions.get(session_key, ())):
        await socket.logged_out()
    if multi_process():
        await get_channel_layer().group_send(
            session_group(session_key), {"type": "session.ended", "origin": PROCESS_ID}
        )
