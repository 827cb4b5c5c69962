"""The account forms, and text the database cannot store (chat.models.UNSTORABLE) refused
in words before anything is looked up, hashed or saved."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from chat.models import UNSTORABLE, storable


def unsavable(text: str) -> str | None:
    """What in `text` no database can store, in words ("a NUL character (U+0000)"), or
    None. A lone surrogate reaches a form posted as multipart declared UTF-7 or
    unicode_escape, which Django decodes as declared."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character (U+0000)"
    return f"half of a character (an unpaired surrogate, U+{ord(found.group()):04X})"


def _refuse(message: str):
    def validator(value) -> None:
        raise ValidationError(message, code="unsavable")

    return validator


class RefusesUnsavableText(forms.BaseForm):
    """A field holding a NUL or a lone surrogate fails with a plain sentence. The form is
    shown back with those characters as U+FFFD: a lone surrogate cannot even be encoded
    into the page, and a NUL must not reach a lookup on PostgreSQL."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            return
        data = None
        for name, field in self.fields.items():
            key = self.add_prefix(name)
            value = self.data.get(key)
            problem = isinstance(value, str) and unsavable(value)
            if problem:
                data = data or self.data.copy()
                data[key] = storable(value)
                message = (
                    f"This contains {problem}, which cannot be saved. Remove it and try again."
                )
                field.validators.append(_refuse(message))
        if data is not None:
            self.data = data


class LogInForm(RefusesUnsavableText, AuthenticationForm):
    pass


class SignUpForm(RefusesUnsavableText, UserCreationForm):
    pass


class AdminLogInForm(RefusesUnsavableText, AdminAuthenticationForm):
    pass
