"""Model providers: how a reply is asked of a model and read back, whoever serves it.

Every provider is a module of this package with the same two functions:

    upstream(server) -> Upstream      where its API is and its key, from settings
    stream_completion(upstream, messages, model, assembler, tools) -> AsyncIterator[Progress]

Messages and tools go in, and the reply comes out (through the assembler), in OpenAI's
chat format whatever the provider speaks, so nothing outside this package knows which one
answered. Adding a provider (Google's Gemini, a llama.cpp quirk) means a module here and a
line in PROVIDERS. This module imports nothing at the top: the settings read PROVIDERS.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.providers.assembler import Progress, StreamAssembler
    from chat.providers.http import Upstream

# A CHAT_MODELS entry "name:model" is served by provider "name"; a bare one by "openai".
PROVIDERS = {
    "openai": "chat.providers.openai",
    "anthropic": "chat.providers.anthropic",
}
# With no provider configured, OpenAI-compatible models are the site's own demo.
DEMO = "chat.providers.demo"


def split_model(entry: str) -> tuple[str, str]:
    """A CHAT_MODELS entry as (provider, model). Only a known provider counts as a prefix,
    so Ollama's "llama3.1:8b" is one model name."""
    provider, _, name = entry.partition(":")
    if provider in PROVIDERS:
        return provider, name
    return "openai", entry


def module_for(model: str) -> ModuleType:
    """The provider module that serves `model`."""
    from django.conf import settings

    provider = settings.CHAT_MODEL_PROVIDERS.get(model, "openai")
    if provider == "openai" and settings.CHAT_DEMO_MODE:
        return importlib.import_module(DEMO)
    return importlib.import_module(PROVIDERS[provider])


def upstream_for(model: str, server: tuple[str, int] | None = None) -> Upstream:
    """Where to ask for `model`; `server` is this server's own address (for the demo)."""
    return module_for(model).upstream(server)


def stream_completion(
    upstream: Upstream,
    messages: list[dict],
    model: str,
    assembler: StreamAssembler,
    tools: list[dict] | None = None,
) -> AsyncIterator[Progress]:
    """Stream one completion from `upstream` in the protocol it speaks."""
    module = importlib.import_module(PROVIDERS[upstream.kind])
    return module.stream_completion(upstream, messages, model, assembler, tools)
