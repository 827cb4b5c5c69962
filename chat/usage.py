"""How many tokens a reply used, and what they cost.

Providers say what they used: OpenAI-compatible servers in a last chunk when asked
(`stream_options.include_usage`), Anthropic in its message events. Where a provider says
nothing, the count is estimated from the text, at about four characters a token, and marked
`estimated`. Each round of a reply (a tool round is a round) is a message with its own
usage. Prices come from CHAT_PRICES, per million tokens of input and of output, by model;
a model without a price costs nothing and is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb for English; good enough to count a budget
PER_MESSAGE = 4  # tokens each message costs beyond its text (role, separators)


def known(usage: object) -> dict | None:
    """The provider's usage as the site keeps it, or None when it sent none usable."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    counts = (prompt, completion)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
        return None
    return usage | {"total_tokens": prompt + completion}


def estimate(history: list[dict], text: str, tool_calls: list[dict] | None) -> dict:
    """A count from the text alone: what was sent (`history`) and what came back."""
    sent = sum(_characters(message) for message in history)
    written = len(text) + sum(_characters(call) for call in tool_calls or [])
    prompt = math.ceil(sent / CHARS_PER_TOKEN) + PER_MESSAGE * len(history)
    completion = math.ceil(written / CHARS_PER_TOKEN)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }


# Fields of a message or a call that are the API's, not text the model reads or writes.
_NOT_TEXT = {"role", "type", "id", "tool_call_id"}


def _characters(value: object) -> int:
    """The characters of the text in a message or a tool call, whatever its nesting."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_characters(item) for key, item in value.items() if key not in _NOT_TEXT)
    if isinstance(value, list):
        return sum(_characters(item) for item in value)
    return 0


@dataclass(frozen=True)
class Price:
    input: Decimal  # per million tokens
    output: Decimal


@dataclass(frozen=True)
class Cost:
    amount: Decimal
    priced: bool  # False: the model has no price in CHAT_PRICES, so it counts as nothing


def price_of(model: str) -> Price | None:
    """The model's price: by its name, or by the name it was asked by when the provider
    answers with a dated version of it (`gpt-4o-2024-08-06` is priced as `gpt-4o`, but
    `gpt-4o-mini` is not)."""
    prices = settings.CHAT_PRICES
    if model in prices:
        return prices[model]
    for name, price in prices.items():
        rest = model.removeprefix(name)
        if rest != model and rest[:1] == "-" and rest[1:2].isdigit():
            return price
    return None


def cost(model: str, usage: dict | None) -> Cost:
    usage = usage or {}
    price = price_of(model)
    if price is None:
        return Cost(Decimal(0), priced=False)
    amount = (
        price.input * usage.get("prompt_tokens", 0)
        + price.output * usage.get("completion_tokens", 0)
    ) / 1_000_000
    return Cost(amount, priced=True)


def parse_prices(text: str) -> dict[str, Price]:
    """CHAT_PRICES: `model=input/output` entries separated by commas, in a currency's
    units per million tokens, e.g. `gpt-4o=2.5/10,anthropic:claude-sonnet-4-5=3/15`."""
    prices = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        model, _, pair = entry.rpartition("=")
        sent, _, written = pair.partition("/")
        try:
            price = Price(Decimal(sent.strip()), Decimal(written.strip()))
        except ArithmeticError:
            price = None
        if (
            not model.strip()
            or price is None
            or not all(n.is_finite() and n >= 0 for n in (price.input, price.output))
        ):
            raise ImproperlyConfigured(
                f"CHAT_PRICES has an entry {entry!r} that is not model=input/output, "
                "two prices per million tokens, e.g. gpt-4o=2.5/10."
            )
        prices[model.strip().removeprefix("anthropic:")] = price
    return prices
