"""A real daphne serving the site, started as its own process, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveSite:
    url: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def manage(self, *args: str, stdin: str | None = None) -> str:
        return manage(self.env, *args, stdin=stdin)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def start_site(workdir: Path, extra_env: dict[str, str]) -> LiveSite:
    """Migrate a fresh database, collect static files, and start daphne with DEBUG off."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "CHAT_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env |= {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "live-test-secret-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Production settings, but served over plain http on 127.0.0.1 (see the README).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "STATIC_ROOT": str(workdir / "static"),
        "CHAT_FRAME_INTERVAL": "0.05",
        "CHAT_DEMO_DELAY": "0.02",
        "CHAT_MODEL_TITLES": "false",  # tests script every upstream request
        **extra_env,
    }
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    log = workdir / "daphne.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "chatsite.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    site = LiveSite(url=f"http://127.0.0.1:{port}", env=env, process=process, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return site
        except OSError:
            time.sleep(0.1)
    site.stop()
    raise RuntimeError(f"daphne did not start:\n{log.read_text()}")


def create_user(site: LiveSite, username: str, password: str, *, staff: bool = False) -> None:
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; import sys; U = get_user_model(); "
        f"U.objects.{'create_superuser' if staff else 'create_user'}"
        f"({username!r}, password={password!r})",
    )


def log_in(
    page, site: LiveSite, username: str = "alice", password: str = "alice-password-1"
) -> None:
    """Log in through the login form, as a person would."""
    page.goto(site.url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(site.url + "/")


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


@contextmanager
def browser_page(browser, **options):
    """A page in a browser context of its own (its own cookies), 1200 by 800 unless `options`
    say otherwise, noting the page's script errors in `page.errors`."""
    context = browser.new_context(**({"viewport": {"width": 1200, "height": 800}} | options))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    try:
        yield page
    finally:
        close_context(context)


def close_context(context) -> None:
    """Close a browser context once its pages have stopped what they were doing.

    Each page is first sent to about:blank, within Playwright's own timeout: a navigation
    still loading ends, and so does the page's socket to the site, which would otherwise
    count against the next test's per-user limit until the close. Closing contexts whose
    pages were still busy (just redirected by a logout, or refused a socket) hung twice
    in 7 December's CI runs, until pytest-timeout failed the test 600 s later.
    """
    from playwright.sync_api import Error

    for page in context.pages:
        # A page that crashed or closed meanwhile raises: closing the context still ends it.
        with suppress(Error):
            page.goto("about:blank", timeout=10_000)
    context.close()


@contextmanager
def running_site(workdir: Path, env: dict[str, str], users: tuple[str, ...] = ("alice",)):
    """A site started on `env` with these users (each's password: `<name>-password-1`),
    stopped afterwards."""
    live = start_site(workdir, env)
    try:
        for name in users:
            create_user(live, name, f"{name}-password-1")
        yield live
    finally:
        live.stop()
