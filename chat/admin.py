"""Staff review conversations here. Everything is read-only and every HTML is sanitised
again on the way out: a reply is hostile input, and the admin is a target too."""

from django.contrib import admin
from django.db.models import Count, IntegerField, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from chat.models import Conversation, Message
from chat.render import sanitize_html


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["title", "user", "model", "message_count", "tokens", "updated"]
    list_filter = ["user", "model", "messages__status", ("updated", admin.DateFieldListFilter)]
    search_fields = ["title", "messages__content"]
    date_hierarchy = "updated"
    fields = ["user", "title", "model", "created", "updated", "transcript"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("user")
            .annotate(
                message_count=Count("messages", distinct=True),
                tokens=Sum(
                    Cast(KeyTextTransform("total_tokens", "messages__usage"), IntegerField())
                ),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        # Searching through messages joins many rows per conversation: list each once.
        return queryset.distinct(), False

    @admin.display(ordering="message_count", description="messages")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count

    @admin.display(ordering="tokens", description="tokens")
    def tokens(self, obj: Conversation) -> int:
        return obj.tokens or 0

    @admin.display(description="transcript")
    def transcript(self, obj: Conversation) -> str:
        messages = [
            {"message": m, "html": mark_safe(sanitize_html(m.html))}  # noqa: S308 - sanitised
            # A tool's result is shown inside the block of the call that asked for it.
            for m in obj.messages.exclude(role=Message.Role.TOOL)
        ]
        return render_to_string("admin/chat/transcript.html", {"messages": messages})


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "role", "status", "model", "finish_reason", "created"]
    list_filter = ["role", "status", "model", ("created", admin.DateFieldListFilter)]
    search_fields = ["content"]
    list_select_related = ["conversation"]
    exclude = ["html"]
    readonly_fields = ["rendered"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Message._meta.fields if f.name != "html"] + ["rendered"]

    @admin.display(description="rendered")
    def rendered(self, obj: Message) -> str:
        return mark_safe(f'<div class="chat-transcript">{sanitize_html(obj.html)}</div>')  # noqa: S308
