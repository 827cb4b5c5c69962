"""Which pages may open a websocket: the site's own origin (scheme, host and port), or a
trusted one.

Channels' AllowedHostsOriginValidator compares host names only, so a page on another port of
the same host, or on http:// instead of https://, could open the socket with the user's
cookie (SameSite ignores ports and schemes). Here the Origin must equal the origin the
browser used to reach this server: ws/wss as http/https (SECURE_PROXY_SSL_HEADER honoured
behind a TLS-terminating proxy), the Host header, with that host in ALLOWED_HOSTS; or be
listed exactly in CSRF_TRUSTED_ORIGINS.
"""

from __future__ import annotations

import logging
import re

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger("chat.origins")

# A serialised origin as browsers send it: scheme, host, optional port; nothing else (no
# user info, path, query or trailing slash). Host names as Django's own host check allows.
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9.-]+|\[[a-f0-9:.]+\])(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def parse_origin(text: str) -> Origin | None:
    """(scheme, host, port) in lower case with the default port filled in; None if `text`
    is not exactly an http(s) origin."""
    match = _ORIGIN.fullmatch(text)
    if match is None:
        return None
    scheme, host = match["scheme"].lower(), match["host"].lower()
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        return None
    return scheme, host, port


def origin_allowed(scope: dict) -> bool:
    """Whether a websocket handshake's Origin is this site's own or a trusted one."""
    origins = _header_values(scope, b"origin")
    if len(origins) != 1:
        return False  # none (not a browser), or ambiguous
    origin = parse_origin(origins[0])  # "null" (sandboxed or file: pages) does not parse
    if origin is None:
        return False
    if origin in _trusted_origins():
        return True
    return origin == _own_origin(scope)


def _own_origin(scope: dict) -> Origin | None:
    """The origin the browser reached this server at, if its host is one of ALLOWED_HOSTS."""
    hosts = _header_values(scope, b"host")
    if len(hosts) != 1:
        return None
    domain, _port = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return parse_origin(f"{_http_scheme(scope)}://{hosts[0]}")


def _http_scheme(scope: dict) -> str:
    """https when the socket came over TLS, here or (SECURE_PROXY_SSL_HEADER) at a proxy."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        values = _header_values(scope, header)
        if values:
            # As Django reads it for HTTP requests: the first of a comma-separated list.
            return "https" if values[0].split(",", 1)[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") == "wss" else "http"


def _allowed_hosts() -> list[str]:
    # As Django does for HTTP: with DEBUG on and no hosts set, local names are allowed.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def _trusted_origins() -> set[Origin]:
    # Exact origins only: a wildcard entry (https://*.example.com) trusts no socket.
    return {o for o in map(parse_origin, settings.CSRF_TRUSTED_ORIGINS) if o is not None}


def _header_values(scope: dict, name: bytes) -> list[str]:
    return [
        value.decode("latin-1").strip()
        for header, value in scope.get("headers", [])
        if header.lower() == name
    ]


class SameOriginValidator:
    """ASGI middleware: a websocket from any other origin is refused before it is accepted
    (the browser sees the handshake fail with 403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            logger.warning(
                "Websocket refused: origin %s is not this site's (host %s)",
                _header_values(scope, b"origin") or "missing",
                _header_values(scope, b"host") or "missing",
            )
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
