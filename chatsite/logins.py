"""Login attempts, limited with django-axes: per account from one address, and per address.

axes keeps the failures in the database, so the limits hold across server processes. The
settings (chatsite/settings.py) point axes at the functions and the handler below.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from axes.backends import AxesBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

# The order of AXES_LOCKOUT_PARAMETERS, which the handler relies on.
LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]


def failure_limit(request: HttpRequest, credentials: dict | None) -> int:
    return settings.CHAT_LOGIN_FAILURES


def cool_off(request: HttpRequest | None = None) -> timedelta:
    return timedelta(seconds=settings.CHAT_LOGIN_COOLOFF)


class LockoutModelBackend(AxesBackend):
    """The site's one authentication backend: axes refuses a locked-out login before any
    password is checked, then Django's own checks the username and password. One, not
    axes' and Django's side by side, so that login() after sign-up needs no backend named.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        super().authenticate(request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username, password, **kwargs)


class LoginAttempts(AxesDatabaseHandler):
    """axes' database handler with a limit of its own for the address.

    axes compares one count with one limit (CHAT_LOGIN_FAILURES). The address's count,
    summed over every account tried from it, is shifted so that it reaches that limit
    exactly at CHAT_LOGIN_ADDRESS_FAILURES.
    """

    def get_failures(self, request, credentials=None) -> int:
        (per_account, _), (per_address, _) = self._failures(request, credentials)
        shift = settings.CHAT_LOGIN_ADDRESS_FAILURES - settings.CHAT_LOGIN_FAILURES
        return max(per_account, per_address - shift)

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A successful login clears that account's failures from that address, not the
        # address's failures on other accounts: one's own account cannot reset the guessing.
        per_account = self.filter_user_attempts(request, credentials)[0]
        deleted, _ = per_account.delete()
        return deleted

    def locked_until(self, request, credentials=None) -> datetime:
        """When the last failure that counts ages past the cool-off: the latest a lockout
        can last (failures during a lockout are not counted, so it does not move)."""
        (per_account, account_latest), (per_address, address_latest) = self._failures(
            request, credentials
        )
        ends = [
            latest + cool_off(request)
            for failures, limit, latest in [
                (per_account, settings.CHAT_LOGIN_FAILURES, account_latest),
                (per_address, settings.CHAT_LOGIN_ADDRESS_FAILURES, address_latest),
            ]
            if latest is not None and failures >= limit
        ]
        return max(ends, default=timezone.now() + cool_off(request))

    def _failures(self, request, credentials) -> list[tuple[int, datetime | None]]:
        """(failures, the latest) within the cool-off: for the account from this address,
        then for the address."""
        totals = [
            attempts.aggregate(failures=Sum("failures_since_start"), latest=Max("attempt_time"))
            for attempts in self.get_user_attempts(request, credentials)
        ]
        return [(total["failures"] or 0, total["latest"]) for total in totals]


def lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """The login page again, saying in words when to try again (axes' AXES_LOCKOUT_CALLABLE).

    axes' async middleware passes the credentials where the response goes; neither is
    needed: the username comes from the posted form.
    """
    credentials = credentials if isinstance(credentials, dict) else None
    until = LoginAttempts().locked_until(request, credentials)
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    minutes = math.ceil(seconds / 60)
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    username = get_client_username(request, credentials) or ""
    response = render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request, initial={"username": username}),
            "lockout": f"Too many failed attempts to log in. Try again in {wait}.",
            "lockout_seconds": seconds,  # counted down by static/chat/retry-after.js
            "next": request.POST.get("next", ""),
            "allow_signup": settings.CHAT_ALLOW_SIGNUP,
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
