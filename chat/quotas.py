"""Tokens per user per day and per month (UTC).

Each saved round adds its tokens to the user's row for the day and the model (UsageDay), in
the database, so counts hold across processes and restarts and are exact under concurrent
replies. A user at or over a quota is refused before anything is saved or any provider is
called, told when the quota resets; a reply already being written when the line is crossed
finishes (its tokens still count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from chat.models import Quota, UsageDay


@dataclass(frozen=True)
class Quotas:
    daily: int  # tokens; 0: no limit
    monthly: int


def quotas_of(user_id: int) -> Quotas:
    own = Quota.objects.filter(user_id=user_id).first()
    daily, monthly = settings.CHAT_QUOTA_DAILY_TOKENS, settings.CHAT_QUOTA_MONTHLY_TOKENS
    if own is not None:
        daily = daily if own.daily_tokens is None else own.daily_tokens
        monthly = monthly if own.monthly_tokens is None else own.monthly_tokens
    return Quotas(daily, monthly)


def used_since(user_id: int, first_day: date) -> int:
    totals = UsageDay.objects.filter(user_id=user_id, day__gte=first_day).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    return (totals["prompt"] or 0) + (totals["completion"] or 0)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def over_quota(user_id: int, now: datetime | None = None) -> tuple[str, int] | None:
    """None when the user may start a reply; else a sentence and the seconds until reset."""
    now = now or timezone.now()
    today = now.date()
    quotas = quotas_of(user_id)
    checks = [
        (quotas.daily, today, today + timedelta(days=1), "today", "at midnight UTC"),
        (
            quotas.monthly,
            month_start(today),
            next_month(today),
            "this month",
            f"on {next_month(today):%-d %B} (UTC)",
        ),
    ]
    for limit, since, resets, period, when in checks:
        if not limit:
            continue
        used = used_since(user_id, since)
        if used >= limit:
            wait = math.ceil((_midnight(resets) - now).total_seconds())
            return (
                f"You have used {used:,} tokens {period}, your quota is {limit:,}. It resets "
                f"{when}, in {_duration(wait)}.",
                wait,
            )
    return None


def record(user_id: int, model: str, usage: dict | None) -> None:
    """Add one round's tokens to the user's count for today and that model."""
    if not usage:
        return
    counts = {
        "prompt_tokens": F("prompt_tokens") + usage.get("prompt_tokens", 0),
        "completion_tokens": F("completion_tokens") + usage.get("completion_tokens", 0),
        "rounds": F("rounds") + 1,
        "estimated_rounds": F("estimated_rounds") + int(bool(usage.get("estimated"))),
    }
    row = UsageDay.objects.filter(user_id=user_id, day=timezone.now().date(), model=model[:200])
    if row.update(**counts):
        return
    try:
        with transaction.atomic():  # a savepoint: the row may have been made meanwhile
            UsageDay.objects.create(
                user_id=user_id,
                day=timezone.now().date(),
                model=model[:200],
                prompt_tokens=usage.get("prompt_tokens", 0),
                completion_tokens=usage.get("completion_tokens", 0),
                rounds=1,
                estimated_rounds=int(bool(usage.get("estimated"))),
            )
    except IntegrityError:  # another reply made today's row first: add to it
        row.update(**counts)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _duration(seconds: int) -> str:
    hours, minutes = divmod(math.ceil(seconds / 60), 60)
    if hours >= 48:
        return f"{round(hours / 24)} days"
    parts = [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
    if minutes or not hours:
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
    return " ".join(parts)
