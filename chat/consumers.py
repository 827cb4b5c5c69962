"""The websocket: checks who is asking and for what, then hands the work to chat.running.

Each socket has at most one conversation open; it gets that conversation's events from
chat.broadcast (this process's straight from the hub, other processes' through the layer).

The protocol is in docs/protocol.md. Every refusal is an `error` frame; the socket stays.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chat import broadcast, limits, replies, running, sessions
from chat.database import database_sync_to_async
from chat.frames import history_parts
from chat.models import Conversation, Message, has_unstorable, title_from_message
from chat.pacing import Slices
from chat.replies import Busy

log = logging.getLogger(__name__)


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


NOT_FOUND = FrameError("not_found", "That conversation does not exist.")
NO_MESSAGE = FrameError("not_found", "That message does not exist.")
BUSY_SWITCH = FrameError("busy", "Wait for the reply to finish, or stop it, to see other versions.")
FULL = FrameError(
    "busy", "The server is writing as many replies as it can right now. Try again in a moment."
)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401)  # before accept: the handshake is refused
            return
        self.user_id = user.pk
        self.session_key = self.scope["session"].session_key
        self.conversation_id: int | None = None
        # Events held back while `open` sends the history, so nothing overtakes it.
        self.held: list[tuple[str, int | None, int, bytes | None]] | None = None
        # A page that asked for them (`?frames=compact`) is sent a text-only frame as the
        # text alone, in a binary message, when it follows the same reply's text-only frame
        # (docs/protocol.md): `continues` is that frame's (message, seq).
        self.compact = "compact" in parse_qs(self.scope["query_string"].decode()).get("frames", ())
        self.continues: tuple[int, int] | None = None
        # The channel and reply of a reply written in another process that this socket
        # watches, and whether that writer still shows signs of life.
        self.watching = ""
        self.watched_reply: int | None = None
        self.guard: asyncio.Task | None = None
        self.frame_rate = limits.FrameRate()
        self.slowed = False  # told `slow_down` since the last frame handled
        await self.accept()
        if not await limits.claim_socket(self.user_id, self.channel_name):
            await self.refuse(limits.too_many_sockets(), close_code=4429)
            return
        await broadcast.watch_session(self.session_key, self, self.channel_name)
        self.guard = asyncio.create_task(self.keep_guard())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "guard", None) is not None:
            self.guard.cancel()
            await broadcast.unwatch_session(self.session_key, self, self.channel_name)
            await limits.release_socket(self.user_id, self.channel_name)
        if getattr(self, "conversation_id", None) is not None:
            await self.leave()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Counted before anything else, the session check included: a flood costs little.
        refusal = self.frame_rate.take()
        if refusal is not None:
            if not self.slowed:  # said once per flood, not once per frame
                self.slowed = True
                await self.refuse(refusal)
            return
        self.slowed = False
        try:
            if not await sessions.still_valid(self.session_key, self.user_id):
                await self.logged_out()
                return
            await self.handle(self.parse(text_data))
        except FrameError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": str(exc)})
        except limits.Limited as exc:
            await self.refuse(exc)
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
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
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
            "regenerate": self.regenerate,
            "edit": self.edit,
            "switch": self.switch,
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
        resume = resume_of(frame)
        # Subscribed first, then read: nothing is missed; held back, nothing overtakes.
        await self.enter(conversation.pk, hold=True)
        snapshot: tuple[int, int] | None = None
        try:
            parts, live = await history_frames(conversation)
            slices = Slices()  # megabytes of history must not hold up the loop
            for part in parts:
                await self.send(text_data=part)
                await slices.pause()
            if live is not None:
                offset = resume[1] if resume and resume[0] == live.pk else 0
                snapshot = await self.catch_up(conversation.pk, live, offset)
        finally:
            await self.release_held(snapshot)

    async def send_message(self, frame: dict) -> None:
        content = self.content_of(frame)
        model = chosen_model(frame)
        if running.full():  # before anything is saved; start_reply checks again
            raise FULL
        if frame.get("conversation") is not None:
            conversation = await self.owned_conversation(conversation_id(frame))
            if self.conversation_id != conversation.pk:
                await self.enter(conversation.pk)
            if await self.reply_is_running(conversation):
                raise FrameError("busy", "Wait for the reply to finish, or stop it first.")
            await self.start_reply(conversation, user_text=content, model=model)
            return
        prompt = system_prompt_of(frame)
        await check_limits(self.user_id)  # a refusal leaves no empty conversation behind
        conversation = await create_conversation(self.scope["user"], content, model, prompt)
        await self.enter(conversation.pk)  # before the reply's first event
        try:
            await self.start_reply(conversation, user_text=content, model=model)
        except BaseException:
            await self.leave()
            await delete_conversation(conversation)  # refused after all: nothing is kept
            raise
        await self.send_json({"type": "conversation", "conversation": conversation.as_dict()})

    async def stop(self, frame: dict) -> None:
        conversation = await self.owned_conversation(self.require_open(frame))
        writing_here = running.get(conversation.pk)
        if writing_here is not None:
            writing_here.stop()
            return
        live = await live_reply(conversation)
        if live is not None and live.writer:
            await broadcast.request_stop(live.writer)

    async def retry(self, frame: dict) -> None:
        """A new reply after one that did not finish: its new version, shown in its place."""
        conversation = await self.owned_conversation(self.require_open(frame))
        model = chosen_model(frame)
        await self.refuse_if_busy(conversation)
        try:
            parent = await replies.retry_point(conversation)
        except replies.NoSuchMessage:
            raise FrameError(
                "nothing_to_retry", "The last reply finished; there is nothing to retry."
            ) from None
        await self.start_reply(conversation, model=model, parent=parent)

    async def regenerate(self, frame: dict) -> None:
        """A new version of a reply (`message`: any round of it), with this model or another."""
        conversation = await self.owned_conversation(self.require_open(frame))
        pk, model = message_id(frame), chosen_model(frame)
        await self.refuse_if_busy(conversation)
        parent = await self.version_parent(conversation, pk, Message.Role.ASSISTANT)
        await self.start_reply(conversation, model=model, parent=parent)

    async def edit(self, frame: dict) -> None:
        """A new version of a user message, with new text; its reply follows."""
        conversation = await self.owned_conversation(self.require_open(frame))
        pk, content, model = message_id(frame), self.content_of(frame), chosen_model(frame)
        await self.refuse_if_busy(conversation)
        parent = await self.version_parent(conversation, pk, Message.Role.USER)
        await self.start_reply(conversation, user_text=content, model=model, parent=parent)

    async def switch(self, frame: dict) -> None:
        """Show another version; every socket on the conversation gets the new branch."""
        conversation = await self.owned_conversation(self.require_open(frame))
        pk = message_id(frame)
        if running.get(conversation.pk) is not None:
            raise BUSY_SWITCH
        try:
            shown = await replies.switch(conversation, pk, running.message_ids())
        except replies.NoSuchMessage:
            raise NO_MESSAGE from None
        except Busy:
            raise BUSY_SWITCH from None
        await broadcast.publish_history(conversation.pk, shown)

    async def change_settings(self, frame: dict) -> None:
        conversation = await self.owned_conversation(self.require_open(frame))
        prompt = system_prompt_of(frame)
        await save_system_prompt(conversation, prompt)
        await broadcast.publish(
            conversation.pk,
            {"type": "settings", "conversation": conversation.pk, "system_prompt": prompt},
        )

    # --- the socket's own life ---------------------------------------------------------

    async def refuse(self, limit: limits.Limited, close_code: int | None = None) -> None:
        refusal = {"type": "error", "code": limit.code, "message": str(limit)}
        if limit.retry_after is not None:
            refusal["retry_after"] = limit.retry_after
        await self.send_json(refusal)
        if close_code is not None:
            await self.close(code=close_code)

    async def logged_out(self) -> None:
        """The login this socket acts for is over: say so and close (chat.sessions)."""
        await self.send_json(
            {"type": "error", "code": "logged_out", "message": "You are logged out. Log in again."}
        )
        await self.close(code=4401)

    async def session_ended(self, event: dict) -> None:
        """Another process logged this socket's session out (chat.broadcast.end_session)."""
        if event.get("origin") != broadcast.PROCESS_ID:  # this process's heard it directly
            await self.logged_out()

    async def keep_guard(self) -> None:
        """While the socket is open: every WATCH_INTERVAL, whether the writer of a reply it
        watches in another process still lives; every sessions.RECHECK, whether its login
        still does, and renew its claim among the user's sockets."""
        since_check = 0.0
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            since_check += WATCH_INTERVAL
            try:
                if self.watched_reply is not None:
                    await self.check_writer()
                if since_check >= sessions.RECHECK:
                    since_check = 0.0
                    if not await sessions.still_valid(self.session_key, self.user_id):
                        await self.logged_out()
                        return
                    await limits.claim_socket(self.user_id, self.channel_name)
            except Exception:
                log.exception("the guard of a socket failed")

    async def check_writer(self) -> None:
        """A reply watched in another process whose row has stopped moving has lost its
        writer: mark it, and show it as it stands."""
        state, reply = await writer_check(self.watched_reply)
        if state == "alive":
            return
        self.watching, self.watched_reply = "", None
        if reply is not None:  # gone, not ended: the page would wait for it forever
            await self.send_json(
                {
                    "type": "message",
                    "conversation": reply.conversation_id,
                    "message": reply.as_dict(),
                }
            )

    # --- events for the browser ----------------------------------------------------------

    async def relay(
        self, data: str, message: int | None = None, seq: int = 0, text: bytes | None = None
    ) -> None:
        """An encoded event for this socket's conversation (chat.broadcast.Subscriber)."""
        if self.held is not None:
            self.held.append((data, message, seq, text))
        else:
            await self.send_event(data, message, seq, text)

    async def send_event(
        self, data: str, message: int | None, seq: int, text: bytes | None = None
    ) -> None:
        """Send an event; a text-only frame (`text`) as its bare text when this page asked
        for compact frames and has just had the same reply's text-only frame before it."""
        if text is not None and self.compact and self.continues == (message, seq - 1):
            await self.send(bytes_data=text)
        else:
            await self.send(text_data=data)
        if message is not None:  # a reply's frame
            self.continues = (message, seq) if text is not None else None

    async def chat_event(self, event: dict) -> None:
        """A conversation event from the group: one another process sent."""
        if event["origin"] == broadcast.PROCESS_ID:
            return  # this process's own: its sockets have it from the hub
        await self.relay(event["data"], event.get("message"), event.get("seq", 0))
        writer = event.get("writer")
        if writer and writer != self.watching:  # a reply started in another process: watch it
            self.watching, self.watched_reply = writer, event.get("reply")
            await broadcast.request_watch(writer, self.channel_name, 0)

    async def chat_relay(self, event: dict) -> None:
        """A frame of a reply this socket watches in another process."""
        text = event.get("text")
        await self.relay(
            event["data"],
            event.get("message"),
            event.get("seq", 0),
            text if isinstance(text, bytes) else None,
        )

    # --- helpers -----------------------------------------------------------------------

    async def enter(self, pk: int, *, hold: bool = False) -> None:
        """Make `pk` this socket's conversation: its events come here from now on (held
        back until `release_held` when `hold`)."""
        if self.conversation_id is not None:
            await self.leave()
        self.held = [] if hold else None
        self.continues = None
        self.conversation_id = pk
        broadcast.subscribe(pk, self)
        await broadcast.join_group(pk, self.channel_name)

    async def leave(self) -> None:
        broadcast.unsubscribe(self.conversation_id, self)
        await broadcast.leave_group(self.conversation_id, self.channel_name)
        if self.watching:
            await broadcast.request_unwatch(self.watching, self.channel_name)
            self.watching, self.watched_reply = "", None
        self.conversation_id = None
        self.held = None

    async def catch_up(self, pk: int, live: Message, offset: int) -> tuple[int, int] | None:
        """Send the live reply from `offset`; the (message, seq) of the snapshot sent here."""
        writing_here = running.get(pk)
        if writing_here is not None:
            pieces, seq = await writing_here.snapshot(offset)
            slices = Slices()
            for data in pieces:
                await self.send(text_data=data)
                await slices.pause()
            self.continues = None  # the next frame says again where the text goes on
            return writing_here.message_id, seq
        if live.writer and broadcast.multi_process():
            # Its writer sends the snapshot, then every frame, to this socket's channel.
            self.watching, self.watched_reply = live.writer, live.pk
            await broadcast.request_watch(live.writer, self.channel_name, offset)
        return None

    async def release_held(self, snapshot: tuple[int, int] | None) -> None:
        """Send what arrived during `open`, less the frames the snapshot already holds."""
        held = self.held or []
        while held:
            data, message, seq, text = held.pop(0)
            if snapshot is not None and message == snapshot[0] and seq <= snapshot[1]:
                continue
            await self.send_event(data, message, seq, text)
        self.held = None

    async def refuse_if_busy(self, conversation: Conversation) -> None:
        """Before anything is saved: the process is full, or a reply is being written."""
        if running.full():
            raise FULL
        if await self.reply_is_running(conversation):
            raise FrameError("busy", "Wait for the reply to finish, or stop it first.")

    @staticmethod
    async def version_parent(conversation: Conversation, pk: int, role: str) -> int | None:
        try:
            return await replies.version_parent(conversation, pk, role)
        except replies.NoSuchMessage as exc:
            if not exc.role:
                raise NO_MESSAGE from None
            if role == Message.Role.ASSISTANT:
                raise FrameError("bad_frame", "Only a reply can be regenerated.") from None
            raise FrameError("bad_frame", "Only your own messages can be edited.") from None

    def content_of(self, frame: dict) -> str:
        """A message's text, refused in words (before anything is saved) when it cannot be
        sent."""
        content = frame.get("content")
        if not isinstance(content, str):
            raise FrameError("bad_frame", "A message needs its text in `content`.")
        if not content.strip():
            raise FrameError("empty", "Type a message first.")
        if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise FrameError("too_long", self._too_long_text())
        refuse_unstorable(content, "The message")
        return content

    async def reply_is_running(self, conversation: Conversation) -> bool:
        if running.get(conversation.pk) is not None:
            return True
        # One process: its registry is the whole truth (the start-up sweep ended the rest).
        return broadcast.multi_process() and bool(await live_reply(conversation))

    async def start_reply(
        self,
        conversation: Conversation,
        *,
        user_text: str | None = None,
        model: str | None,
        parent: replies.Parent = replies.AT_LEAF,
    ) -> None:
        """Start a reply (after saving `user_text`, unless this is a retry), at the end of
        the branch shown or under `parent`; refused with nothing saved when one is already
        being written or the process is full."""
        try:
            await running.start(
                conversation,
                self.scope.get("server"),
                user_text=user_text,
                model=model,
                parent=parent,
            )
        except running.Full:
            raise FULL from None
        except Busy:
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


def message_id(frame: dict) -> int:
    value = frame.get("message")
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError("bad_frame", "`message` must be a message id.")
    return value


def resume_of(frame: dict) -> tuple[int, int] | None:
    """The (message, offset) an `open` frame says the page holds of a streaming reply."""
    resume = frame.get("resume")
    if resume is None:
        return None
    message = resume.get("message") if isinstance(resume, dict) else None
    offset = resume.get("offset") if isinstance(resume, dict) else None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (message, offset)):
        raise FrameError("bad_frame", "`resume` must be {message, offset} with whole numbers.")
    return message, offset


def chosen_model(frame: dict) -> str | None:
    """The model a frame asks for: one of CHAT_MODELS, or None to keep the current one."""
    model = frame.get("model")
    if model is None:
        return None
    if not isinstance(model, str) or model not in settings.CHAT_MODELS:
        raise FrameError("bad_frame", f"Unknown model {str(model)[:80]!r}.")
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
    refuse_unstorable(prompt, "The system prompt")
    return prompt.strip()


def refuse_unstorable(text: str, what: str) -> None:
    """Refuse, before anything is saved, text a database cannot store: the user keeps the
    draft and can fix it, rather than losing the message to a server error."""
    if has_unstorable(text):
        raise FrameError(
            "bad_text",
            f"{what} contains a character that cannot be saved (a NUL character or half of "
            "an emoji). Remove it and send again.",
        )


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
def check_limits(user_id: int) -> None:
    limits.check_replies(user_id, new_message=True)


@database_sync_to_async
def delete_conversation(conversation: Conversation) -> None:
    conversation.delete()


@database_sync_to_async
def save_system_prompt(conversation: Conversation, prompt: str) -> None:
    conversation.system_prompt = prompt
    conversation.save(update_fields=["system_prompt"])


@database_sync_to_async
def history_frames(conversation: Conversation) -> tuple[list[str], Message | None]:
    """The conversation's `history`, encoded as frames under the size limit (in the
    database's thread, so a long conversation never holds up the event loop), and the reply
    being written in it, if any."""
    live = running.live_reply(conversation)
    parts = history_parts(conversation.transcript())
    frames = [
        broadcast.encode(
            {
                "type": "history",
                "conversation": conversation.pk,
                "messages": messages,
                "part": number,
                "last": number == len(parts) - 1,
            }
        )
        for number, messages in enumerate(parts)
    ]
    return frames, live


live_reply = database_sync_to_async(running.live_reply)


WATCH_INTERVAL = 2  # seconds between checks that a watched reply's writer lives


@database_sync_to_async
def writer_check(reply_id: int) -> tuple[str, Message | None]:
    """ "alive", "ended" (its last frame is on its way), or "gone": its writer stopped
    checkpointing CHAT_WRITER_TIMEOUT ago, so it is marked interrupted and returned."""
    reply = Message.objects.filter(pk=reply_id).first()
    if reply is None or reply.status != Message.Status.STREAMING:
        return "ended", None
    if running.mark_dead_replies(reply.conversation) == 0:
        return "alive", None
    reply.refresh_from_db()
    return "gone", reply
