"""Text the database can store. A NUL character is refused by PostgreSQL and a lone
surrogate (half of a UTF-16 pair, which a JSON "\\ud800" or a form posted in UTF-7 can
carry) cannot be encoded as UTF-8 by any driver: either would fail the save with a 500."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

UNSAVABLE = re.compile("[\x00\ud800-\udfff]")


def unsavable(text: str) -> str | None:
    """What in `text` cannot be stored, in words ("a NUL character (U+0000)"), or None."""
    found = UNSAVABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "a NUL character (U+0000)"
    return f"an unpaired surrogate (U+{ord(char):04X})"


def shown(text: str) -> str:
    """`text` safe to send back in a page: each unsavable character becomes U+FFFD."""
    return UNSAVABLE.sub("\ufffd", text)


def refusal(problem: str) -> str:
    return f"This contains {problem}, which cannot be saved. Remove it and try again."


def validate_savable(text: str) -> None:
    """A form field validator: refuses text the database cannot store, in words."""
    problem = unsavable(text)
    if problem:
        raise ValidationError(refusal(problem), code="unsavable")
