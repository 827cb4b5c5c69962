"""The chat pages. Thin: the work happens in the models and in chat.running."""

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages as notices
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chat import broadcast, exporting, paging, running
from chat.forms import LogInForm, SignUpForm, unsavable
from chat.frames import newest_within
from chat.importing import ImportRefused, read_conversations
from chat.models import Conversation, vocabulary

# Characters of messages a page carries in its HTML, so a long conversation's page stays
# light; the socket's `history`, sent in parts under the frame limit, brings the rest.
PAGE_MESSAGES_CHARS = 200_000


def _page(request: HttpRequest, conversation: Conversation | None) -> HttpResponse:
    messages = []
    if conversation is not None:
        running.mark_dead_replies(conversation)
        messages = conversation.transcript()
    listed, next_page = paging.page(Conversation.objects.owned_by(request.user))
    return render(
        request,
        "chat/chat.html",
        {
            "conversation": conversation,
            "conversations": listed,
            # The sidebar's first page; the rest comes from `conversation_list` as it scrolls.
            # An older current conversation is shown after it, set apart, until it is reached.
            "current_below": conversation
            if conversation and all(c.pk != conversation.pk for c in listed)
            else None,
            "next_page": next_page,
            "has_messages": bool(messages),
            "demo_mode": settings.CHAT_DEMO_MODE,
            "vocabulary": vocabulary(),
            "page_data": {
                "conversation": conversation.pk if conversation else None,
                "wsPath": "/ws/chat/",
                "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
                "models": settings.CHAT_MODELS,
                "model": (conversation and conversation.model) or settings.CHAT_MODEL,
                "systemPrompt": conversation.system_prompt if conversation else "",
                "defaultSystemPrompt": settings.CHAT_SYSTEM_PROMPT,
                "loginUrl": resolve_url(settings.LOGIN_URL),
                # The newest messages, rendered by the page at once; the socket's `history`
                # then brings the whole conversation and keeps it current.
                "messages": newest_within(messages, PAGE_MESSAGES_CHARS),
            },
        },
    )


class LoginView(auth_views.LoginView):
    """Django's own login, with a sign-up link where sign-up is open."""

    authentication_form = LogInForm

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(**kwargs) | {"allow_signup": settings.CHAT_ALLOW_SIGNUP}


def signup(request: HttpRequest) -> HttpResponse:
    """Open sign-up, only where CHAT_ALLOW_SIGNUP turns it on."""
    if not settings.CHAT_ALLOW_SIGNUP:
        raise Http404("Sign-up is closed. Ask an administrator for an account.")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        return redirect("chat:new")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def new_conversation(request: HttpRequest) -> HttpResponse:
    return _page(request, None)


@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    # Another user's conversation answers exactly as a missing one.
    return _page(request, get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk))


@require_GET
@never_cache
def conversation_list(request: HttpRequest) -> JsonResponse:
    """The sidebar's next page: `?after=<cursor>` from the page or the previous answer."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "You are logged out. Reload the page to log in."}, status=401)
    try:
        listed, next_page = paging.page(
            Conversation.objects.owned_by(request.user), request.GET.get("after")
        )
    except paging.BadCursor:
        return JsonResponse(
            {"error": "That is not a place in the conversation list. Reload the page."},
            status=400,
        )
    return JsonResponse({"conversations": [c.as_dict() for c in listed], "next": next_page})


@login_required
@require_POST
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    title = " ".join(request.POST.get("title", "").split())[:200]
    problem = unsavable(title)
    if problem:  # shown by the page the redirect opens (templates/chat/chat.html)
        notices.error(request, f"The title was not changed: it contains {problem}.")
    elif title:
        conv.title = title
        conv.save(update_fields=["title"])
    return redirect(conv)


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    writing_here = running.get(conv.pk)
    if writing_here is not None:  # no point paying for a reply nobody will read
        writing_here.stop()
    else:
        live = running.live_reply(conv)
        if live is not None and live.writer:
            async_to_sync(broadcast.request_stop)(live.writer)
    conv.delete()
    return redirect("chat:new")


# --- your data: export and import (chat/exporting.py, chat/importing.py) ---------------------


@login_required
@never_cache
def data(request: HttpRequest) -> HttpResponse:
    """The page to take one's conversations out, or bring them in."""
    return render(
        request, "chat/data.html", {"max_megabytes": settings.CHAT_IMPORT_MAX_BYTES // 2**20}
    )


@login_required
@require_GET
def export_all(request: HttpRequest) -> HttpResponse:
    pieces = exporting.export_file(exporting.all_conversations(request.user))
    day = timezone.localdate().isoformat()
    return _download(StreamingHttpResponse(pieces), f"conversations-{day}.json", "json")


@login_required
@require_GET
def export_one(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    name = f"{slugify(conv.display_title())[:60] or 'conversation'}-{conv.pk}.{kind}"
    if kind == "md":
        return _download(HttpResponse(exporting.markdown(conv)), name, "md")
    pieces = exporting.export_file(exporting.one_conversation(conv))
    return _download(StreamingHttpResponse(pieces), name, "json")


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count:,} bytes"


def _download(response: HttpResponse, filename: str, kind: str) -> HttpResponse:
    response["Content-Type"] = {
        "json": "application/json; charset=utf-8",
        "md": "text/markdown; charset=utf-8",
    }[kind]
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def import_file(request: HttpRequest) -> HttpResponse:
    """Save every conversation of the uploaded file, or none and say why."""
    upload = request.FILES.get("file")
    limit = settings.CHAT_IMPORT_MAX_BYTES
    try:
        if upload is None:
            raise ImportRefused("Choose a file to import.")
        if upload.size > limit:
            raise ImportRefused(
                f"The file is {_size(upload.size)}; files of up to {_size(limit)} can be imported."
            )
        made = exporting.save_imported(request.user, read_conversations(upload.read()))
    except ImportRefused as exc:
        notices.error(request, f"Nothing was imported. {exc}")
        return redirect("chat:data")
    notices.success(request, f"Imported {len(made)} conversation{'s' if len(made) != 1 else ''}.")
    return redirect("chat:data")
