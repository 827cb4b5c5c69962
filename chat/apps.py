from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db.models.signals import post_migrate


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import builtin_tools  # noqa: F401 - registers the built-in tools
        from chat.providers.http import tls_context
        from chat.running import SWEEP_UID, sweep_on_first_request
        from chat.search_index import restore_triggers
        from chat.sessions import end_sockets_of_logged_out_session
        from chat.tools import REGISTRY

        # A typo in CHAT_TOOLS would silently take a tool away: refuse to start instead.
        unknown = [name for name in settings.CHAT_TOOLS if name not in REGISTRY]
        if unknown:
            raise ImproperlyConfigured(
                f"CHAT_TOOLS names unknown tools: {', '.join(unknown)}. "
                f"Known tools: {', '.join(sorted(REGISTRY))}."
            )
        tls_context()  # loaded now, not on the event loop when the first reply starts
        # No database work here (Django warns against it); the first request does it.
        request_started.connect(sweep_on_first_request, dispatch_uid=SWEEP_UID)
        # Logging out ends that session's sockets, in every process.
        user_logged_out.connect(end_sockets_of_logged_out_session, dispatch_uid="chat-logout")
        # SQLite drops a table's triggers when a migration rebuilds it: search's come back.
        post_migrate.connect(restore_triggers, sender=self, dispatch_uid="chat-search-triggers")
