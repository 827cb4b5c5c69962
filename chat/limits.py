"""What one user may use at once, so that one user cannot slow or cost everyone (OWASP
LLM10): replies being written, messages a minute, open sockets, and frames a second on
each socket. The first three hold across processes: replies and messages are counted in
the database (where the messages are), sockets in Redis when there is one (or in this
process's memory, which then is all there is). Frames are counted where the socket is.

A refusal is a `Limited`, whose text says what the limit is and when to try again.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from chat import broadcast, quotas
from chat.models import Message


class Limited(Exception):
    """Refused by a limit; str() says which, and `retry_after` in how many seconds to try."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.retry_after = code, retry_after


def check_replies(
    user_id: int, *, new_message: bool, this_start: tuple[int | None, int | None] = (None, None)
) -> None:
    """Refuse a reply the user may not start now. Runs in the transaction that starts it,
    after the user's row is locked, so concurrent starts are counted one after the other;
    `this_start`: the reply and the user message that transaction made, not counted."""
    own_reply, own_message = this_start
    writing = (
        Message.objects.filter(
            conversation__user_id=user_id,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
        )
        .exclude(pk=own_reply)
        .count()
    )
    over = quotas.over_quota(user_id)
    if over is not None:
        sentence, wait = over
        raise Limited("over_quota", sentence, retry_after=wait)
    if writing >= settings.CHAT_USER_MAX_REPLIES:
        raise Limited(
            "too_many_replies",
            f"You have {writing} replies being written, the most this site allows at once. "
            "Wait for one to finish, or stop one, then try again.",
        )
    if not new_message:
        return
    minute_ago = timezone.now() - timedelta(minutes=1)
    # Counted in the database: the rows themselves, a minute's worth of datetimes parsed
    # one by one, were a third of a reply's start on a busy process.
    recent = (
        Message.objects.filter(
            conversation__user_id=user_id, role=Message.Role.USER, created__gt=minute_ago
        )
        .exclude(pk=own_message)
        .aggregate(count=Count("id"), first=Min("created"))
    )
    sent = recent["count"]
    if sent >= settings.CHAT_USER_MESSAGES_PER_MINUTE:
        wait = math.ceil((recent["first"] + timedelta(minutes=1) - timezone.now()).total_seconds())
        wait = max(wait, 1)
        raise Limited(
            "too_many_messages",
            f"You have sent {sent} messages in the last minute, the most this site "
            f"allows. Try again in {wait} second{'s' if wait != 1 else ''}.",
            retry_after=wait,
        )


# --- frames on one socket ---------------------------------------------------------------


class FrameRate:
    """A socket's frames a second, as a token bucket: a page's bursts (opening one
    conversation after another) pass, a flood is refused. A socket lives in one process, so
    its count lives there too."""

    def __init__(self) -> None:
        self.rate = settings.CHAT_SOCKET_FRAMES_PER_SECOND
        self.burst = settings.CHAT_SOCKET_FRAME_BURST
        self.tokens = float(self.burst)
        self.at = time.monotonic()

    def take(self) -> Limited | None:
        """None when a frame may be handled now; otherwise the refusal to send."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        wait = max(1, math.ceil((1 - self.tokens) / self.rate))
        return Limited(
            "slow_down",
            f"This page sent more than {self.rate:g} requests a second, more than this site "
            f"handles from one page. The last was not done: try again in {wait} "
            f"second{'s' if wait != 1 else ''}.",
            retry_after=wait,
        )


# --- sockets ----------------------------------------------------------------------------

# A socket's claim lasts this long unless renewed (a process that dies leaves no socket
# counted for longer); each socket renews its own well within it.
SOCKET_LEASE = 90  # seconds
SOCKET_RENEW = 30  # seconds

_local: dict[int, set[str]] = {}

# Atomic across processes: drop expired claims, count, claim if there is room.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""
# One client per event loop (a connection pool cannot outlive its loop).
_clients: dict = {}


def _client():
    import asyncio

    import redis.asyncio

    loop = asyncio.get_running_loop()
    if loop not in _clients:
        _clients[loop] = redis.asyncio.from_url(settings.REDIS_URL)
    return _clients[loop]


def _key(user_id: int) -> str:
    # Named after the database too: two sites sharing one Redis have users of the same id.
    database = settings.DATABASES["default"]
    site = f"{database.get('HOST', '')}:{database.get('PORT', '')}/{database['NAME']}"
    return f"chat:sockets:{site}:{user_id}"


async def claim_socket(user_id: int, channel: str) -> bool:
    """Count a new (or renewed) socket of the user; False when the user has too many."""
    limit = settings.CHAT_USER_MAX_SOCKETS
    if not broadcast.multi_process():
        sockets = _local.setdefault(user_id, set())
        if channel not in sockets and len(sockets) >= limit:
            return False
        sockets.add(channel)
        return True
    now = time.time()
    claimed = await _client().eval(
        _CLAIM, 1, _key(user_id), now, now + SOCKET_LEASE, channel, limit, SOCKET_LEASE
    )
    return bool(claimed)


async def release_socket(user_id: int, channel: str) -> None:
    if not broadcast.multi_process():
        _local.get(user_id, set()).discard(channel)
        return
    await _client().zrem(_key(user_id), channel)


def too_many_sockets() -> Limited:
    return Limited(
        "too_many_sockets",
        f"This account has {settings.CHAT_USER_MAX_SOCKETS} pages of this site open, the "
        "most it may. Close one, then reload this page.",
        retry_after=SOCKET_RENEW,
    )
