"""Read settings from the environment, failing loudly with the variable's name."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


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


def env_int(name: str, default: int) -> int:
    return _env_positive(name, default, int, "a whole number")


def _env_positive(name, default, parse, what):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None
    if number <= 0:
        raise ImproperlyConfigured(f"{name} must be greater than zero, not {value!r}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if value and not value.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{name} must start with http:// or https://, not {value!r}")
    return value.rstrip("/")
