"""The tools the site ships with. Importing this module registers them (see chat.tools)."""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from chat.models import Message
from chat.tools import ToolContext, tool

# --- get_current_time -------------------------------------------------------------------


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every IANA name on this system, by its lower-case form (models get the case wrong)."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _zone(name: str) -> tzinfo:
    # UTC needs no tz database, so the default works even on a system without one.
    if name.upper() == "UTC":
        return UTC
    # Only names from the list: ZoneInfo alone would try any path-like key as a file.
    canonical = _zone_names().get(name.strip().lower())
    if canonical is None:
        raise ValueError(f"Unknown time zone {name!r}. Use an IANA name such as Europe/Paris.")
    return zoneinfo.ZoneInfo(canonical)


def _offset(now: datetime) -> str:
    """The UTC offset as ±HH:MM (strftime's %z has no colon)."""
    minutes = round(now.utcoffset().total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@tool
def get_current_time(timezone: str = "UTC") -> dict:
    """Get the current date and time in a time zone.

    Args:
        timezone: An IANA time zone name, such as Europe/Paris or America/New_York.
    """
    zone = _zone(timezone)
    now = datetime.now(zone)
    return {
        "timezone": str(zone),
        "iso": now.isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
        "utc_offset": _offset(now),
    }


# --- calculator ---------------------------------------------------------------------------

MAX_EXPRESSION_LENGTH = 500
MAX_EXPONENT = 1000
# Integers stay below this many bits (about 3,000 digits): a bigger one would only be slow
# to compute and print.
MAX_INTEGER_BITS = 10_000

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable] = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "log": math.log,
    "exp": math.exp,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
# How a refusal names the syntax it refuses; other nodes go by their class name.
_SYNTAX_NAMES = {
    ast.Attribute: "attributes (x.y)",
    ast.Lambda: "lambdas",
    ast.Subscript: "subscripts (x[y])",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.UnaryOp: "this unary operator",
    ast.BinOp: "this operator",
}


@tool
def calculator(expression: str) -> dict:
    """Evaluate an arithmetic expression: use it rather than working sums out in your head.

    Args:
        expression: Numbers with + - * / // % ** and parentheses, the functions sqrt, sin,
            cos, tan, log and exp, and the constants pi and e. Example: (2 + 3) * sqrt(16)
    """
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"The expression is longer than {MAX_EXPRESSION_LENGTH} characters.")
    try:
        # Parsed only, never compiled: _evaluate walks the tree and knows every node it allows.
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"Not a valid expression: {exc.msg}.") from None
    try:
        result = _evaluate(tree.body)
    except ZeroDivisionError:
        raise ValueError("Division by zero.") from None
    except OverflowError:
        raise ValueError("The result is too large.") from None
    except RecursionError:
        raise ValueError("The expression is nested too deeply.") from None
    return {"expression": expression, "result": result}


def _evaluate(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant):
        # bool is an int subclass, complex a number: neither is arithmetic here.
        if type(node.value) not in (int, float):
            raise ValueError(f"Not allowed in an expression: the value {node.value!r}.")
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _bounded(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ValueError(f"Not allowed in an expression: the name {node.id!r} (constants: pi, e).")
    if isinstance(node, ast.Call):
        return _call(node)
    name = _SYNTAX_NAMES.get(type(node), type(node).__name__)
    raise ValueError(f"Not allowed in an expression: {name}.")


def _call(node: ast.Call) -> float:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        what = f"the function {node.func.id!r}" if isinstance(node.func, ast.Name) else "this call"
        allowed = ", ".join(_FUNCTIONS)
        raise ValueError(f"Not allowed in an expression: {what} (functions: {allowed}).")
    if node.keywords or any(isinstance(argument, ast.Starred) for argument in node.args):
        raise ValueError(f"{node.func.id}() takes plain arguments only.")
    arguments = [_evaluate(argument) for argument in node.args]
    try:
        return _bounded(_FUNCTIONS[node.func.id](*arguments))
    except TypeError:
        raise ValueError(f"Wrong number of arguments for {node.func.id}().") from None
    except ValueError:
        raise ValueError(f"{node.func.id}() is undefined for these arguments.") from None


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power before computing it, when it would be too big to be worth computing."""
    if abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"Exponents are limited to ±{MAX_EXPONENT}.")
    exact = isinstance(base, int) and isinstance(exponent, int)
    if exact and abs(base).bit_length() * exponent > MAX_INTEGER_BITS:
        raise ValueError("The result is too large.")


def _bounded(value: int | float | complex) -> int | float:
    """`value`, if it is a real number of a printable size."""
    if isinstance(value, complex):  # e.g. (-8) ** 0.5
        raise ValueError("The result is not a real number.")
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise ValueError("The result is too large.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("The result is too large.")
    return value


# --- search_conversations -----------------------------------------------------------------

SNIPPET_LENGTH = 160
MAX_RESULTS = 10


@tool
def search_conversations(query: str, context: ToolContext, limit: int = 5) -> list[dict]:
    """Search the user's other saved conversations for messages containing some text.

    Args:
        query: The text to look for, matched without regard to case.
        limit: How many messages to return, newest first (1 to 10).
    """
    query = query.strip()
    if not query:
        raise ValueError("The query is empty: give some text to look for.")
    limit = max(1, min(limit, MAX_RESULTS))
    messages = (
        Message.objects.filter(
            # The only filter that keeps users apart: every search goes through it.
            conversation__user_id=context.user_id,
            role__in=[Message.Role.USER, Message.Role.ASSISTANT],
            content__icontains=query,
        )
        # The current conversation is already in the model's context; searching it would
        # mostly find the question being asked.
        .exclude(conversation_id=context.conversation_id)
        .select_related("conversation")
        .order_by("-created", "-id")[:limit]
    )
    return [
        {
            "conversation": message.conversation.display_title(),
            "url": message.conversation.get_absolute_url(),
            "snippet": _snippet(message.content, query),
            "role": message.role,
        }
        for message in messages
    ]


def _snippet(text: str, query: str) -> str:
    """About SNIPPET_LENGTH characters of `text` around the first match of `query`."""
    # A regex, not text.lower().find(): lower() can change lengths, and so positions.
    match = re.search(re.escape(query), text, re.IGNORECASE)
    middle = (match.start() + match.end()) // 2 if match else 0
    start = max(0, min(middle - SNIPPET_LENGTH // 2, len(text) - SNIPPET_LENGTH))
    end = start + SNIPPET_LENGTH
    snippet = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + snippet + ("…" if end < len(text) else "")
