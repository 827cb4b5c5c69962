"""A websocket opens only from the site's own origin (scheme, host and port), or a trusted one.

Every socket here carries alice's session cookie, as a browser would add it: the cookie rides
along to any port and scheme of the same host, so only the Origin check stands in the way.
"""

import http.server
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.conftest import session_cookie
from tests.live import close_context, create_user, free_port, log_in, start_site

# Not module-wide: the browser test below must not hold the database from inside its event loop.
with_db = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.SECURE_PROXY_SSL_HEADER = None


async def opens(
    user, host: str | None, origin: str | None, *, scheme: str = "ws", extra=()
) -> bool:
    headers = [(b"cookie", f"sessionid={await sync_to_async(session_cookie)(user)}".encode())]
    if host is not None:
        headers.append((b"host", host.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra]
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


SAME_ORIGIN = [
    ("localhost", "http://localhost"),
    ("localhost:8000", "http://localhost:8000"),
    ("127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("localhost", "http://localhost:80"),  # the default port, written out
    ("localhost:80", "http://localhost"),
    ("LOCALHOST:8000", "HTTP://LocalHost:8000"),  # scheme and host ignore case
    ("[::1]:8000", "http://[::1]:8000"),
    ("[::1]", "http://[::1]"),
    ("chat.example.com", "http://chat.example.com"),
]


@with_db
@pytest.mark.parametrize(("host", "origin"), SAME_ORIGIN)
async def test_a_page_of_the_sites_own_origin_opens_a_socket(alice, host, origin):
    assert await opens(alice, host, origin)


@with_db
async def test_over_tls_the_own_origin_is_https(alice):
    assert await opens(alice, "localhost", "https://localhost", scheme="wss")
    assert await opens(alice, "localhost:8443", "https://localhost:8443", scheme="wss")
    assert not await opens(alice, "localhost", "http://localhost", scheme="wss")
    assert not await opens(alice, "localhost:8443", "https://localhost", scheme="wss")


REFUSED = [
    # another port of the same host: the attack that worked
    ("localhost:8000", "http://localhost:8001"),
    ("localhost", "http://localhost:8000"),
    ("localhost:8000", "http://localhost"),
    ("127.0.0.1:8000", "http://127.0.0.1:9000"),
    ("[::1]:8000", "http://[::1]:8001"),
    ("[::1]:8000", "http://[::1]"),
    # another scheme
    ("localhost:8000", "https://localhost:8000"),
    ("localhost", "https://localhost"),
    ("localhost", "ws://localhost"),
    ("localhost", "file://"),
    # another host, even one the site also answers to
    ("localhost", "http://evil.example"),
    ("localhost:8000", "http://127.0.0.1:8000"),
    ("[::1]:8000", "http://127.0.0.1:8000"),
    ("127.0.0.1:8000", "http://[::1]:8000"),
    # subdomains, parent domains, look-alikes
    ("chat.example.com", "http://evil.chat.example.com"),
    ("chat.example.com", "http://example.com"),
    ("localhost", "http://sub.localhost"),
    ("localhost", "http://localhost.evil.example"),
    ("localhost", "http://localhostevil"),
    # not an origin at all: browsers never send these shapes
    ("localhost", "null"),
    ("localhost", ""),
    ("localhost", "http://localhost/"),
    ("localhost", "http://localhost/ws/chat/"),
    ("localhost", "http://localhost?x"),
    ("localhost", "localhost"),
    ("localhost", "http://localhost:99999"),
    ("localhost", "http://localhost:0"),
    ("localhost", "http://[::1"),
    # user info tricks
    ("localhost", "http://localhost@evil.example"),
    ("localhost", "http://evil.example@localhost"),
    ("localhost", "http://localhost:80@evil.example"),
    ("localhost", "http://user:pass@localhost"),
    # a host the site does not serve, even when the origin matches it (DNS rebinding)
    ("evil.example:8000", "http://evil.example:8000"),
    ("evil.localhost", "http://evil.localhost"),
]


@with_db
@pytest.mark.parametrize(("host", "origin"), REFUSED)
async def test_a_page_of_any_other_origin_is_refused(alice, host, origin):
    assert not await opens(alice, host, origin)


@with_db
async def test_a_socket_with_no_origin_is_refused(alice):
    assert not await opens(alice, "localhost", None)


@with_db
async def test_a_socket_with_no_host_is_refused(alice):
    assert not await opens(alice, None, "http://localhost")


@with_db
async def test_a_socket_with_two_origins_is_refused(alice):
    assert not await opens(
        alice, "localhost", "http://localhost", extra=[("origin", "http://evil.example")]
    )


@with_db
async def test_without_allowed_hosts_debug_allows_only_local_names(alice, settings):
    settings.ALLOWED_HOSTS = []
    settings.DEBUG = True
    assert await opens(alice, "localhost:8000", "http://localhost:8000")
    assert not await opens(alice, "evil.example:8000", "http://evil.example:8000")
    settings.DEBUG = False
    assert not await opens(alice, "localhost:8000", "http://localhost:8000")


# --- Behind a proxy ----------------------------------------------------------------------


FORWARDED_HTTPS = [("x-forwarded-proto", "https")]


@with_db
async def test_behind_a_tls_proxy_the_https_origin_opens_when_the_proxy_header_is_trusted(
    alice, settings
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await opens(alice, "chat.example.com", "https://chat.example.com", extra=FORWARDED_HTTPS)
    assert not await opens(
        alice, "chat.example.com", "http://chat.example.com", extra=FORWARDED_HTTPS
    )
    # As Django reads it for HTTP requests: the first value of a list counts.
    assert await opens(
        alice,
        "chat.example.com",
        "https://chat.example.com",
        extra=[("x-forwarded-proto", "https, http")],
    )
    assert not await opens(
        alice,
        "chat.example.com",
        "https://chat.example.com",
        extra=[("x-forwarded-proto", "http")],
    )


@with_db
async def test_a_forwarded_proto_header_is_ignored_unless_the_setting_trusts_it(alice):
    assert not await opens(
        alice, "chat.example.com", "https://chat.example.com", extra=FORWARDED_HTTPS
    )
    assert await opens(alice, "chat.example.com", "http://chat.example.com", extra=FORWARDED_HTTPS)


@with_db
async def test_a_trusted_origin_opens_behind_a_proxy_that_rewrites_the_host(alice, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    # The proxy forwards to 127.0.0.1:8000 with its own Host: only the trusted list matches.
    assert await opens(alice, "127.0.0.1:8000", "https://chat.example.com", extra=FORWARDED_HTTPS)
    for origin in (
        "http://chat.example.com",
        "https://chat.example.com:8443",
        "https://evil.chat.example.com",
        "https://chat.example.com.evil.example",
        "https://chat.example.com/",
    ):
        assert not await opens(alice, "127.0.0.1:8000", origin, extra=FORWARDED_HTTPS), origin


@with_db
async def test_a_wildcard_trusted_origin_trusts_no_socket(alice, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    assert not await opens(alice, "127.0.0.1:8000", "https://chat.example.com")


# --- In a real browser -------------------------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>waiting</title><script>
const socket = new WebSocket("ws://127.0.0.1:{port}/ws/chat/");
socket.onopen = () => {{ document.title = "opened"; }};
socket.onclose = () => {{ if (document.title !== "opened") document.title = "refused"; }};
</script>"""


@pytest.fixture
def attacker_site(request):
    """A page on another port of the same host, whose script opens the chat's socket."""
    port = free_port()
    page = {"body": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page["body"])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", page
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_in_chromium_a_page_on_another_port_cannot_open_the_socket(
    browser, tmp_path, attacker_site
):
    site = start_site(tmp_path, {})
    context = browser.new_context()
    try:
        create_user(site, "alice", "alice-password-1")
        page = context.new_page()
        log_in(page, site)
        # The site's own page can open it: the check below would see an open socket.
        assert (
            page.evaluate(
                """() => new Promise((resolve) => {
                const socket = new WebSocket(location.origin.replace("http", "ws") + "/ws/chat/");
                socket.onopen = () => { socket.close(); resolve("opened"); };
                socket.onclose = () => resolve("refused");
            })"""
            )
            == "opened"
        )

        url, attack = attacker_site
        attack["body"] = ATTACK_PAGE.format(port=site.url.rsplit(":", 1)[1]).encode()
        page.goto(url + "/")
        page.wait_for_function("document.title !== 'waiting'", timeout=10_000)
        assert page.title() == "refused"
        assert "Websocket refused: origin ['http://127.0.0.1:" in site.log.read_text()
    finally:
        close_context(context)
        site.stop()
