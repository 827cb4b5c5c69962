from django.apps import AppConfig
from django.core.signals import request_started


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # No database work here (Django warns against it); the first request does it.
        from chat.generation import sweep_on_first_request

        request_started.connect(sweep_on_first_request, dispatch_uid=SWEEP_UID)


SWEEP_UID = "chat-sweep-dead-replies"
