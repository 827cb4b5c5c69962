"""The replies this process is writing now, by conversation id.

Holding a reply here also keeps its task from being garbage-collected while it runs. A
conversation has at most one reply being written; `claim` is synchronous, so two sockets of
this process cannot both start one (the database check in chat.replies covers the others).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from chat.generation import Generation

_running: dict[int, Generation] = {}


class Busy(Exception):
    """A reply is already being written in this conversation."""


class Full(Busy):
    """This process is writing as many replies as it may (CHAT_MAX_REPLIES)."""


def get(conversation_id: int) -> Generation | None:
    return _running.get(conversation_id)


def full() -> bool:
    return len(_running) >= settings.CHAT_MAX_REPLIES


def claim(conversation_id: int, generation: Generation) -> None:
    if conversation_id in _running:
        raise Busy
    if full():
        raise Full
    _running[conversation_id] = generation


def release(conversation_id: int) -> None:
    _running.pop(conversation_id, None)


def generations() -> list[Generation]:
    return list(_running.values())


def message_ids() -> set[int]:
    """The reply messages this process is writing."""
    return {generation.message_id for generation in _running.values()}


def clear() -> None:
    """Forget every reply (tests start each with none)."""
    _running.clear()
