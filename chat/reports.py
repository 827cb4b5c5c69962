"""The figures of the usage pages, for one month (UTC): tokens and cost by day, by model,
by user, and the conversations that used the most. Counted from UsageDay (chat/quotas.py),
priced by chat/usage.py."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from chat.models import Conversation, Message, UsageDay
from chat.quotas import month_start, next_month
from chat.usage import cost


@dataclass
class Line:
    """Tokens and their cost under one name (a day, a model, a user)."""

    name: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rounds: int = 0
    estimated_rounds: int = 0
    cost: Decimal = Decimal(0)
    unpriced: set[str] = field(default_factory=set)  # models with no price in CHAT_PRICES

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, row: UsageDay) -> None:
        self.prompt_tokens += row.prompt_tokens
        self.completion_tokens += row.completion_tokens
        self.rounds += row.rounds
        self.estimated_rounds += row.estimated_rounds
        priced = cost(
            row.model,
            {"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens},
        )
        self.cost += priced.amount
        if not priced.priced:
            self.unpriced.add(row.model or "(unknown)")


@dataclass
class Report:
    month: date  # its first day
    total: Line
    days: list[Line]  # every day of the month, in order
    models: list[Line]  # most tokens first
    users: list[Line]
    rows: list[UsageDay]

    @property
    def previous(self) -> date:
        return month_start(self.month - timedelta(days=1))

    @property
    def following(self) -> date:
        return next_month(self.month)


def month_of(text: str | None, today: date) -> date:
    """The first day of `YYYY-MM`, or of this month when absent or not a month."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return month_start(today)


def report(month: date, rows: QuerySet[UsageDay]) -> Report:
    """`rows`: the usage rows to count (one user's, or everyone's)."""
    end = next_month(month)
    selected = list(
        rows.filter(day__gte=month, day__lt=end).select_related("user").order_by("day", "pk")
    )
    total = Line("Total")
    days = {month + timedelta(days=n): Line(str(n + 1)) for n in range((end - month).days)}
    models: dict[str, Line] = defaultdict(lambda: Line(""))
    users: dict[str, Line] = defaultdict(lambda: Line(""))
    for row in selected:
        total.add(row)
        days[row.day].add(row)
        models[row.model].add(row)
        users[row.user.get_username()].add(row)
    for name, line in [*models.items(), *users.items()]:
        line.name = name or "(unknown)"
    return Report(
        month=month,
        total=total,
        days=list(days.values()),
        models=sorted(models.values(), key=lambda line: -line.tokens),
        users=sorted(users.values(), key=lambda line: -line.tokens),
        rows=selected,
    )


def top_conversations(user, month: date, count: int = 10) -> list[tuple[Conversation, int]]:
    """The user's conversations whose replies used the most tokens in the month."""
    tokens: dict[int, int] = defaultdict(int)
    replies = Message.objects.filter(
        conversation__user=user,
        role=Message.Role.ASSISTANT,
        created__date__gte=month,
        created__date__lt=next_month(month),
        usage__isnull=False,
    ).values_list("conversation_id", "usage")
    for conversation_id, usage in replies.iterator():
        if isinstance(usage, dict):
            tokens[conversation_id] += int(usage.get("total_tokens") or 0)
    best = sorted(tokens.items(), key=lambda item: -item[1])[:count]
    conversations = Conversation.objects.in_bulk([pk for pk, _ in best])
    return [(conversations[pk], used) for pk, used in best if pk in conversations]
