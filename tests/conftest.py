import gc
import os
import shutil

import pytest
from django.test import Client

from tests.live import close_context
from tests.upstream_server import FakeUpstream

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_finish(session) -> None:
    """Freeze what collecting made, as chatsite/asgi.py freezes what a server's startup
    makes: otherwise every full garbage collection would walk the test runner's own objects,
    and the event-loop tests would measure pytest rather than the site."""
    gc.collect()
    gc.freeze()


def require_service(available: bool, reason: str) -> None:
    """Skip locally with a reason when a service is missing; in CI, fail instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be present)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def fast_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CHAT_FRAME_INTERVAL = 0.01
    settings.CHAT_CHECKPOINT_INTERVAL = 0.2
    settings.CHAT_IDLE_TIMEOUT = 3.0
    settings.CHAT_MODEL_TITLES = False  # its own tests turn it on: it is one more request
    # Tests run many replies as one user; the limits' own tests set them low.
    settings.CHAT_USER_MAX_REPLIES = 1000
    settings.CHAT_USER_MESSAGES_PER_MINUTE = 1000
    settings.CHAT_USER_MAX_SOCKETS = 1000
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 1000
    settings.CHAT_SOCKET_FRAME_BURST = 1000
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return settings


@pytest.fixture
def upstream(settings):
    server = FakeUpstream().start()
    settings.CHAT_DEMO_MODE = False
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "sk-test-key"
    settings.CHAT_MODEL = "test-model"
    yield server
    server.close()


@pytest.fixture(scope="module")
def live_upstream():
    """One upstream server for a module of tests against a live daphne."""
    server = FakeUpstream().start()
    yield server
    server.close()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def bob(django_user_model):
    """The user who must NOT see alice's conversations."""
    return django_user_model.objects.create_user("bob", password="bob-password")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture(autouse=True)
def forget_replies():
    """Each test starts with no reply registered as running in this process."""
    from chat import running

    yield
    running.clear()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Module scope, not session: while Playwright's sync API runs it holds an event loop in
# this thread, which the asyncio tests of later modules could not start beside.
@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    chromium = shutil.which("chromium")
    require_service(
        chromium is not None, "Debian's chromium is not installed (apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A page of its own in Chromium, noting its script errors in `page.errors`."""
    from tests.live import browser_page

    with browser_page(browser) as page:
        yield page


@pytest.fixture(scope="module")
def render_page(browser):
    """A Chromium page with the site's renderer loaded as `window.harness`."""
    from tests.harness.static_site import StaticSite

    site = StaticSite().start()
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(site.url + "/tests/harness/render.html")
    page.wait_for_function("window.harnessReady === true")
    yield page
    close_context(context)
    site.close()
