"""A fast fake OpenAI-compatible provider for load benchmarks (bench/load.py).

A raw asyncio HTTP/1.1 server (one asyncio.Protocol per connection, keep-alive, chunked
responses) that answers `POST /v1/chat/completions` with `stream: true` the way OpenAI
does: a role chunk, then one `data:` chunk per token, then a chunk with finish_reason
"stop", a usage chunk and `data: [DONE]`. Tokens are paced by timers on the event loop
(token k is due at the request's arrival + k / rate, never bunched to catch up with a late
tick: a late token is sent when its timer fires and its real send time is what counts).

What to stream comes from the last message's text, which must hold
`bench:KEY:SEED:TOKENS:RATE`: TOKENS tokens of `tokens_for(SEED, TOKENS)` at RATE tokens
per second. The send time (`time.monotonic()`, CLOCK_MONOTONIC, comparable across
processes on Linux) of every token is kept under KEY; `GET /bench/times` answers them all
as JSON, `{KEY: [t0, t1, ...]}`, and forgets them.

    python bench/fake_provider.py --port 0     # prints "PORT <n>" once it listens
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time

# --- the tokens ----------------------------------------------------------------------------

# Words a model writes, with their leading space the way BPE tokenizers cut them: short
# common ones most of the time, longer ones less often.
_SHORT = str.split("the of and to a in is that for it as with on be by this are or at an we so if")
_LONG = str.split(
    "model data time first system value request server stream process memory function example "
    "result number because however between response network python database query latency "
    "connection browser message question answer simple different"
)
# Pieces of words: long words come in several tokens.
_PIECES = ["ing", "ed", "ly", "tion", "er", "es", "ment", "able", "al", "ize", "ous", "s"]
# Markdown and punctuation as models stream them.
_MARKUP = [
    ".",
    ",",
    ":",
    "\n\n",
    "\n",
    "\n- ",
    "\n\n## ",
    "**",
    " `",
    "`",
    "(",
    ")",
    " —",
    "\n```python\n",
    "\n```\n",
    " 42",
    " 2024",
    " é",
    " 🙂",
]


def tokens_for(seed: int, count: int) -> list[str]:
    """The `count` tokens of stream `seed`: the same list in every process, ~4 characters
    on average (words with their leading space, word pieces, markdown, a few non-ASCII
    characters, one in ~200 an emoji, which is two UTF-16 code units)."""
    rng = random.Random(seed)
    tokens = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.50:
            tokens.append(" " + rng.choice(_SHORT))
        elif roll < 0.68:
            tokens.append(" " + rng.choice(_LONG))
        elif roll < 0.84:
            tokens.append(rng.choice(_PIECES))
        else:
            tokens.append(rng.choice(_MARKUP))
    return tokens


PROMPT = re.compile(r"bench:([\w.-]+):(\d+):(\d+):([\d.]+)")


def prompt_for(key: str, seed: int, tokens: int, rate: float) -> str:
    """The message text that asks this provider for a stream."""
    return f"Write something long. bench:{key}:{seed}:{tokens}:{rate:g}"


# --- the wire ------------------------------------------------------------------------------

_HEAD = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
_HEAD += b'"model":"bench-model","system_fingerprint":"fp_bench","choices":'


def _event(choices: str, extra: str = "") -> bytes:
    data = _HEAD + choices.encode() + extra.encode() + b"}\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)  # one HTTP chunk per event


def _token_event(text: str) -> bytes:
    content = json.dumps(text)
    return _event(
        f'[{{"index":0,"delta":{{"content":{content}}},"logprobs":null,"finish_reason":null}}]'
    )


ROLE = _event('[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
              '"finish_reason":null}]')  # fmt: skip
FINISH = _event('[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]')
DONE_CHUNK = b"data: [DONE]\n\n"
DONE = b"%x\r\n%s\r\n0\r\n\r\n" % (len(DONE_CHUNK), DONE_CHUNK)
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\ncache-control: no-cache\r\nconnection: keep-alive\r\n\r\n"
)


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    ).encode() + body


class Provider:
    """What the server holds across connections: the send times of every stream."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.streams = 0
        self.cache: dict[str, bytes] = {}  # token text -> its event: tokens repeat a lot

    def event(self, text: str) -> bytes:
        data = self.cache.get(text)
        if data is None:
            data = self.cache[text] = _token_event(text)
        return data


class Connection(asyncio.Protocol):
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.streaming = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while not self.streaming and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = head[0].split(" ", 2)
            self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        if method == "GET" and path.startswith("/bench/times"):
            times, self.provider.times = self.provider.times, {}
            self.transport.write(_response("200 OK", json.dumps(times).encode()))
        elif method == "POST" and path.endswith("/chat/completions"):
            self.start_stream(body)
        else:
            self.transport.write(_response("404 Not Found", b'{"error":{"message":"no"}}'))

    def start_stream(self, body: bytes) -> None:
        try:
            request = json.loads(body)
            text = request["messages"][-1]["content"]
            key, seed, count, rate = PROMPT.search(text).groups()
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            message = b'{"error":{"message":"not a bench prompt","type":"invalid_request"}}'
            self.transport.write(_response("400 Bad Request", message))
            return
        self.streaming = True
        self.provider.streams += 1
        self.tokens = [self.provider.event(token) for token in tokens_for(int(seed), int(count))]
        self.sent: list[float] = []
        self.provider.times[key] = self.sent
        self.interval = 1 / float(rate)
        self.start = self.loop.time()
        self.transport.write(STREAM_HEAD + ROLE)
        self.send_token()

    def send_token(self) -> None:
        if self.transport is None:
            return
        index = len(self.sent)
        self.transport.write(self.tokens[index])
        self.sent.append(time.monotonic())
        if index + 1 < len(self.tokens):
            due = self.start + (index + 1) * self.interval
            self.timer = self.loop.call_at(due, self.send_token)
        else:
            self.timer = None
            count = len(self.tokens)
            usage = f',"usage":{{"prompt_tokens":12,"completion_tokens":{count},'
            usage += f'"total_tokens":{count + 12}}}'
            self.transport.write(FINISH + _event("[]", usage) + DONE)
            self.streaming = False
            if self.buffer:  # a pipelined request: serve it now
                self.data_received(b"")


async def serve(host: str, port: int) -> None:
    provider = Provider()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(provider), host, port, backlog=4096, reuse_address=True
    )
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
