"""The chat pages. Thin: the work happens in the models and in chat.running."""

import csv

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages as notices
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chat import broadcast, charts, exporting, paging, quotas, reports, running, search
from chat.audit import review_note
from chat.forms import LogInForm, SignUpForm, unsavable
from chat.frames import newest_within
from chat.importing import ImportRefused, read_conversations
from chat.models import TITLE_MAX_LENGTH, Conversation, UsageDay, cut_title, vocabulary
from chat.usage import cost

# Characters of messages a page carries in its HTML, so a long conversation's page stays
# light; the socket's `history`, sent in parts under the frame limit, brings the rest.
PAGE_MESSAGES_CHARS = 200_000


def _page(request: HttpRequest, conversation: Conversation | None) -> HttpResponse:
    messages = []
    Conversation.objects.purge_deleted()
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
            # How often staff read this conversation (chat/audit.py), under the title.
            "review_note": review_note(conversation) if conversation else "",
            "demo_mode": settings.CHAT_DEMO_MODE,
            "undo_seconds": settings.CHAT_UNDO_SECONDS,
            "title_max_length": TITLE_MAX_LENGTH,
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
                "searchUrl": reverse("chat:search"),
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
    Conversation.objects.purge_deleted()
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


@require_GET
@never_cache
def search_conversations(request: HttpRequest) -> JsonResponse:
    """`?q=<words>&limit=<n>`: the user's own conversations matching, best first
    (chat/search.py), as JSON for the search dialog (static/chat/search.js)."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "You are logged out. Reload the page to log in."}, status=401)
    limit = request.GET.get("limit", "20")
    if not limit.isdecimal() or not 1 <= int(limit) <= search.MAX_LIMIT:
        return JsonResponse(
            {"error": f"The limit must be a number from 1 to {search.MAX_LIMIT}."}, status=400
        )
    try:
        results = search.search(request.user, request.GET.get("q", ""), int(limit))
    except search.BadQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"results": [r.as_dict() for r in results]})


@login_required
@require_POST
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    title = request.POST.get("title", "")
    problem = unsavable(title)
    if problem:  # shown by the page the redirect opens (templates/chat/chat.html)
        notices.error(request, f"The title was not changed: it contains {problem}.")
    elif cut_title(title):
        conv.title = cut_title(title)
        conv.save(update_fields=["title"])
    return redirect(conv)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_POST
def pin(request: HttpRequest, pk: int) -> JsonResponse:
    """`pinned=1` pins the conversation (it goes on top), `pinned=0` unpins it."""
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    wanted = request.POST.get("pinned")
    if wanted not in {"0", "1"}:
        return JsonResponse({"error": "Say pinned=1 to pin or pinned=0 to unpin."}, status=400)
    conv.pinned = timezone.now() if wanted == "1" else None
    conv.save(update_fields=["pinned"])
    return JsonResponse({"conversation": conv.as_dict()})


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Hide the conversation at once and stop its reply; Undo (below) may bring it back for
    CHAT_UNDO_SECONDS, after which it is deleted for good (Conversation.purge_deleted)."""
    conv = get_object_or_404(Conversation.objects.owned_by(request.user), pk=pk)
    _stop_reply(conv)
    conv.deleted = timezone.now()
    conv.save(update_fields=["deleted"])
    # Other pages open on it let it go at once (docs/protocol.md).
    async_to_sync(broadcast.publish)(conv.pk, {"type": "deleted", "conversation": conv.pk})
    Conversation.objects.purge_deleted()
    if _wants_json(request):
        return JsonResponse(
            {
                "conversation": conv.as_dict(),
                "undo_url": reverse("chat:undo_delete", args=[conv.pk]),
                "undo_seconds": settings.CHAT_UNDO_SECONDS,
            }
        )
    return redirect("chat:new")


@login_required
@require_POST
def undo_delete(request: HttpRequest, pk: int) -> JsonResponse:
    """Bring back a conversation deleted moments ago, as it was (a reply running in it was
    stopped, and stays stopped)."""
    conv = Conversation.objects.deleted_by(request.user).filter(pk=pk).first()
    if conv is None:
        return JsonResponse(
            {"error": "Too late to undo: the conversation is deleted for good."}, status=410
        )
    conv.deleted = None
    conv.save(update_fields=["deleted"])
    return JsonResponse({"conversation": conv.as_dict()})


def _stop_reply(conv: Conversation) -> None:
    writing_here = running.get(conv.pk)
    if writing_here is not None:  # no point paying for a reply nobody will read
        # This view runs in a thread; the reply's task belongs to the event loop's.
        if writing_here.task is not None:
            writing_here.task.get_loop().call_soon_threadsafe(writing_here.stop)
    else:
        live = running.live_reply(conv)
        if live is not None and live.writer:
            async_to_sync(broadcast.request_stop)(live.writer)


# --- usage (chat/reports.py) -----------------------------------------------------------------


@login_required
@never_cache
def usage(request: HttpRequest) -> HttpResponse:
    """This month's tokens and cost against the quota, by day, by model, by conversation."""
    today = timezone.now().date()
    month = reports.month_of(request.GET.get("month"), today)
    mine = reports.report(month, UsageDay.objects.filter(user=request.user))
    limit = quotas.quotas_of(request.user.pk)
    used_today = quotas.used_since(request.user.pk, today)
    used_month = quotas.used_since(request.user.pk, quotas.month_start(today))
    return render(
        request,
        "chat/usage.html",
        {
            "report": mine,
            "chart": _chart(mine),
            "conversations": reports.top_conversations(request.user, month),
            "quotas": [
                ("Today", used_today, limit.daily),
                ("This month", used_month, limit.monthly),
            ],
        },
    )


@login_required
@never_cache
def usage_all(request: HttpRequest) -> HttpResponse:
    """Everyone's usage, for staff who may see it: by user, by model, by day."""
    _require_usage_permission(request)
    month = reports.month_of(request.GET.get("month"), timezone.now().date())
    everyone = reports.report(month, UsageDay.objects.all())
    return render(request, "chat/usage_all.html", {"report": everyone, "chart": _chart(everyone)})


@login_required
def usage_csv(request: HttpRequest) -> HttpResponse:
    """The month's usage rows (day, user, model) as CSV, for a spreadsheet."""
    _require_usage_permission(request)
    month = reports.month_of(request.GET.get("month"), timezone.now().date())
    everyone = reports.report(month, UsageDay.objects.all())
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="usage-{month:%Y-%m}.csv"'
    out = csv.writer(response)
    out.writerow(
        [
            "day",
            "user",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "rounds",
            "estimated_rounds",
            "cost",
            "priced",
        ]
    )
    for row in everyone.rows:
        priced = cost(
            row.model,
            {"prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens},
        )
        out.writerow(
            [
                row.day.isoformat(),
                _cell(row.user.get_username()),
                _cell(row.model),
                row.prompt_tokens,
                row.completion_tokens,
                row.rounds,
                row.estimated_rounds,
                f"{priced.amount:.6f}",
                "yes" if priced.priced else "no",
            ]
        )
    return response


def _require_usage_permission(request: HttpRequest) -> None:
    if not (request.user.is_staff and request.user.has_perm("chat.view_usageday")):
        raise PermissionDenied


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _chart(report: reports.Report) -> list:
    return charts.bars(
        [
            (day.name, day.tokens, f"{report.month:%B} {day.name}: {day.tokens:,} tokens")
            for day in report.days
        ]
    )


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
