"""Login attempts are limited per account from one address and per address (django-axes),
and a locked-out person is told in words when to try again."""

import re
import time

import httpx
import pytest
from django.core.management import call_command
from django.test import Client

from tests.live import create_user, start_site

pytestmark = pytest.mark.django_db

WRONG = "not-her-password"
LOCKED = "Too many failed attempts to log in. Try again in"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.CHAT_LOGIN_FAILURES = 5
    settings.CHAT_LOGIN_ADDRESS_FAILURES = 20
    settings.CHAT_LOGIN_COOLOFF = 900.0


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def logged_in(response) -> bool:
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def locked_out(response) -> bool:
    return response.status_code == 429 and LOCKED in response.content.decode()


def test_repeated_wrong_passwords_lock_the_account_out_saying_when_to_try_again(alice):
    client = Client()
    for _ in range(4):
        response = log_in(client, "alice", WRONG)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    response = log_in(client, "alice", WRONG)
    assert locked_out(response)
    page = response.content.decode()
    assert "Try again in 15 minutes." in page
    assert 'name="username"' in page and 'value="alice"' in page  # the login page, in words
    assert 895 <= int(response["Retry-After"]) <= 900

    # Even the right password is refused until the cool-off ends.
    response = log_in(client, "alice", "alice-password")
    assert locked_out(response)
    assert not response.wsgi_request.user.is_authenticated
    assert "_auth_user_id" not in client.session


def test_a_lockout_holds_for_that_account_from_that_address_only(alice, bob):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        response = log_in(attacker, "alice", WRONG)
    assert locked_out(response)
    # A stranger cannot lock alice out of her own account from elsewhere...
    assert logged_in(log_in(Client(REMOTE_ADDR="198.51.100.7"), "alice", "alice-password"))
    # ...and the attacker's address may still try another account, within its own limit.
    assert logged_in(log_in(attacker, "bob", "bob-password"))


def test_an_address_trying_many_accounts_is_limited_per_address(django_user_model, alice):
    django_user_model.objects.create_user("mallory", password="mallory-password")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for attempt in range(19):  # 4 on each of five accounts, under the per-account limit
        response = log_in(attacker, f"user{attempt // 4}", WRONG)
        assert response.status_code == 200, attempt
    # Logging in to one's own account does not clear the address's other failures.
    assert logged_in(log_in(attacker, "mallory", "mallory-password"))
    assert locked_out(log_in(attacker, "user9", WRONG))  # the 20th failure from the address
    response = log_in(attacker, "alice", "alice-password")
    assert locked_out(response)
    # Another address is not affected.
    assert logged_in(log_in(Client(REMOTE_ADDR="198.51.100.7"), "alice", "alice-password"))


def test_a_successful_login_clears_the_accounts_failures(alice):
    client = Client()
    for _ in range(4):
        log_in(client, "alice", WRONG)
    assert logged_in(log_in(client, "alice", "alice-password"))
    client.logout()
    for _ in range(4):
        assert log_in(client, "alice", WRONG).status_code == 200
    assert logged_in(log_in(client, "alice", "alice-password"))


def test_the_admin_login_is_throttled_too(django_user_model):
    django_user_model.objects.create_superuser("root", password="root-password")
    client = Client()
    for _ in range(4):
        assert log_in(client, "root", WRONG, "/admin/login/").status_code == 200
    assert locked_out(log_in(client, "root", WRONG, "/admin/login/"))
    response = log_in(client, "root", "root-password", "/admin/login/")
    assert locked_out(response)
    assert client.get("/admin/").status_code == 302  # still sent to log in


def test_the_lockout_ends_after_the_cool_off(alice, settings):
    settings.CHAT_LOGIN_COOLOFF = 1.0
    client = Client()
    for _ in range(5):
        response = log_in(client, "alice", WRONG)
    assert locked_out(response)
    assert "Try again in 1 minute." in response.content.decode()
    assert locked_out(log_in(client, "alice", "alice-password"))
    time.sleep(1.2)
    assert logged_in(log_in(client, "alice", "alice-password"))


def test_an_administrator_can_end_a_lockout_at_once(alice):
    client = Client()
    for _ in range(5):
        response = log_in(client, "alice", WRONG)
    assert locked_out(response)
    call_command("axes_reset_username", "alice")
    assert logged_in(log_in(client, "alice", "alice-password"))


def test_behind_a_proxy_the_address_comes_from_its_header(alice, settings):
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_REAL_IP", "REMOTE_ADDR")
    settings.AXES_IPWARE_PROXY_COUNT = 0
    proxy = "10.0.0.2"  # every request arrives from the proxy
    attacker = Client(REMOTE_ADDR=proxy, HTTP_X_REAL_IP="203.0.113.9")
    for _ in range(5):
        response = log_in(attacker, "alice", WRONG)
    assert locked_out(response)
    alice_at_home = Client(REMOTE_ADDR=proxy, HTTP_X_REAL_IP="198.51.100.7")
    assert logged_in(log_in(alice_at_home, "alice", "alice-password"))


# --- Across processes ----------------------------------------------------------------------


def post_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    client.get("/accounts/login/")
    return client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )


def test_the_limit_holds_across_server_processes(tmp_path):
    """Two daphnes on one database: failures on either count toward one lockout."""
    shared = {"DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}"}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = start_site(tmp_path / "first", shared)
    second = start_site(tmp_path / "second", shared)
    try:
        create_user(first, "alice", "alice-password-1")
        with (
            httpx.Client(base_url=first.url, timeout=10) as one,
            httpx.Client(base_url=second.url, timeout=10) as other,
        ):
            for client in (one, other, one, other):
                assert post_login(client, "alice", WRONG).status_code == 200
            response = post_login(other, "alice", WRONG)
            assert response.status_code == 429
            assert re.search(r"Try again in 15 minutes\.", response.text)
            response = post_login(one, "alice", "alice-password-1")
            assert response.status_code == 429, "the right password, on the other process"
            assert LOCKED in response.text
    finally:
        first.stop()
        second.stop()
