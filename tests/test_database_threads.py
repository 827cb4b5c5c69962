"""Where database work called from async code runs (chat/database.py): on SQLite, every call
on the one database thread; on a database server, on a pool of threads whose calls overlap."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chat import database

# Each call closes its thread's broken or old connections (as Channels' does), which counts
# as database access.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threads(settings, monkeypatch):
    """Set CHAT_DATABASE_THREADS for the calls wrapped afterwards, with a pool of its own."""
    monkeypatch.setattr(database, "_pool", None)

    def use(count: int) -> None:
        settings.CHAT_DATABASE_THREADS = count

    yield use
    if database._pool is not None:
        database._pool.shutdown(wait=False)


def thread_name() -> str:
    return threading.current_thread().name


async def names_of_threads(calls: int) -> list[str]:
    return await asyncio.gather(
        *(database.database_sync_to_async(thread_name)() for _ in range(calls))
    )


async def test_with_one_thread_every_call_runs_on_the_same_thread_off_the_loop(threads):
    threads(1)
    names = await names_of_threads(6)
    assert len(set(names)) == 1
    assert names[0] != threading.current_thread().name


async def test_with_several_threads_calls_run_at_once(threads):
    threads(3)
    # Three calls that each wait for the other two: on one thread the first would wait out
    # the barrier's timeout and break it.
    barrier = threading.Barrier(3, timeout=10)
    wait = database.database_sync_to_async(barrier.wait)
    await asyncio.gather(wait(), wait(), wait())
    names = await names_of_threads(6)
    assert all(name.startswith("database") for name in names)


async def test_a_call_that_waits_holds_up_neither_the_loop_nor_the_other_threads(threads):
    threads(2)
    release = threading.Event()
    stuck = asyncio.ensure_future(database.database_sync_to_async(release.wait)())
    try:
        # The other thread answers while the first is still waiting.
        assert await asyncio.wait_for(database.database_sync_to_async(thread_name)(), 5)
        assert not stuck.done()
    finally:
        release.set()
        await stuck


async def test_a_wrapped_function_keeps_the_function_itself_as_func():
    from chat import sessions

    # bench/begin.py and tests call the wrapped functions directly, on their own thread.
    assert callable(sessions.still_valid.func)
    assert await sessions.still_valid(None, 1) is False
