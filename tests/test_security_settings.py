"""Production settings: https by default when DEBUG is off, each part switchable from the
environment, and `check --deploy` clean under the README's production environment."""

import json
import os
import re
import secrets
import shlex
import subprocess
import sys

import pytest

from tests.live import ROOT

WARNINGS_WITH_PLAIN_HTTP = {"security.W004", "security.W008", "security.W012", "security.W016"}

# What a request looks like from inside, printed as JSON by a fresh process with `env`.
REQUEST = """
import json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings, setup_test_environment
setup_test_environment()
call_command("migrate", verbosity=0)  # the first request looks for dead replies
# Static files as in development: no collectstatic for the manifest that DEBUG off reads.
override_settings(STORAGES=settings.STORAGES | {"staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
response = Client().get("/accounts/login/", HTTP_HOST=HOST, **HEADERS)
cookie = response.cookies.get("csrftoken")
print(json.dumps({
    "status": response.status_code,
    "location": response.headers.get("Location"),
    "hsts": response.headers.get("Strict-Transport-Security"),
    "secure_cookie": bool(cookie and cookie["secure"]),
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
}))
"""


def clean_env(**env: str) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHAT_", "OPENAI_", "DATABASE_URL", "REDIS_URL"))
    }
    return inherited | {"DJANGO_SETTINGS_MODULE": "chatsite.settings"} | env


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def request(env: dict[str, str], host: str, **headers: str) -> dict:
    script = f"HOST = {host!r}\nHEADERS = {headers!r}\n" + REQUEST
    result = run("-c", script, env=env | {"DATABASE_URL": "sqlite://:memory:"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """The environment of the README's "Running it for real", with a real secret in its file."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running it for real", 1)[1].split("\n## ", 1)[0]
    env = {}
    for line in section.splitlines():
        if line.startswith("export "):
            env |= dict(word.split("=", 1) for word in shlex.split(line)[1:])
    assert env.get("DJANGO_DEBUG") == "false", "the README's production example has moved"
    secret = tmp_path / "django-secret"
    secret.write_text(secrets.token_urlsafe(50) + "\n")
    env["DJANGO_SECRET_KEY_FILE"] = str(secret)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return clean_env(**env)


def deploy_warnings(env: dict[str, str]) -> tuple[int, set[str], str]:
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    output = result.stdout + result.stderr
    return result.returncode, set(re.findall(r"\?: \((security\.W\d+)\)", output)), output


def test_check_deploy_passes_clean_under_the_documented_production_environment(
    production_env,
):
    returncode, warnings, output = deploy_warnings(production_env)
    assert (returncode, warnings) == (0, set()), output
    assert "System check identified no issues" in output
    assert "WARNING" not in output


def test_the_plain_http_switches_bring_back_exactly_their_warnings(production_env):
    plain_http = production_env | {
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
    }
    returncode, warnings, output = deploy_warnings(plain_http)
    assert returncode != 0
    assert warnings == WARNINGS_WITH_PLAIN_HTTP, output


def test_with_debug_on_the_https_parts_default_off(production_env):
    """As before the fix: DEBUG on brings the issue's four warnings back (and DEBUG's own)."""
    debug_defaults = production_env | {"DJANGO_DEBUG": "true"}
    _returncode, warnings, output = deploy_warnings(debug_defaults)
    assert warnings == WARNINGS_WITH_PLAIN_HTTP | {"security.W018"}, output


def test_the_development_defaults_serve_plain_http():
    seen = request(clean_env(), "localhost")
    assert seen == {
        "status": 200,
        "location": None,
        "hsts": None,
        "secure_cookie": False,
        "proxy_header": None,
    }


def test_in_production_http_is_redirected_and_https_gets_hsts_and_secure_cookies(
    production_env,
):
    plain = request(production_env, "chat.example.com")
    assert plain["status"] == 301
    assert plain["location"] == "https://chat.example.com/accounts/login/"

    # Through the TLS-terminating proxy the README describes.
    proxied = request(production_env, "chat.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert proxied == {
        "status": 200,
        "location": None,
        "hsts": "max-age=31536000",
        "secure_cookie": True,
        "proxy_header": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


def test_a_plain_http_lan_deployment_turns_each_part_off(production_env):
    lan = production_env | {
        "DJANGO_SECURE_PROXY_SSL_HEADER": "",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
    }
    seen = request(lan, "chat.example.com")
    assert (seen["status"], seen["hsts"], seen["secure_cookie"]) == (200, None, False)


def test_hsts_subdomains_and_preload_are_off_unless_set(production_env):
    both = production_env | {
        "DJANGO_SECURE_HSTS_SECONDS": "600",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "DJANGO_SECURE_HSTS_PRELOAD": "true",
    }
    seen = request(both, "chat.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert seen["hsts"] == "max-age=600; includeSubDomains; preload"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_SECURE_COOKIES", "sometimes"),
        ("DJANGO_SECURE_SSL_REDIRECT", "2"),
        ("DJANGO_SECURE_HSTS_SECONDS", "-1"),
        ("DJANGO_SECURE_HSTS_SECONDS", "a year"),
        ("DJANGO_SECURE_HSTS_PRELOAD", "maybe"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "X_FORWARDED_PROTO,https"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO,https,http"),
        ("CHAT_LOGIN_FAILURES", "0"),
        ("CHAT_LOGIN_ADDRESS_FAILURES", "many"),
        ("CHAT_LOGIN_COOLOFF", "soon"),
        ("CHAT_CLIENT_IP_HEADER", "X-Real-IP"),
    ],
)
def test_a_bad_value_stops_the_site_naming_the_variable(name, value):
    result = run("-c", "import django; django.setup()", env=clean_env(**{name: value}))
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]


def test_behind_a_proxy_the_login_limits_read_the_client_address_from_its_header():
    script = (
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.AXES_IPWARE_META_PRECEDENCE_ORDER, settings.AXES_IPWARE_PROXY_COUNT)"
    )
    direct = run("-c", script, env=clean_env())
    assert direct.stdout.split("\n")[0] == "('REMOTE_ADDR',) None", direct.stderr
    proxied = run("-c", script, env=clean_env(CHAT_CLIENT_IP_HEADER="http_x_real_ip"))
    # One address, written by the proxy; a longer chain is not believed.
    assert proxied.stdout.split("\n")[0] == "('HTTP_X_REAL_IP', 'REMOTE_ADDR') 0", proxied.stderr
