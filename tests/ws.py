"""Drive the real ASGI application's websocket the way the browser does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.conftest import session_cookie


class Frames:
    """Reads what a socket receives as the page does (static/chat/socket.js): JSON, or a
    text-only frame sent as its text alone, which goes on from the text-only frame before."""

    def __init__(self) -> None:
        self.continues: tuple[int, int, int] | None = None  # message, seq, where text ends
        self.binary = 0  # how many came as text alone

    def read(self, raw: str | bytes) -> dict:
        if isinstance(raw, bytes):
            assert self.continues is not None, "text alone with no text-only frame before it"
            self.binary += 1
            message, seq, end = self.continues
            frame = {"type": "frame", "message": message, "offset": end, "text": raw.decode()}
            frame["seq"] = seq + 1
        else:
            frame = json.loads(raw)
        if frame.get("type") == "frame":
            text_only = frame.keys() == {"type", "message", "offset", "text", "seq"}
            self.continues = (
                (frame["message"], frame["seq"], frame["offset"] + utf16_length(frame["text"]))
                if text_only
                else None
            )
        return frame


class Socket:
    """`compact`: ask for text-only frames as their text alone, as the page does; `recv`
    turns each back into the frame it stands for, as the page does (static/chat/socket.js),
    and `binary` counts them."""

    def __init__(
        self, cookie: str | None, origin: str = "http://localhost", compact: bool = False
    ) -> None:
        headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        path = "/ws/chat/?frames=compact" if compact else "/ws/chat/"
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        # Only a compact socket needs the page's bookkeeping; the others read JSON as is.
        self.frames = Frames() if compact else None

    @property
    def binary(self) -> int:
        return self.frames.binary if self.frames else 0

    @classmethod
    async def open_as(cls, user, origin: str = "http://localhost", compact: bool = False) -> Socket:
        socket = cls(await sync_to_async(session_cookie)(user), origin, compact)
        connected, _ = await socket.communicator.connect()
        assert connected, "the socket was refused"
        return socket

    async def send(self, frame: dict) -> None:
        await self.communicator.send_json_to(frame)

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def recv(self, timeout: float = 5) -> dict:
        if self.frames is None:
            return await self.communicator.receive_json_from(timeout=timeout)
        return self.frames.read(await self.communicator.receive_from(timeout=timeout))

    async def recv_until(self, predicate, timeout: float = 10) -> list[dict]:
        """Every frame up to and including the first that matches."""
        frames = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                frames.append(frame)
                if predicate(frame):
                    return frames

    async def recv_reply_end(self, timeout: float = 10) -> list[dict]:
        return await self.recv_until(lambda f: f["type"] == "frame" and "status" in f, timeout)

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class ReplyView:
    """The browser's copy of one reply, built by applying frames as docs/protocol.md says."""

    text: str = ""
    tools: dict[int, dict] = field(default_factory=dict)
    last_seq: int = 0
    status: str = "streaming"
    error: str = ""
    applied: int = 0

    @classmethod
    def of(cls, events: list[dict]) -> ReplyView:
        """The reply as a page shows it once these events are in (other events skipped)."""
        view = cls()
        for frame in frames_of(events):
            view.apply(frame)
        return view

    def apply(self, frame: dict) -> None:
        if frame["seq"] <= self.last_seq:
            return
        if "text" in frame:
            self.text = _continue(self.text, frame["offset"], frame["text"])
        for change in frame.get("tools", []):
            call = self.tools.setdefault(change["index"], {"arguments": ""})
            for name, value in change.items():
                if name == "arguments" and "arguments_offset" in change:
                    call["arguments"] = _continue(
                        call["arguments"], change["arguments_offset"], value
                    )
                elif name != "arguments_offset":
                    call[name] = value  # a snapshot sends whole arguments, with no offset
        if "status" in frame:
            self.status, self.error = frame["status"], frame["error"]
            assert frame["length"] == utf16_length(self.text), "the reply's text is incomplete"
        self.last_seq = frame["seq"]
        self.applied += 1


def _continue(held: str, offset: int, text: str) -> str:
    """`held` continued by `text` at `offset`, as the page does it: a gap is an error."""
    have = utf16_length(held)
    assert offset <= have, f"gap: text at {offset}, {have} held"
    overlap = (have - offset) * 2
    return held + text.encode("utf-16-le")[overlap:].decode("utf-16-le")


def frames_of(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "frame"]
