"""The floor the site is compared with in bench/load.py: the least a Channels app can do.

A bare Channels AsyncWebsocketConsumer under daphne, with no Django models, no auth, no
database and no coalescing: on a `send` frame it streams from the provider named by
RELAY_PROVIDER_URL with httpx (one AsyncClient per process, its pool sized by
RELAY_MAX_CONNECTIONS) and forwards every delta to the socket at once as
`{"type":"frame","message":0,"seq":…,"offset":…,"text":…}`, then a last frame with
`status`, `error` and `length`, the shape of the site's frames (docs/protocol.md), so the
same client measures both.

    RELAY_PROVIDER_URL=http://127.0.0.1:PORT/v1 daphne bench.minimal_relay:application
"""

from __future__ import annotations

import json
import os

import django
import httpx
from django.conf import settings

if not settings.configured:
    settings.configure(CHANNEL_LAYERS={})  # no channel layer: nothing crosses processes
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

PROVIDER_URL = os.environ.get("RELAY_PROVIDER_URL", "http://127.0.0.1:8900/v1")
MAX_CONNECTIONS = int(os.environ.get("RELAY_MAX_CONNECTIONS", "1000"))

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            timeout=httpx.Timeout(120, connect=10, pool=60),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
        )
    return _client


def encode(frame: dict) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class RelayConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None) -> None:
        frame = json.loads(text_data)
        if frame.get("type") != "send":
            return
        body = {
            "model": "bench-model",
            "messages": [{"role": "user", "content": frame["content"]}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        seq, offset, status, error = 0, 0, "complete", ""
        try:
            async with client().stream(
                "POST", f"{PROVIDER_URL}/chat/completions", json=body
            ) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"provider answered {response.status_code}")
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    choices = json.loads(data)["choices"]
                    text = choices[0]["delta"].get("content") if choices else None
                    if text:
                        seq += 1
                        await self.send(
                            text_data=encode(
                                {
                                    "type": "frame",
                                    "message": 0,
                                    "seq": seq,
                                    "offset": offset,
                                    "text": text,
                                }
                            )
                        )
                        offset += len(text.encode("utf-16-le")) // 2
        except Exception as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
        seq += 1
        await self.send(
            text_data=encode(
                {
                    "type": "frame",
                    "message": 0,
                    "seq": seq,
                    "status": status,
                    "error": error,
                    "length": offset,
                }
            )
        )


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/chat/", RelayConsumer.as_asgi())])}
)
