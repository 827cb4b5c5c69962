"""Long work on the event loop, in slices.

Every socket and every reply of the process shares one event loop, so a job that goes on
for megabytes (a snapshot of a long reply, a long history) pauses every SLICE to let the
others run: no user's reply, frame or history holds the loop for more than 20 ms
(docs/security.md). A pause costs one trip through the loop, so work that is short never
pauses at all.
"""

from __future__ import annotations

import asyncio

# Several sliced jobs may run in one turn of the loop (a snapshot beside a reply's own
# events and frames), and the 20 ms rule is for the turn: 5 ms slices summed past it on
# this machine (tests/test_security_event_loop.py::test_a_late_socket_on_a_5_mb_reply).
SLICE = 0.002  # seconds of work between two pauses


async def yield_to_others() -> None:
    """Let everything else that is ready run before this task goes on: other tasks, and
    the sockets' data and the timers that came due while it ran.

    `asyncio.sleep(0)` does not do that: the loop runs a task it puts back before the
    sockets and timers of its next turn, so two slices of one job could run back to back,
    and a frame or a timer waited for both (a 2.5 times slower machine measured 20-25 ms in
    tests/test_security_event_loop.py). A timer of no length comes after all of those.
    """
    await asyncio.sleep(_AFTER_THE_REST)


_AFTER_THE_REST = 1e-9  # seconds: a timer, so the loop runs it after its sockets and timers


class Slices:
    """Counts the time a task has run since it last let the others run."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._began = self._loop.time()

    async def pause(self) -> None:
        """Let the other tasks run, if this one has had its slice."""
        if self._loop.time() - self._began > SLICE:
            await yield_to_others()
            self._began = self._loop.time()
