"""A socket acts for its login only while that login lasts: logging out ends its sockets at
once, and every frame (and a check every half minute) finds out when the session has
expired or the password has changed."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from chat import broadcast
from chat.database import database_sync_to_async

RECHECK = 30  # seconds between checks of an open socket's session


@database_sync_to_async
def still_valid(session_key: str | None, user_id: int) -> bool:
    """Whether the session still exists, unexpired, for this user with this password."""
    if not session_key:
        return False
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    data = store.load()  # empty when the session is gone or has expired
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    session_hash = data.get(HASH_SESSION_KEY)
    return bool(
        user and session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())
    )


def end_sockets_of_logged_out_session(sender, request, user, **kwargs) -> None:
    """`user_logged_out` receiver: close the sockets of the session being logged out."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        async_to_sync(broadcast.end_session)(session_key)
