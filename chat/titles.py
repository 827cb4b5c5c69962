"""A better title from the model, after the first reply, without ever delaying a reply.

The conversation is titled from the first message at once; once the first reply is
complete, the model is asked for a short title in the background. The user's own rename
always wins: the title is only replaced while it is still the one taken from the message.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from chat.database import database_sync_to_async
from chat.models import Conversation, Message, title_from_message
from chat.providers import stream_completion
from chat.providers.assembler import StreamAssembler
from chat.providers.http import Upstream, UpstreamError

log = logging.getLogger(__name__)

TITLE_PROMPT = (
    "Write a title of at most six words for the conversation below. Answer with the title "
    "only: no quotes, no full stop."
)
TITLE_TIMEOUT = 30  # seconds: a title is not worth holding a connection longer
EXCERPT = 1000  # characters of each message the model sees


async def improve_title(conversation: Conversation, upstream: Upstream) -> str | None:
    """Ask the model for a title; return it once saved, or None if nothing changed."""
    exchange = await _first_exchange(conversation.pk)
    if exchange is None:
        return None
    question, answer = exchange
    messages = [
        {"role": "system", "content": TITLE_PROMPT},
        {"role": "user", "content": f"User: {question[:EXCERPT]}\n\nAssistant: {answer[:EXCERPT]}"},
    ]
    assembler = StreamAssembler()
    try:
        async with asyncio.timeout(TITLE_TIMEOUT):
            async for _ in stream_completion(
                upstream, messages, conversation.model or settings.CHAT_MODEL, assembler
            ):
                pass
    except (UpstreamError, TimeoutError) as exc:
        log.info("no better title for conversation %s: %s", conversation.pk, exc)
        return None
    choices = assembler.result()["choices"]
    title = clean_title((choices[0]["message"]["content"] or "") if choices else "")
    if title and await _replace_title(conversation.pk, title_from_message(question), title):
        return title
    return None


def clean_title(text: str) -> str:
    """One short line: the model's answer may come quoted, bolded or with a full stop."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = line.strip().strip("\"'`*#_ ").removeprefix("Title:").strip().rstrip(".")
    return title_from_message(line.strip("\"'` "))


@database_sync_to_async
def _first_exchange(conversation_id: int) -> tuple[str, str] | None:
    """The first question and its answer, if the conversation has just had its first reply
    and still carries the title taken from that question."""
    conversation = Conversation.objects.get(pk=conversation_id)
    messages = list(
        conversation.messages.filter(role__in=[Message.Role.USER, Message.Role.ASSISTANT])
        .exclude(content="")
        .values_list("role", "content")[:3]
    )
    if [role for role, _ in messages] != [Message.Role.USER, Message.Role.ASSISTANT]:
        return None
    (_, question), (_, answer) = messages
    if conversation.title != title_from_message(question):
        return None  # renamed by the user already
    return question, answer


@database_sync_to_async
def _replace_title(conversation_id: int, expected: str, title: str) -> bool:
    # One UPDATE: a rename that lands meanwhile is never overwritten.
    return bool(Conversation.objects.filter(pk=conversation_id, title=expected).update(title=title))
