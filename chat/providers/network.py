"""httpx on plain asyncio sockets, for the long streams read from model providers.

httpx reaches the network through httpcore, whose default backend on asyncio is anyio.
anyio pays per read for a cancel scope and for pausing and resuming the socket's reading
(two epoll calls), and a provider's stream is one small read per token: at a few hundred
streams that was the largest cost of a whole server process (docs/benchmarks.md). Here the
transport keeps reading on its own into a buffer, and a read that finds data there returns
it at once, with no timer and no wake-up.
Everything above the socket (HTTP/1.1, pooling, TLS settings, timeouts) stays httpx's.
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar

import httpcore
import httpx

_HIGH_WATER = 1 << 20  # bytes buffered before the socket's reading is paused

# What the task reading a stream does just before it waits for more (AsyncioStream.read).
# A reply's task sends the frame its tokens made due (chat/generation.py): after the last
# token a read brought, so that tokens read together go in one frame, and before the task
# sleeps, so that no turn of the loop comes between the tokens and their frame.
before_waiting: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar(
    "before_waiting", default=None
)


_AFTER_THE_REST = 1e-9  # seconds: a timer, so the loop runs it after its sockets and timers


async def yield_to_others() -> None:
    """Let everything else that is ready run before this task goes on: other tasks, and
    the sockets' data and the timers that came due while it ran.

    `asyncio.sleep(0)` does not do that: the loop runs a task it puts back before the
    sockets and timers of its next turn, so two slices of one job could run back to back,
    and a frame or a timer waited for both (a 2.5 times slower machine measured 20-25 ms in
    tests/test_security_event_loop.py). A timer of no length comes after all of those.
    """
    await asyncio.sleep(_AFTER_THE_REST)


class _Reading(asyncio.Protocol):
    """What the socket has sent and not yet been read, and one reader waiting for more."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future | None = None
        self.paused = False
        self.transport: asyncio.Transport | None = None
        self.drained: asyncio.Future | None = None  # set while writing waits on the socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """A connection's socket, read and written with asyncio's own transport.

    A read that finds data returns it at once; only a read that must wait arms a timer,
    and that timer is one per connection, moved on only when it fires early.
    """

    def __init__(self, transport: asyncio.Transport, reading: _Reading) -> None:
        self._transport, self._reading = transport, reading
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0
        self._timeout: float | None = None
        self._timed_out = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        reading = self._reading
        if not reading.buffer and not reading.eof:
            hook = before_waiting.get()
            if hook is not None:
                await hook()
            if not reading.buffer and not reading.eof:
                await self._wait(timeout)
        if not reading.buffer:
            if reading.error is not None:
                raise httpcore.ReadError(str(reading.error))
            return b""
        data = bytes(reading.buffer[:max_bytes])
        del reading.buffer[:max_bytes]
        if reading.paused and len(reading.buffer) <= _HIGH_WATER // 4:
            reading.paused = False
            self._transport.resume_reading()
        return data

    async def _wait(self, timeout: float | None) -> None:
        waiter = self._reading.waiter = self._loop.create_future()
        self._waiting_since, self._timeout, self._timed_out = self._loop.time(), timeout, False
        if timeout is not None and self._timer is None:
            self._timer = self._loop.call_at(self._waiting_since + timeout, self._check_timeout)
        try:
            await waiter
        except asyncio.CancelledError:
            if self._timed_out:
                raise httpcore.ReadTimeout from None
            raise
        finally:
            self._reading.waiter = None

    def _check_timeout(self) -> None:
        """The connection's one timer: it ends a read that waited too long, and otherwise
        moves on to when the read now waiting would have waited too long."""
        self._timer = None
        waiter = self._reading.waiter
        if waiter is None or waiter.done() or self._timeout is None:
            return  # nobody is waiting: the next wait arms it again
        deadline = self._waiting_since + self._timeout
        if self._loop.time() >= deadline:
            self._timed_out = True
            waiter.cancel()
        else:
            self._timer = self._loop.call_at(deadline, self._check_timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        drained = self._reading.drained
        if drained is not None:
            try:
                async with asyncio.timeout(timeout):
                    await drained
            except TimeoutError:
                raise httpcore.WriteTimeout from None

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(
                    self._transport, self._reading, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout from None
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        self._reading.transport = transport
        return AsyncioStream(transport, self._reading)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # Asked of an idle pooled connection: readable means the server closed it or
            # sent what nobody asked for; either way it cannot be used again.
            return self._reading.eof or bool(self._reading.buffer)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, reading = await loop.create_connection(
                    _Reading, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, reading)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[tuple] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, reading = await loop.create_unix_connection(_Reading, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return AsyncioStream(transport, reading)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool on AsyncioBackend."""

    def __init__(self, *, limits: httpx.Limits = httpx.Limits(), **kwargs) -> None:  # noqa: B008
        super().__init__(limits=limits, **kwargs)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context,  # the one httpx made from `verify`
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )
