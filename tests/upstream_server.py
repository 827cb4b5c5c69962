"""A real local HTTP server that plays an OpenAI-compatible upstream, scripted per test.

Each request pops the next scripted `Reply` (or repeats the default) and records what was
asked, so tests can check the exact body the upstream received.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """What the upstream answers: a status, headers, then body pieces written one by one.

    A float in `body` is a pause in seconds; bytes are written and flushed at once.
    """

    body: list[bytes | float] = field(default_factory=list)
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] = field(default_factory=dict)


def chunk(
    delta: dict | None = None,
    *,
    finish_reason: str | None = None,
    index: int = 0,
    usage: dict | None = None,
) -> bytes:
    """One `data:` event holding a chat.completion.chunk."""
    payload: dict = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "test-model-2024",
        "choices": []
        if delta is None
        else [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        payload["usage"] = usage
    return f"data: {json.dumps(payload)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def text_reply(
    pieces: list[str], *, pause: float = 0.0, finish_reason: str = "stop", done: bool = True
) -> Reply:
    """A streamed text reply: one delta per piece, then finish, usage and [DONE]."""
    body: list[bytes | float] = [chunk({"role": "assistant", "content": ""})]
    for piece in pieces:
        if pause:
            body.append(pause)
        body.append(chunk({"content": piece}))
    body.append(chunk({}, finish_reason=finish_reason))
    body.append(chunk(None, usage=USAGE))
    if done:
        body.append(DONE)
    return Reply(body=body)


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        content_type="application/json",
        body=[json.dumps({"error": {"message": message, "type": "test_error"}}).encode()],
        headers=headers or {},
    )


class FakeUpstream:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = text_reply(["Hello", " there", "!"])
        self.requests: list[dict] = []
        self.client_gone = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                upstream.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                reply = upstream.replies.popleft() if upstream.replies else upstream.default
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                # No length: the body ends when the connection closes, as a stream does.
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for piece in reply.body:
                        if isinstance(piece, float):
                            time.sleep(piece)
                        else:
                            self.wfile.write(piece)
                            self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    upstream.client_gone.set()
                    return
                self.close_connection = True

        return Handler
