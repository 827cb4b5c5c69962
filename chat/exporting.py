"""Conversations out of the site and back in.

Out: one conversation as Markdown (the branch shown, to read or share) or as JSON, and all
of a user's conversations as one JSON file. The JSON holds every version: each message in
the OpenAI chat format (tool calls included) with its `id` and its `parent`, and each
conversation's title, model, system prompt, times and the branch shown (`current`).
In: a file read by chat/importing.py (that JSON, or ChatGPT's conversations.json) is saved
whole or not at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from chat.importing import FORMAT, FORMAT_VERSION, ImportedConversation
from chat.models import Conversation, Message

BATCH = 200  # conversations read at a time for the export of them all


def conversation_data(conversation: Conversation, messages: list[Message]) -> dict:
    """One conversation as the export file holds it; `messages`: all of its messages."""
    return {
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
        "pinned": conversation.pinned.isoformat() if conversation.pinned else None,
        "current": conversation.current_id,
        "messages": [message_data(message) for message in messages],
    }


def message_data(message: Message) -> dict:
    data = {
        "id": message.pk,
        "parent": message.parent_id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created": message.created.isoformat(),
    }
    optional = {
        "tool_calls": message.tool_calls,
        "tool_call_id": message.tool_call_id,
        "error": message.error,
        "model": message.model,
        "finish_reason": message.finish_reason,
        "usage": message.usage,
        "duration_ms": message.duration_ms,
    }
    return data | {name: value for name, value in optional.items() if value not in (None, "")}


def export_file(conversations: Iterator[dict]) -> Iterator[str]:
    """The export file, in pieces (a user's whole history can be large)."""
    yield (
        json.dumps(
            {"format": FORMAT, "version": FORMAT_VERSION, "exported": timezone.now().isoformat()}
        )[:-1]
        + ', "conversations": ['
    )
    for number, conversation in enumerate(conversations):
        yield ("," if number else "") + json.dumps(conversation, ensure_ascii=False)
    yield "]}"


def all_conversations(user) -> Iterator[dict]:
    """Every conversation of `user`, oldest first, read a batch at a time."""
    ids = list(Conversation.objects.owned_by(user).order_by("created", "pk").values_list("pk"))
    for start in range(0, len(ids), BATCH):
        batch = [pk for (pk,) in ids[start : start + BATCH]]
        messages: dict[int, list[Message]] = {pk: [] for pk in batch}
        for message in Message.objects.filter(conversation_id__in=batch).order_by("pk"):
            messages[message.conversation_id].append(message)
        for conversation in Conversation.objects.filter(pk__in=batch).order_by("created", "pk"):
            yield conversation_data(conversation, messages[conversation.pk])


def one_conversation(conversation: Conversation) -> Iterator[dict]:
    yield conversation_data(conversation, list(conversation.messages.order_by("pk")))


def markdown(conversation: Conversation) -> str:
    """The branch shown, to read: who said what, tool calls and their results as code."""
    lines = [f"# {conversation.display_title()}", ""]
    if conversation.system_prompt:
        lines += ["> **System prompt:** " + conversation.system_prompt.replace("\n", "\n> "), ""]
    for message in conversation.transcript():
        who = "You" if message["role"] == "user" else f"Assistant ({message['model'] or '?'})"
        lines += [f"## {who}", f"*{_when(message['created'])}*", ""]
        if message["content"]:
            lines += [message["content"], ""]
        for call in message.get("tool_calls", []):
            lines += [
                f"**Tool call `{call['name']}`** ({call['state']})",
                "",
                *_fenced(call["arguments"], "json"),
                "**Result:**",
                "",
                *_fenced(call["result"], ""),
            ]
        if message["error"]:
            lines += [f"*{message['status'].capitalize()}: {message['error']}*", ""]
    return "\n".join(lines)


def _fenced(text: str, language: str) -> list[str]:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + language, text, fence, ""]


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


@transaction.atomic
def save_imported(user, conversations: list[ImportedConversation]) -> list[Conversation]:
    """Save what chat/importing.py read, all of it or (on any error) nothing. Messages are
    made in the file's order (so versions keep their order), then linked to their parents;
    ids are the site's own, so a file imported twice makes two copies and never touches
    what exists."""
    now = timezone.now()
    made = Conversation.objects.bulk_create(
        Conversation(
            user=user,
            title=imported.title,
            model=imported.model,
            system_prompt=imported.system_prompt,
            created=imported.created or now,
            updated=imported.updated or imported.created or now,
            pinned=imported.pinned,
        )
        for imported in conversations
    )
    rows = [
        Message(
            conversation=conversation,
            role=message.role,
            content=message.content,
            tool_calls=message.tool_calls,
            tool_call_id=message.tool_call_id,
            status=message.status,
            error=message.error,
            model=message.model,
            finish_reason=message.finish_reason,
            usage=message.usage,
            duration_ms=message.duration_ms,
            created=message.created or now,
            updated=message.created or now,
        )
        for imported, conversation in zip(conversations, made, strict=True)
        for message in imported.messages
    ]
    Message.objects.bulk_create(rows, batch_size=BATCH)
    saved = iter(rows)
    linked = []
    for imported, conversation in zip(conversations, made, strict=True):
        by_key = {message.key: next(saved) for message in imported.messages}
        for message in imported.messages:
            if message.parent is not None:
                by_key[message.key].parent = by_key[message.parent]
                linked.append(by_key[message.key])
        # The branch the file showed; else the last message, which is a leaf (a message
        # comes after its parent).
        shown = imported.current or (imported.messages[-1].key if imported.messages else None)
        conversation.current = by_key[shown] if shown is not None else None
    Message.objects.bulk_update(linked, ["parent"], batch_size=BATCH)
    Conversation.objects.bulk_update([c for c in made if c.current], ["current"])
    return made
