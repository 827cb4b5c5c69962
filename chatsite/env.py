"""Read settings from the environment, failing loudly with the variable's name."""

import os
import re
from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file NAME_FILE names (as containers mount secrets).

    The file's last line break is dropped; setting both is an error, not a silent choice.
    """
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return os.environ.get(name, default)
    if os.environ.get(name):
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both")
    try:
        with open(path, encoding="utf-8") as secret:
            return secret.read().removesuffix("\n").removesuffix("\r")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE could not be read: {exc.strerror}") from None


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_float(name: str, default: float) -> float:
    return _env_positive(name, default, float, "a number")


def env_int(name: str, default: int, *, zero_allowed: bool = False) -> int:
    return _env_positive(name, default, int, "a whole number", zero_allowed)


def _env_positive(name, default, parse, what, zero_allowed=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None
    if number < 0 or (number == 0 and not zero_allowed):
        least = "zero or more" if zero_allowed else "greater than zero"
        raise ImproperlyConfigured(f"{name} must be {least}, not {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_header_value(name: str) -> tuple[str, str] | None:
    """A request header and the value it must have, as `HTTP_X_FORWARDED_PROTO,https`."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    header, _, expected = (part.strip() for part in value.partition(","))
    header = header.upper()
    if not re.fullmatch(r"HTTP_[A-Z0-9_]+", header) or not expected or "," in expected:
        raise ImproperlyConfigured(
            f"{name} must be a header and its value, as HTTP_X_FORWARDED_PROTO,https, not {value!r}"
        )
    return header, expected


def env_url(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if value and not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{name} must start with http:// or https://, not {value!r}")
    return value.rstrip("/")


def parse_models(
    entries: list[str], split: Callable[[str], tuple[str, str]], default: str | None
) -> tuple[list[str], dict[str, str], str]:
    """CHAT_MODELS read: (the model names users may pick, each one's provider, the default).

    `split` turns an entry into (provider, model); `default` is CHAT_MODEL when it is set,
    which must then be one of the entries' models.
    """
    providers: dict[str, str] = {}
    for entry in entries:
        provider, name = split(entry)
        if not name:
            raise ImproperlyConfigured(f"CHAT_MODELS has an entry with no model name: {entry!r}")
        providers[name] = provider
    names = list(providers)
    if default is not None and default not in providers:
        raise ImproperlyConfigured(
            f"CHAT_MODEL is {default!r}, which is not one of CHAT_MODELS ({', '.join(names)})"
        )
    return names, providers, default or names[0]
