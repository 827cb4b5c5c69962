"""Long work on the event loop, in slices.

Every socket and every reply of the process shares one event loop, so a job that goes on
for megabytes (a snapshot of a long reply, a long history) pauses every SLICE to let the
others run: no user's reply, frame or history holds the loop for more than 20 ms
(docs/security.md). A pause costs one trip through the loop, so work that is short never
pauses at all.
"""

from __future__ import annotations

import asyncio

from chat.providers.network import yield_to_others

# Several sliced jobs may run in one turn of the loop (a snapshot beside a reply's own
# events and frames), and the 20 ms rule is for the turn: 5 ms slices summed past it on
# this machine (tests/test_security_event_loop.py::test_a_late_socket_on_a_5_mb_reply).
SLICE = 0.002  # seconds of work between two pauses


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
