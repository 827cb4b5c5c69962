"""Settings come from the environment; a bad value stops the site, naming the variable."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.providers import split_model
from chatsite.env import env_secret, parse_models
from tests.live import ROOT

BAD_VALUES = [
    ("DJANGO_DEBUG", "maybe"),
    ("CHAT_IDLE_TIMEOUT", "soon"),
    ("CHAT_IDLE_TIMEOUT", "-1"),
    ("CHAT_MAX_MESSAGE_CHARS", "lots"),
    ("OPENAI_BASE_URL", "api.openai.com/v1"),
    ("REDIS_URL", "http://localhost:6379"),
    ("DATABASE_URL", "nonsense://what"),
    ("CHAT_TOOLS", "calculator,calculater"),
    ("CHAT_DATABASE_THREADS", "0"),
]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CHAT_", "OPENAI_", "DATABASE_URL", "REDIS_URL"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings;"
            " print(settings.DATABASES['default']['ENGINE'], settings.CHANNEL_LAYERS['default']"
            "['BACKEND'], settings.CHAT_DEMO_MODE, settings.OPENAI_BASE_URL,"
            " settings.CHAT_DATABASE_THREADS)",
        ],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "chatsite.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_fails_at_start_naming_the_variable(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]


def test_the_defaults_need_no_services_and_use_the_demo_model():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "True",  # and no base URL (empty): the demo model answers
        "1",  # SQLite takes one writer at a time: one database thread
    ]


def test_database_url_and_redis_url_switch_to_the_scaled_out_setup():
    result = load_settings(
        DATABASE_URL="postgres://u:p@db.example/chat",
        REDIS_URL="redis://cache.example:6379/0",
        OPENAI_API_KEY="sk-x",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "False",
        "https://api.openai.com/v1",
        "2",  # threads whose waits for the database server overlap (chat/database.py)
    ]


def test_the_builtin_tools_are_on_by_default():
    result = subprocess.run(
        [sys.executable, "-c", "from chatsite import settings; print(settings.CHAT_TOOLS)"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "CHAT_TOOLS"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "['get_current_time', 'calculator', 'search_conversations']"


def test_debug_off_needs_a_secret_key():
    result = load_settings(DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr.splitlines()[-1]


def test_chat_models_name_the_provider_of_each_model():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings;"
            " print(settings.CHAT_MODELS, settings.CHAT_MODEL_PROVIDERS, settings.CHAT_MODEL)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "CHAT_MODELS": "llama3.1:8b, anthropic:claude-x",
            "ANTHROPIC_API_KEY": "k",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['llama3.1:8b', 'claude-x'] {'llama3.1:8b': 'openai', 'claude-x': 'anthropic'} llama3.1:8b"
    )


def test_an_anthropic_model_needs_its_key():
    result = load_settings(CHAT_MODELS="anthropic:claude-x")
    assert result.returncode != 0
    assert "ANTHROPIC_API_KEY" in result.stderr.splitlines()[-1]


# --- the pieces, without a subprocess ----------------------------------------------------


def test_models_are_read_with_their_providers_and_the_first_is_the_default():
    names, providers, default = parse_models(
        ["llama3.1:8b", "anthropic:claude-x"], split_model, None
    )
    assert names == ["llama3.1:8b", "claude-x"]
    assert providers == {"llama3.1:8b": "openai", "claude-x": "anthropic"}
    assert default == "llama3.1:8b"


def test_chat_model_picks_the_default_among_chat_models():
    _, _, default = parse_models(["m1", "m2"], split_model, "m2")
    assert default == "m2"
    with pytest.raises(ImproperlyConfigured, match="CHAT_MODEL is 'm3'"):
        parse_models(["m1", "m2"], split_model, "m3")


def test_a_model_entry_without_a_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="no model name"):
        parse_models(["anthropic:"], split_model, None)


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text("sk-from-a-file\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(secret))
    assert env_secret("OPENAI_API_KEY") == "sk-from-a-file"


def test_a_secret_set_twice_or_in_a_missing_file_stops_the_site(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="OPENAI_API_KEY_FILE could not be read"):
        env_secret("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-here-too")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("OPENAI_API_KEY")


def test_the_secret_key_file_is_enough_with_debug_off(tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("a-long-secret-key-" + "x" * 40)
    result = load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY_FILE=str(key))
    assert result.returncode == 0, result.stderr
