"""Settings come from the environment; a bad value stops the site, naming the variable."""

import os
import subprocess
import sys

import pytest

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
            "['BACKEND'], settings.CHAT_DEMO_MODE, settings.OPENAI_BASE_URL)",
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
        "True",  # and no base URL: the demo model answers
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
    ]


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
