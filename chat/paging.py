"""The conversation list a page at a time, newest first, by keyset on (updated, id): a
page starts after the last one shown, so a conversation moving to the top meanwhile is
neither shown twice nor makes another one skipped, as an offset would.

Pinned conversations all come with the first page, above the rest (the latest pinned
first); the pages, the first one included, then go through the unpinned ones only, so
each conversation is listed exactly once. (Pins are for a few; a user pinning thousands
gets them all in the first page.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

from chat.models import Conversation

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ID = 2**63 - 1
CURSOR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


class BadCursor(ValueError):
    """A cursor this module did not write."""


def cursor(conversation: Conversation) -> str:
    """Where the list goes on after `conversation`: "<updated in µs since 1970>-<id>"."""
    micros = (conversation.updated - EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{conversation.pk}"


def _position(text: str) -> tuple[datetime, int]:
    match = CURSOR.fullmatch(text)
    if match is None:
        raise BadCursor(text)
    micros, pk = (int(group) for group in match.groups())
    try:
        updated = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise BadCursor(text) from None
    if pk > MAX_ID:
        raise BadCursor(text)
    return updated, pk


def page(
    conversations: QuerySet[Conversation], after: str | None = None, size: int = PAGE_SIZE
) -> tuple[list[Conversation], str | None]:
    """The pinned ones first if `after` is None, then up to `size` of the unpinned
    `conversations`, newest first, after the cursor `after` (from the start if None), and
    the cursor of the next page (None when this one is the last).
    Raises BadCursor for a cursor that `cursor()` did not write."""
    rows = conversations.only("pk", "title", "updated", "pinned")
    pinned = []
    if after is None:
        pinned = list(rows.filter(pinned__isnull=False).order_by("-pinned", "-pk"))
    rows = rows.filter(pinned__isnull=True).order_by("-updated", "-pk")
    if after is not None:
        updated, pk = _position(after)
        rows = rows.filter(Q(updated__lt=updated) | Q(updated=updated, pk__lt=pk))
    found = list(rows[: size + 1])
    shown = found[:size]
    return pinned + shown, cursor(shown[-1]) if len(found) > size else None
