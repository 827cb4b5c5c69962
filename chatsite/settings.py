"""Settings for the chat site: one module, read from the environment, development defaults."""

import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chat.providers import split_model
from chat.usage import parse_prices
from chatsite.env import (
    env_bool,
    env_float,
    env_header_value,
    env_int,
    env_list,
    env_secret,
    env_str,
    env_url,
    parse_models,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)
# Each secret may also come from a file: NAME_FILE=/run/secrets/name.
SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first, so runserver is daphne's ASGI server
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # login attempts, limited (chatsite/logins.py)
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "chatsite.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a locked-out login into the page that says when to retry.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default: WAL lets the page read while a reply is being checkpointed, and the
# busy timeout makes concurrent writers wait instead of failing with "database is locked".
_SQLITE_DEFAULT = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": BASE_DIR / "db.sqlite3",
    "OPTIONS": {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    },
}
_database_url = env_secret("DATABASE_URL")
if _database_url:
    try:
        _database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_URL could not be read: {exc}") from None
    if not _database.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL names an unknown database: {_database_url!r}")
    if "sqlite" in _database["ENGINE"]:
        _database.setdefault("OPTIONS", {}).update(_SQLITE_DEFAULT["OPTIONS"])
    DATABASES = {"default": _database}
else:
    DATABASES = {"default": _SQLITE_DEFAULT}
# Threads that database work called from async code runs on (chat/database.py): one for
# SQLite, which takes one writer at a time; two for a database server, so that one's wait
# for the server's answer overlaps the other's work. More than two contended for the GIL
# and for the row of a user starting many replies (docs/benchmarks.md).
CHAT_DATABASE_THREADS = env_int(
    "CHAT_DATABASE_THREADS", 1 if "sqlite" in DATABASES["default"]["ENGINE"] else 2
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_secret("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"REDIS_URL must start with redis:// or rediss://, not {REDIS_URL!r}"
        )
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's own, behind axes' lockout check (chatsite/logins.py).
AUTHENTICATION_BACKENDS = ["chatsite.logins.LockoutModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:new"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# HTTPS. With DEBUG off the site expects https: cookies only over TLS, HSTS (sent only on
# https responses), plain http redirected. Each can be turned off, e.g. on a plain-http LAN.
# Behind a TLS-terminating proxy, DJANGO_SECURE_PROXY_SSL_HEADER names the header it sets
# (else every request looks like http and the redirect never ends).
SECURE_PROXY_SSL_HEADER = env_header_value("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = env_int(
    "DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, zero_allowed=True
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# check --deploy asks for these two whenever HSTS is on, but they bind every subdomain, and
# the browsers' preload list, for a long time: the operator's choice to make, not a default.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "chat": {"handlers": ["console"], "level": env_str("CHAT_LOG_LEVEL", "INFO")},
        # One INFO line per upstream request is noise; failures reach the chat logger.
        "httpx": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # Each lockout is a WARNING line; every failed attempt an INFO one.
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- The chat itself -------------------------------------------------------------------
# Configured the way the OpenAI SDK is. With neither set, the built-in demo upstream answers.
OPENAI_API_KEY = env_secret("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "")
CHAT_DEMO_MODE = not OPENAI_API_KEY and not OPENAI_BASE_URL
if not OPENAI_BASE_URL:
    OPENAI_BASE_URL = "" if CHAT_DEMO_MODE else "https://api.openai.com/v1"
ANTHROPIC_API_KEY = env_secret("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env_url("ANTHROPIC_BASE_URL", "https://api.anthropic.com")

# The models users may pick: "name" is served by the OpenAI-compatible upstream,
# "anthropic:name" by Anthropic's Messages API (chat/providers/). The default is CHAT_MODEL
# when set (it must be one of them), else the first.
_default_model = env_str("CHAT_MODEL") or None
CHAT_MODELS, CHAT_MODEL_PROVIDERS, CHAT_MODEL = parse_models(
    env_list("CHAT_MODELS", [_default_model or ("demo" if CHAT_DEMO_MODE else "gpt-4o-mini")]),
    split_model,
    _default_model,
)
if "anthropic" in CHAT_MODEL_PROVIDERS.values() and not ANTHROPIC_API_KEY:
    raise ImproperlyConfigured("CHAT_MODELS names an anthropic: model: set ANTHROPIC_API_KEY too")
# Sent first in every conversation that has no system prompt of its own.
CHAT_SYSTEM_PROMPT = env_str("CHAT_SYSTEM_PROMPT")
CHAT_MAX_TOKENS = env_int("CHAT_MAX_TOKENS", 4096)  # Anthropic requires a limit
# What tokens cost, per million, by model: `gpt-4o=2.5/10,claude-sonnet-4-5=3/15` (chat/usage.py).
CHAT_PRICES = parse_prices(env_str("CHAT_PRICES", ""))
# Tokens one user's replies may use a day and a month (UTC); 0: no limit. Per-user quotas
# in the admin take their place (chat/quotas.py).
CHAT_QUOTA_DAILY_TOKENS = env_int("CHAT_QUOTA_DAILY_TOKENS", 0)
CHAT_QUOTA_MONTHLY_TOKENS = env_int("CHAT_QUOTA_MONTHLY_TOKENS", 0)
# After the first reply, ask the model for a better title (the demo model has none to give).
CHAT_MODEL_TITLES = env_bool("CHAT_MODEL_TITLES", not CHAT_DEMO_MODE)

# Tools the model may call (see chat/builtin_tools.py), and how far it may go.
CHAT_TOOLS = env_list("CHAT_TOOLS", ["get_current_time", "calculator", "search_conversations"])
if CHAT_TOOLS == ["none"]:
    CHAT_TOOLS = []
CHAT_MAX_TOOL_ROUNDS = env_int("CHAT_MAX_TOOL_ROUNDS", 5)
CHAT_TOOL_TIMEOUT = env_float("CHAT_TOOL_TIMEOUT", 10.0)
CHAT_TOOL_OUTPUT_LIMIT = env_int("CHAT_TOOL_OUTPUT_LIMIT", 8000)
# What one round of a model's tool calls may hold: past either, the reply ends with an error.
# Both keep every frame and the history under the socket's size limit (chat/frames.py).
CHAT_MAX_TOOL_CALLS = env_int("CHAT_MAX_TOOL_CALLS", 16)
CHAT_TOOL_ARGUMENTS_LIMIT = env_int("CHAT_TOOL_ARGUMENTS_LIMIT", 32000)
for _name in ("CHAT_TOOL_OUTPUT_LIMIT", "CHAT_TOOL_ARGUMENTS_LIMIT"):
    if globals()[_name] > 32000:
        raise ImproperlyConfigured(f"{_name} may be at most 32000 characters")

# The most text one reply's message may hold, in UTF-16 code units (characters, as the page
# counts them): past it the reply ends with an error, what arrived kept. Far above what
# CHAT_MAX_TOKENS asks for, it bounds what a provider that ignores it makes the process hold,
# save and join: 4,000,000 joined is about 10 ms of the event loop (docs/security.md).
CHAT_MAX_REPLY_LENGTH = env_int("CHAT_MAX_REPLY_LENGTH", 4_000_000)

CHAT_CONNECT_TIMEOUT = env_float("CHAT_CONNECT_TIMEOUT", 10.0)
CHAT_READ_TIMEOUT = env_float("CHAT_READ_TIMEOUT", 120.0)
# Seconds without one parsed event (keep-alive comments do not count) before a reply is
# called stalled.
CHAT_IDLE_TIMEOUT = env_float("CHAT_IDLE_TIMEOUT", 60.0)
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 32000)
CHAT_FRAME_INTERVAL = env_float("CHAT_FRAME_INTERVAL", 0.05)
CHAT_CHECKPOINT_INTERVAL = env_float("CHAT_CHECKPOINT_INTERVAL", 1.0)
# With several processes: a streaming reply whose row has not been checkpointed for this
# many seconds has lost its process; sockets watching it are told within a few more.
CHAT_WRITER_TIMEOUT = env_float("CHAT_WRITER_TIMEOUT", 8.0)
# Replies one process writes at once: one more is refused as `busy`. The pool of connections
# to the model provider is sized from it, so a reply never waits for a connection.
CHAT_MAX_REPLIES = env_int("CHAT_MAX_REPLIES", 500)
# What one user may use (chat/limits.py): replies being written at once, messages a minute,
# and pages of the site open at once (each holds a socket).
CHAT_USER_MAX_REPLIES = env_int("CHAT_USER_MAX_REPLIES", 3)
CHAT_USER_MESSAGES_PER_MINUTE = env_int("CHAT_USER_MESSAGES_PER_MINUTE", 20)
CHAT_USER_MAX_SOCKETS = env_int("CHAT_USER_MAX_SOCKETS", 20)
# Frames one socket may send: this many a second on average, in bursts of up to
# CHAT_SOCKET_FRAME_BURST. Past it a frame is refused with `slow_down`, not handled.
CHAT_SOCKET_FRAMES_PER_SECOND = env_float("CHAT_SOCKET_FRAMES_PER_SECOND", 5.0)
CHAT_SOCKET_FRAME_BURST = env_int("CHAT_SOCKET_FRAME_BURST", 30)
CHAT_ALLOW_SIGNUP = env_bool("CHAT_ALLOW_SIGNUP", False)
# The largest conversations file a user may import (chat/importing.py), in bytes.
CHAT_IMPORT_MAX_BYTES = env_int("CHAT_IMPORT_MAX_BYTES", 50 * 2**20)
# Seconds the page offers Undo after a conversation is deleted; it is deleted for good a
# few seconds after (chat.models.undo_cutoff).
CHAT_UNDO_SECONDS = env_float("CHAT_UNDO_SECONDS", 8.0)

# Staff reads (chat/audit.py): the user's page says how often staff read the conversation;
# it names them only when this is on.
CHAT_SHOW_REVIEWER_NAMES = env_bool("CHAT_SHOW_REVIEWER_NAMES", False)
# Retention (chat/retention.py, `manage.py delete_old_conversations`): conversations idle for
# more than CHAT_RETENTION_DAYS are deleted; 0 or empty keeps them for ever. Their audit
# entries are kept (the conversation's id and title as text) or deleted with them.
CHAT_RETENTION_DAYS = env_int("CHAT_RETENTION_DAYS", 0, zero_allowed=True)
CHAT_RETENTION_AUDIT = env_str("CHAT_RETENTION_AUDIT", "keep").strip().lower() or "keep"
if CHAT_RETENTION_AUDIT not in {"keep", "delete"}:
    raise ImproperlyConfigured(
        f"CHAT_RETENTION_AUDIT must be keep or delete, not {CHAT_RETENTION_AUDIT!r}"
    )

# Login attempts (django-axes, chatsite/logins.py), kept in the database so that every process
# counts them: CHAT_LOGIN_FAILURES failures on one account from one address, or
# CHAT_LOGIN_ADDRESS_FAILURES from one address on any accounts, lock that out until
# CHAT_LOGIN_COOLOFF seconds have passed since the last failure. A successful login clears
# its account's failures from its address.
CHAT_LOGIN_FAILURES = env_int("CHAT_LOGIN_FAILURES", 5)
CHAT_LOGIN_ADDRESS_FAILURES = env_int("CHAT_LOGIN_ADDRESS_FAILURES", 20)
CHAT_LOGIN_COOLOFF = env_float("CHAT_LOGIN_COOLOFF", 900.0)
AXES_HANDLER = "chatsite.logins.LoginAttempts"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # the handler's order
AXES_FAILURE_LIMIT = "chatsite.logins.failure_limit"
AXES_COOLOFF_TIME = "chatsite.logins.cool_off"
AXES_RESET_ON_SUCCESS = True
# Tries during a lockout are refused unchecked and do not move its end: the page's "try
# again in" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "chatsite.logins.lockout_response"
# Behind a proxy, the client's address is the one the proxy writes in this header (as
# Django names it, e.g. HTTP_X_REAL_IP); a header holding more than one address is not
# believed and the connection's address counts instead.
CHAT_CLIENT_IP_HEADER = env_str("CHAT_CLIENT_IP_HEADER").strip().upper()
if CHAT_CLIENT_IP_HEADER and not re.fullmatch(r"HTTP_[A-Z0-9_]+", CHAT_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"CHAT_CLIENT_IP_HEADER must be a header as Django names it, as HTTP_X_REAL_IP,"
        f" not {CHAT_CLIENT_IP_HEADER!r}"
    )
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    (CHAT_CLIENT_IP_HEADER, "REMOTE_ADDR") if CHAT_CLIENT_IP_HEADER else ("REMOTE_ADDR",)
)
AXES_IPWARE_PROXY_COUNT = 0 if CHAT_CLIENT_IP_HEADER else None

# Pace of the demo upstream's reply, in seconds between chunks.
CHAT_DEMO_DELAY = env_float("CHAT_DEMO_DELAY", 0.03)
