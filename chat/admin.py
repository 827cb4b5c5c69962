"""Staff review conversations here. Nothing can be added or changed (deleting needs the
delete permission, which only superusers have unless given). Transcripts are handed to the
page as JSON (json_script: inert text) and rendered in the browser by the chat page's own
renderer and stylesheet, so staff see exactly what the user saw, just as safely.

Reading is the `chat.review_conversation` permission (the group "Conversation reviewers"),
and every page that shows a conversation's text writes an audit entry for each conversation
or message it shows (chat/audit.py), with the reason the reviewer gave (`?reason=`, or the
"Reason for reading" form on the conversation's and the message's page)."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.forms import Media, Script
from django.template.loader import render_to_string

from chat import audit
from chat.audit import AuditEntry, Page
from chat.forms import AdminLogInForm, unsavable
from chat.models import Conversation, Message, Quota, storable, vocabulary

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


def review_reason(request) -> str:
    """The reason the reviewer gave (`?reason=`), made storable and cut to length; the
    reviewer is told in words whatever was changed, and the read is recorded regardless."""
    reason = " ".join(request.GET.get("reason", "").split())
    problem = unsavable(reason)
    if problem:
        reason = storable(reason)
        messages.warning(
            request, f"The reason contains {problem}; it was recorded with U+FFFD in its place."
        )
    if len(reason) > audit.REASON_LENGTH:
        reason = reason[: audit.REASON_LENGTH]
        messages.warning(
            request, f"The reason was cut to its first {audit.REASON_LENGTH} characters."
        )
    return reason


class ReadOnlyAdmin(admin.ModelAdmin):
    """A conversation's text, read only, to reviewers only, each read recorded."""

    change_form_template = "admin/chat/review_change_form.html"
    change_page: Page
    list_page: Page
    # Pages showing only the object's name: a conversation's is its title, a message's is
    # "role #id" (None: nothing to record).
    history_page: Page | None = None
    delete_page: Page | None = None

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # The review permission, not the model's view permission, lets staff read: one
        # permission to grant, and nobody reads through a view permission given for
        # another reason.
        return request.user.has_perm("chat.review_conversation")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        reason = review_reason(request) if request.method == "GET" else ""
        extra_context = (extra_context or {}) | {"review_reason": reason}
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", {}).get("original")
        if response.status_code == 200 and shown is not None:
            audit.record(request.user, self.change_page, [shown], reason=reason, path=request.path)
        return response

    def changelist_view(self, request, extra_context=None):
        # `reason` is ours, not a filter: the list would refuse a parameter it cannot filter.
        reason = review_reason(request)
        if "reason" in request.GET:
            request.GET = request.GET.copy()
            del request.GET["reason"]
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if response.status_code != 200:
            return response
        if context.get("cl") is not None:
            audit.record(
                request.user,
                self.list_page,
                context["cl"].result_list,
                reason=reason,
                query=context["cl"].query,
                path=request.get_full_path(),
            )
        elif context.get("queryset") is not None and self.delete_page is not None:
            # The "delete selected" action's confirmation names each conversation chosen.
            audit.record(request.user, self.delete_page, context["queryset"], path=request.path)
        return response

    def history_view(self, request, object_id, extra_context=None):
        # Django looks the object up before it checks permission here, which would tell a
        # staff account without chat permissions which ids exist (403 against a redirect).
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = super().history_view(request, object_id, extra_context)
        self._record_title_page(request, response, self.history_page)
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        if request.method == "GET":  # the confirmation; a POST deletes and goes
            self._record_title_page(request, response, self.delete_page)
        return response

    def _record_title_page(self, request, response, page: Page | None) -> None:
        shown = getattr(response, "context_data", {}).get("object")
        if page is not None and response.status_code == 200 and shown is not None:
            audit.record(request.user, page, [shown], path=request.path)

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
    change_page = Page.CONVERSATION
    list_page = Page.CONVERSATION_LIST
    history_page = Page.CONVERSATION_HISTORY
    delete_page = Page.CONVERSATION_DELETE
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
    change_page = Page.MESSAGE
    list_page = Page.MESSAGE_LIST
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


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    """One user's token quotas, in place of the site's (chat/quotas.py)."""

    list_display = ("user", "daily_tokens", "monthly_tokens")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log: superusers read it; nobody, superusers included, adds, changes or
    deletes an entry from the site."""

    list_display = [
        "at",
        "reviewer_name",
        "page",
        "conversation_pk",
        "conversation_title",
        "message_pk",
        "reason",
        "query",
    ]
    list_filter = ["reviewer_name", "page", "conversation_pk", ("at", admin.DateFieldListFilter)]
    search_fields = ["reviewer_name", "conversation_title", "reason", "=conversation_pk"]
    date_hierarchy = "at"
    fields = [
        "at",
        "reviewer_name",
        "page",
        "path",
        "conversation_pk",
        "conversation_title",
        "message_pk",
        "reason",
        "query",
    ]
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
