"""The demo model, for a site with no provider configured: this very server answers at
/demo/v1 (chat/demo.py), in OpenAI's protocol, through the same client code."""

from __future__ import annotations

from chat.providers.http import Upstream


def upstream(server: tuple[str, int] | None = None) -> Upstream:
    """This server's demo endpoint; `server` is the address this server listens on."""
    host, port = server or ("127.0.0.1", 8000)
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - a bind-all address, reached via loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return Upstream(base_url=f"http://{host}:{port}/demo/v1", kind="openai")
