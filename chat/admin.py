"""Staff review conversations here. Nothing can be added or changed (deleting needs the
delete permission, which only superusers have unless given). Transcripts are handed to the
page as JSON (json_script: inert text) and rendered in the browser by the chat page's own
renderer and stylesheet, so staff see exactly what the user saw, just as safely."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.forms import Media, Script
from django.template.loader import render_to_string

from chat.forms import AdminLogInForm
from chat.models import Conversation, Message, vocabulary

# The admin's login refuses unstorable text in words like the site's (chat/forms.py).
admin.site.login_form = AdminLogInForm

# The chat page's renderer and reply styles, scoped to .chat-transcript in the admin.
TRANSCRIPT_MEDIA = Media(
    css={
        "all": [
            "chat/markdown.css",
            "chat/admin.css",
        ]
    },
    js=[Script("chat/admin-transcript.js", type="module")],
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def history_view(self, request, object_id, extra_context=None):
        # Django looks the object up before it checks permission here, which would tell a
        # staff account without chat permissions which ids exist (403 against a redirect).
        if not self.has_view_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def render_change_form(self, request, context, *args, **kwargs):
        # Only the pages that show a transcript load the renderer.
        context["media"] = context["media"] + TRANSCRIPT_MEDIA
        return super().render_change_form(request, context, *args, **kwargs)


def transcript_html(
    conversation: Conversation | None, messages: list[dict], element_id: str
) -> str:
    """The transcript as data for admin-transcript.js, with the system prompt the model was
    given (the conversation's own, or the site's default)."""
    own = conversation.system_prompt if conversation is not None else ""
    data = {
        "systemPrompt": own or (settings.CHAT_SYSTEM_PROMPT if conversation is not None else ""),
        "systemPromptIsDefault": not own,
        "messages": messages,
    }
    return render_to_string(
        "admin/chat/transcript.html",
        {"data": data, "element_id": element_id, "vocabulary": vocabulary()},
    )


def admin_dict(
    message: Message, results: dict[str, Message] | None = None, versions: list[int] | None = None
) -> dict:
    """A message as the page shows it, with what staff also want: its usage."""
    return message.as_dict(results, versions) | {
        "usage": message.usage,
        "content": message.content,
    }


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
        rows = list(obj.messages.exclude(role=Message.Role.SYSTEM))
        results = {m.tool_call_id: m for m in rows if m.role == Message.Role.TOOL}
        # Every version, in the order written; each says which version it is and whether
        # it is on the branch the user is shown now.
        tree = obj.tree() if obj.current_id is not None else None
        shown = set(tree.branch(obj.current_id)) if tree else None
        # A tool's result is shown inside the block of the call that asked for it.
        messages = [
            admin_dict(m, results, tree.siblings(m.pk) if tree else None)
            | ({"shown": m.pk in shown} if shown is not None else {})
            for m in rows
            if m.role != Message.Role.TOOL
        ]
        return transcript_html(obj, messages, f"transcript-{obj.pk}")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "conversation", "role", "status", "model", "finish_reason", "created"]
    list_filter = ["role", "status", "model", ("created", admin.DateFieldListFilter)]
    search_fields = ["content"]
    list_select_related = ["conversation"]
    readonly_fields = ["rendered"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Message._meta.fields] + ["rendered"]

    @admin.display(description="rendered")
    def rendered(self, obj: Message) -> str:
        if obj.role == Message.Role.TOOL:
            return ""  # its content is the plain result, shown above
        results = {}
        if obj.tool_calls:
            ids = [call.get("id") for call in obj.tool_calls]
            tools = obj.conversation.messages.filter(role=Message.Role.TOOL, tool_call_id__in=ids)
            results = {m.tool_call_id: m for m in tools}
        return transcript_html(None, [admin_dict(obj, results)], f"message-{obj.pk}")
