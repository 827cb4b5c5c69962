"""The websocket: checks who is asking and for what, then hands work to the generation.

The protocol is in docs/protocol.md. Every refusal is an `error` frame; the socket stays.
"""

from __future__ import annotations

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from chat import generation
from chat.models import Conversation, Message, title_from_message
from chat.render import render_plain_text

log = logging.getLogger(__name__)


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


NOT_FOUND = FrameError("not_found", "That conversation does not exist.")


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=4401)  # before accept: the handshake is refused
            return
        self.conversation_id: int | None = None
        self.reset_replies()
        await self.accept()

    def reset_replies(self) -> None:
        # Per reply: the seq of the snapshot this socket sent (live frames go on after it),
        # and the live frames held back while its snapshot is on the way.
        self.snapshot_seq: dict[int, int] = {}
        self.awaiting_snapshot: dict[int, list[dict]] = {}

    async def disconnect(self, code: int) -> None:
        if getattr(self, "conversation_id", None) is not None:
            await self.channel_layer.group_discard(
                generation.group_name(self.conversation_id), self.channel_name
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            await self.handle(self.parse(text_data))
        except FrameError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": str(exc)})
        except Exception:
            # The socket stays usable and the user gets a sentence, not a closed connection.
            log.exception("websocket frame failed")
            await self.send_json(
                {
                    "type": "error",
                    "code": "server_error",
                    "message": "Something went wrong on the server. Try again.",
                }
            )

    def parse(self, text_data: str | None) -> dict:
        # Room for a full message after JSON escaping, and no more.
        if text_data is not None and len(text_data) > 8 * settings.CHAT_MAX_MESSAGE_CHARS + 1024:
            raise FrameError("too_long", self._too_long_text())
        try:
            frame = json.loads(text_data) if text_data is not None else None
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            raise FrameError("bad_json", "Frames must be JSON objects.")
        return frame

    async def handle(self, frame: dict) -> None:
        handlers = {
            "open": self.open,
            "send": self.send_message,
            "stop": self.stop,
            "retry": self.retry,
            "settings": self.change_settings,
        }
        kind = frame.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise FrameError("unknown_type", f"Unknown frame type {str(kind)[:40]!r}.")
        await handler(frame)

    # --- frames from the browser -------------------------------------------------------

    async def open(self, frame: dict) -> None:
        conversation = await self.owned_conversation(conversation_id(frame))
        await self.subscribe(conversation.pk)
        messages, live = await history(conversation)
        await self.send_json(
            {"type": "history", "conversation": conversation.pk, "messages": messages}
        )
        if live is not None:
            # Joined the group first, then asked: every frame after the snapshot reaches us.
            self.awaiting_snapshot[live.pk] = []
            await generation.request_snapshot(live.writer, self.channel_name)

    async def send_message(self, frame: dict) -> None:
        content = frame.get("content")
        if not isinstance(content, str):
            raise FrameError("bad_frame", "A message needs its text in `content`.")
        if not content.strip():
            raise FrameError("empty", "Type a message first.")
        if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise FrameError("too_long", self._too_long_text())
        model = chosen_model(frame)
        if frame.get("conversation") is None:
            conversation = await create_conversation(
                self.scope["user"], content, model, system_prompt_of(frame)
            )
            await self.subscribe(conversation.pk)
            await self.send_json({"type": "conversation", "conversation": conversation.as_dict()})
        else:
            conversation = await self.owned_conversation(conversation_id(frame))
            if self.conversation_id != conversation.pk:
                await self.subscribe(conversation.pk)
            if await live_reply(conversation):
                raise FrameError("busy", "Wait for the reply to finish, or stop it first.")
        user_message = await save_user_message(conversation, content, model)
        await generation.publish(
            conversation.pk,
            {"type": "message", "conversation": conversation.pk, "message": user_message},
        )
        await self.start_reply(conversation)

    async def stop(self, frame: dict) -> None:
        conversation = await self.owned_conversation(self.require_open(frame))
        live = await live_reply(conversation)
        if live is not None:
            await generation.request_stop(live.writer)

    async def retry(self, frame: dict) -> None:
        conversation = await self.owned_conversation(self.require_open(frame))
        model = chosen_model(frame)
        if await live_reply(conversation):
            raise FrameError("busy", "A reply is already being written.")
        if not await can_retry(conversation):
            raise FrameError(
                "nothing_to_retry", "The last reply finished; there is nothing to retry."
            )
        await use_model(conversation, model)  # only once the retry is going ahead
        await self.start_reply(conversation)

    async def change_settings(self, frame: dict) -> None:
        conversation = await self.owned_conversation(self.require_open(frame))
        prompt = system_prompt_of(frame)
        await save_system_prompt(conversation, prompt)
        await generation.publish(
            conversation.pk,
            {"type": "settings", "conversation": conversation.pk, "system_prompt": prompt},
        )

    # --- events from the conversation's group ----------------------------------------

    async def chat_event(self, message: dict) -> None:
        event = message["event"]
        if event["type"] == "frame":
            reply = event["message"]
            held = self.awaiting_snapshot.get(reply)
            if held is not None:
                if event["status"] == "streaming":
                    held.append(event)
                    return
                # Finished before its snapshot came: the browser resynchronises from this.
                del self.awaiting_snapshot[reply]
            elif event["seq"] <= self.snapshot_seq.get(reply, 0):
                return  # already in the snapshot this socket was sent
        await self.send_json(event)

    async def chat_snapshot(self, message: dict) -> None:
        snapshot = message["event"]
        held = self.awaiting_snapshot.pop(snapshot["message"], None)
        if held is None:
            return  # not asked for by this subscription, or overtaken by the reply's end
        self.snapshot_seq[snapshot["message"]] = snapshot["seq"]
        await self.send_json(snapshot)
        for event in held:
            if event["seq"] > snapshot["seq"]:
                await self.send_json(event)

    # --- helpers -----------------------------------------------------------------------

    async def subscribe(self, pk: int) -> None:
        if self.conversation_id is not None:
            await self.channel_layer.group_discard(
                generation.group_name(self.conversation_id), self.channel_name
            )
        self.conversation_id = pk
        self.reset_replies()
        await self.channel_layer.group_add(generation.group_name(pk), self.channel_name)

    async def start_reply(self, conversation: Conversation) -> None:
        try:
            await generation.start(conversation, self.scope.get("server"))
        except generation.Busy:
            raise FrameError("busy", "A reply is already being written.") from None

    async def owned_conversation(self, pk: int) -> Conversation:
        conversation = await find_conversation(self.scope["user"], pk)
        if conversation is None:
            raise NOT_FOUND
        return conversation

    def require_open(self, frame: dict) -> int:
        pk = conversation_id(frame)
        if pk != self.conversation_id:
            raise FrameError("not_open", "Open the conversation first.")
        return pk

    @staticmethod
    def _too_long_text() -> str:
        return f"Messages are limited to {settings.CHAT_MAX_MESSAGE_CHARS:,} characters."


def conversation_id(frame: dict) -> int:
    value = frame.get("conversation")
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError("bad_frame", "`conversation` must be a conversation id.")
    return value


def chosen_model(frame: dict) -> str | None:
    """The model a frame asks for: one of CHAT_MODELS, or None to keep the current one."""
    model = frame.get("model")
    if model is None:
        return None
    if model not in settings.CHAT_MODELS:
        raise FrameError("bad_frame", f"Unknown model {model!r}.")
    return model


def system_prompt_of(frame: dict) -> str:
    prompt = frame.get("system_prompt", "")
    if not isinstance(prompt, str):
        raise FrameError("bad_frame", "`system_prompt` must be text.")
    if len(prompt) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise FrameError(
            "too_long",
            f"System prompts are limited to {settings.CHAT_MAX_MESSAGE_CHARS:,} characters.",
        )
    return prompt.strip()


@database_sync_to_async
def find_conversation(user, pk: int) -> Conversation | None:
    return Conversation.objects.owned_by(user).filter(pk=pk).first()


@database_sync_to_async
def create_conversation(user, first_message: str, model: str | None, prompt: str) -> Conversation:
    return Conversation.objects.create(
        user=user,
        title=title_from_message(first_message),
        model=model or settings.CHAT_MODEL,
        system_prompt=prompt,
    )


@database_sync_to_async
def save_user_message(conversation: Conversation, content: str, model: str | None) -> dict:
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.USER,
        content=content,
        html=render_plain_text(content),
    )
    if model:
        conversation.model = model  # the conversation keeps the model picked last
    conversation.updated = timezone.now()
    conversation.save(update_fields=["model", "updated"])
    return message.as_dict()


@database_sync_to_async
def use_model(conversation: Conversation, model: str | None) -> None:
    if model and model != conversation.model:
        conversation.model = model
        conversation.save(update_fields=["model"])


@database_sync_to_async
def save_system_prompt(conversation: Conversation, prompt: str) -> None:
    conversation.system_prompt = prompt
    conversation.save(update_fields=["system_prompt"])


@database_sync_to_async
def history(conversation: Conversation) -> tuple[list[dict], Message | None]:
    live = generation.live_reply(conversation)
    messages = conversation.messages.exclude(role=Message.Role.SYSTEM)
    return [m.as_dict() for m in messages], live


live_reply = database_sync_to_async(generation.live_reply)


@database_sync_to_async
def can_retry(conversation: Conversation) -> bool:
    last = conversation.messages.exclude(role=Message.Role.SYSTEM).last()
    return last is not None and not (
        last.role == Message.Role.ASSISTANT and last.status == Message.Status.COMPLETE
    )
