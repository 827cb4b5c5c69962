"""The account forms, refusing text the database cannot store (chat/text.py) in words
before anything is looked up, hashed or saved."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from chat import text


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
            value = self.data.get(self.add_prefix(name))
            problem = isinstance(value, str) and text.unsavable(value)
            if problem:
                data = data or self.data.copy()
                data[self.add_prefix(name)] = text.shown(value)
                field.validators.append(_refuse(text.refusal(problem)))
        if data is not None:
            self.data = data


class LogInForm(RefusesUnsavableText, AuthenticationForm):
    pass


class SignUpForm(RefusesUnsavableText, UserCreationForm):
    pass
