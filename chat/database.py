"""Database work called from async code: where it runs.

Channels' `database_sync_to_async` runs every call on one thread. On SQLite that is what the
database wants: it takes one writer at a time. On PostgreSQL half of that thread's time was
waiting for the server's answers, and every socket's handshake and every reply's start
queued behind all the others: at 200 streams starting over 10 seconds, 9 to 11 s from a
message sent to its first token at the median, tokens held up to 7 s, and handshakes that
timed out (docs/benchmarks.md, "Database threads"). There the calls run on a pool of
CHAT_DATABASE_THREADS threads, each with its own connection. Each call is still one whole
unit on one thread (its transaction, its locks), and what one task awaits in turn still
runs in turn; two tasks' calls may run at once, as they already may in two processes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels import auth
from channels.db import DatabaseSyncToAsync
from django.conf import settings

_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:  # its threads start with the first calls
        _pool = ThreadPoolExecutor(settings.CHAT_DATABASE_THREADS, "database")
    return _pool


def database_sync_to_async(func: Callable) -> Callable:
    """`func`, to be awaited: run on the database's thread, or on one of its threads.

    Like Channels' own, it closes connections that broke or outlived CONN_MAX_AGE before
    and after each call; `.func` is the function itself.
    """
    if settings.CHAT_DATABASE_THREADS == 1:
        return DatabaseSyncToAsync(func)
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_threads())


class AuthMiddleware(auth.AuthMiddleware):
    """Channels' AuthMiddleware, reading the socket's user on the database's threads."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await _get_user(scope)


_get_user = database_sync_to_async(auth.get_user.func)
