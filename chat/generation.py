"""A reply being written: an asyncio task that lives apart from any websocket.

It streams from the upstream and relays what is new as frames (docs/protocol.md): the text
added since the last frame with its offset, and what changed in the tool calls, coalesced
to at most one frame every CHAT_FRAME_INTERVAL. It renders nothing: the browser does. It
checkpoints the reply to the database while it streams and saves it whole at the end with a
status that says how it ended. When the model calls tools, the task runs them, saves the
calls and their results, and asks the model again: each round is one assistant message,
followed by one tool message per call, exactly as the OpenAI API shapes history.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from channels.layers import get_channel_layer
from django.conf import settings

from chat import broadcast, providers, replies, titles
from chat.frames import SMALL, TEXT_PIECE, split_frame, text_after, utf16_length
from chat.models import (
    ENDED_TOOL_STATES,
    Conversation,
    Message,
    ToolState,
    storable,
    storable_json,
)
from chat.pacing import Slices
from chat.protocol import Frame, MessageData, ToolCallChange, ToolCallData
from chat.providers.assembler import StreamAssembler
from chat.providers.http import Upstream, UpstreamError
from chat.providers.network import before_waiting
from chat.tools import ToolContext, enabled_tools, run_tool_call
from chat.usage import estimate, known

log = logging.getLogger(__name__)

Status = Message.Status

# finish_reason values that mean the model did not finish its answer.
CUT_SHORT = {
    "length": "The reply was cut off: the model reached its maximum length.",
    "content_filter": "The reply was cut off by the provider's content filter.",
}
TOOL_STOPPED = "Stopped by the user before the tool finished."
SERVER_FAILED = "Something went wrong on the server while writing this reply."
NOT_SAVED = "The server could not save the end of this reply. What arrived before is kept."
SAVE_RETRY_DELAY = 0.5  # seconds
# Text that waited out a frame interval waits for the next token until its oldest part is
# this share of an interval old (Generation._note_change).
FRAME_HOLD = 0.8
TEXT_ONLY = {"type", "message", "offset", "text", "seq"}  # a frame's keys when it holds text only


@dataclass
class ToolCall:
    """One tool call of the current round, and how much of it the watchers have been sent."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""  # as streamed: possibly not (yet) valid JSON
    state: str = ToolState.STREAMING
    duration_ms: int | None = None
    result: str = ""
    _sent: dict = field(default_factory=dict)
    _sent_arguments: str = ""

    FIELDS = ("id", "name", "state", "duration_ms", "result")

    def as_dict(self) -> ToolCallData:
        return {"index": self.index, "arguments": self.arguments} | {
            name: getattr(self, name) for name in self.FIELDS
        }

    def changes(self) -> ToolCallChange | None:
        """What changed since the last call, as a frame's `tools` entry; marks it sent."""
        change: ToolCallChange = {}
        for name in self.FIELDS:
            value = getattr(self, name)
            if self._sent.get(name, change) != value:
                change[name] = self._sent[name] = value
        if len(self.arguments) > len(self._sent_arguments):
            change["arguments_offset"] = utf16_length(self._sent_arguments)
            change["arguments"] = self.arguments[len(self._sent_arguments) :]
            self._sent_arguments = self.arguments
        return {"index": self.index, **change} if change else None

    def mark_sent(self) -> None:
        self._sent = {name: getattr(self, name) for name in self.FIELDS}
        self._sent_arguments = self.arguments

    def as_upstream(self) -> dict:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Generation:
    """The reply being written in one conversation; its current round's state."""

    def __init__(
        self, conversation_id: int, on_finished: Callable[[], None] = lambda: None
    ) -> None:
        self.conversation_id = conversation_id
        # Called once the reply is saved whole, before its last frame: the registry of
        # running replies lets it go (so a page opened now finds it in one or the other).
        self.on_finished = on_finished
        self.message_id = 0  # the current round's assistant message
        # This reply's own channel-layer channel: how other processes ask it to let a socket
        # watch it, or to stop.
        self.channel = ""
        self.task: asyncio.Task | None = None
        self.stop_requested = False
        self.remote_watchers: set[str] = set()
        # The publisher's wait (wait_for_change): resolved by wake(), when a frame falls due
        # with no token to carry it, or the round ends.
        self._wake: asyncio.Future | None = None
        self._deadline: asyncio.TimerHandle | None = None  # when the held text must go
        self._sending_here = False  # the reply's own task is sending a frame (send_due_frame)
        self._stop_after_send = False
        self._send_lock = asyncio.Lock()
        self.next_round(0)

    def next_round(self, message_id: int) -> None:
        self.message_id = message_id
        self.assembler = StreamAssembler()
        self.calls: list[ToolCall] = []
        self.tools_ran = False  # this round's calls were run and their results saved
        self.tail = message_id  # the round's last saved message (its last tool result)
        self.model = ""  # the exact model that answered, once saved, if the provider said
        self.status, self.error = Status.STREAMING, ""
        self.sent: list[dict] = []  # the history this round was asked with
        self.finished = False  # the round is over: its last frame is the save's
        self.flushing = False  # the publisher is sending a frame
        self.seq = 0
        # The round's text: blocks of TEXT_PIECE characters, each with the UTF-16 offset it
        # starts at, then the pieces after them. A page that joins a long reply is sent the
        # blocks as they are (snapshot): joining megabytes would hold up the loop.
        self._blocks: list[str] = []
        self._block_starts: list[int] = []
        self._tail: list[str] = []
        self._tail_chars = 0
        self._tail_start = 0  # the UTF-16 offset the tail starts at
        self._joined, self._joined_length = "", 0  # the text whole, as `text` last joined it
        self._unsent: list[str] = []  # the end of it, not yet in a frame
        self.length = 0  # of the text, in UTF-16 code units
        self.checkpointed = 0  # how much of it the last checkpoint wrote (chat.running)
        self._sent_length = 0
        self.last_frame_at = 0.0
        self.waiting_since: float | None = None  # when the oldest change not yet sent came
        self.frame_due = False  # what is new should go now (_note_change)
        self._cancel_deadline()

    # --- what arrived ------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The round's text whole, for the database: joined when it grew since last asked."""
        if self._joined_length != self.length:
            self._joined = "".join([*self._blocks, *self._tail])
            self._joined_length = self.length
        return self._joined

    def add_text(self, text: str) -> None:
        text = storable(text)  # what the model wrote is kept whatever it holds
        self._tail.append(text)
        self._tail_chars += len(text)
        self._unsent.append(text)
        self.length += utf16_length(text)
        if self._tail_chars >= TEXT_PIECE:
            self._make_blocks()
        self._note_change()

    def _make_blocks(self) -> None:
        """Cut the tail's whole TEXT_PIECEs into blocks; keep the rest as the tail."""
        tail = "".join(self._tail)
        cut = len(tail) - len(tail) % TEXT_PIECE
        start = self._tail_start
        for at in range(0, cut, TEXT_PIECE):
            block = tail[at : at + TEXT_PIECE]
            self._blocks.append(block)
            self._block_starts.append(start)
            start += utf16_length(block)
        rest = tail[cut:]
        self._tail, self._tail_chars, self._tail_start = [rest] if rest else [], len(rest), start

    def mark_changed(self) -> None:
        """Something new for the next frame from outside the round's reading (a tool's
        state): the publisher sends it when it falls due."""
        self._note_change()
        if self.frame_due:
            self.wake()

    def _note_change(self) -> None:
        """Time the next frame: at most one per CHAT_FRAME_INTERVAL, and due at once when a
        change comes after the interval is over.

        Text that waited out the interval is held for the next token until its oldest part
        is FRAME_HOLD of an interval old: tokens come at a steady pace, and a token that lands
        just after a frame would wait the whole interval. Holding locks the frames to the
        tokens' arrivals: at 30 tokens/s every frame carries two tokens, sent as the second
        arrives, so a token waits 0 or 33 ms, where sending at once left one token in three
        waiting 0 or 50 ms by a coin toss; and the frames are a quarter fewer
        (docs/benchmarks.md, "Figures, 7 December 2026 (later)").
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.waiting_since is None:
            self.waiting_since = now
        interval = settings.CHAT_FRAME_INTERVAL
        opens = self.last_frame_at + interval
        if now >= opens:
            self.frame_due = True  # sent by the round's task before it waits (send_due_frame)
            if self._deadline is None:  # or by the publisher, if the stream never runs dry
                self._deadline = loop.call_at(now + FRAME_HOLD * interval, self._deadline_passed)
        elif self._deadline is None:
            self._deadline = loop.call_at(
                max(opens, self.waiting_since + FRAME_HOLD * interval), self._deadline_passed
            )

    def _deadline_passed(self) -> None:
        self._deadline = None
        self.frame_due = True
        self.wake()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def wake(self) -> None:
        """End the publisher's wait now (a frame fell due; the round's end)."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait_for_change(self) -> None:
        """The publisher's wait: until wake(). One future, and no timer of its own: a
        frame's wait is made on every reply several times a second, and an Event with a
        sleep and a timeout around it cost the busy process a tenth of its loop's time."""
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        finally:
            self._wake = None

    def update_calls(self) -> None:
        """Take the tool calls as assembled so far (arguments still streaming in).

        Raises UpstreamError, which ends the round, when the model writes more calls or
        longer arguments than the site allows: the frames and the history stay bounded.
        """
        assembled = self.assembler.tool_calls()
        if len(assembled) > settings.CHAT_MAX_TOOL_CALLS:
            raise UpstreamError(
                f"The model asked for more than {settings.CHAT_MAX_TOOL_CALLS} tool calls at "
                "once, the most this site allows, so the reply was ended."
            )
        for index, call in enumerate(assembled):
            if len(call["function"]["arguments"]) > settings.CHAT_TOOL_ARGUMENTS_LIMIT:
                raise UpstreamError(
                    "The model wrote a tool call longer than "
                    f"{settings.CHAT_TOOL_ARGUMENTS_LIMIT:,} characters, the most this site "
                    "allows, so the reply was ended."
                )
            if index == len(self.calls):
                self.calls.append(ToolCall(index))
            view = self.calls[index]
            view.id = storable(call["id"] or view.id)[:200]  # the column holds 200
            view.name = storable(call["function"]["name"])
            view.arguments = storable(call["function"]["arguments"])
        self._note_change()  # read in the round's task, which sends what is due (_round)

    def text_from(self, offset: int) -> list[tuple[int, str]]:
        """The text from a UTF-16 offset (what a resuming page lacks) to its end, as pieces
        of at most TEXT_PIECE characters, each with its UTF-16 offset: the blocks as they
        are, the first cut where the offset falls. Nothing is joined but the tail."""
        texts = [*zip(self._block_starts, self._blocks, strict=True)]
        if self._tail:
            texts.append((self._tail_start, "".join(self._tail)))
        first = bisect.bisect_right(texts, offset, key=lambda text: text[0]) - 1
        if first < 0:
            return texts
        start, text = texts[first]
        if offset > start:  # where it falls: by index if nothing is outside the BMP
            cut = text[offset - start :] if utf16_length(text) == len(text) else None
            text = text_after(text, offset - start) if cut is None else cut
        return [(offset, text)] * bool(text) + texts[first + 1 :]

    # --- frames ------------------------------------------------------------------------

    def _take_frames(self, *, last: bool = False) -> list[Frame]:
        """The next frames: what is new since the last one (none when nothing is), cut to
        stay under the socket's size limit (chat/frames.py), each with its seq."""
        frame: Frame = {"type": "frame", "message": self.message_id}
        self.waiting_since, self.frame_due = None, False  # whatever is new goes now
        self._cancel_deadline()
        if self._unsent:
            text = "".join(self._unsent)
            self._unsent.clear()
            frame["offset"] = self._sent_length
            frame["text"] = text
            self._sent_length += utf16_length(text)
        tools = [change for call in self.calls if (change := call.changes())]
        if tools:
            frame["tools"] = tools
        if last:
            frame |= {"status": self.status, "error": self.error, "length": self.length}
            if self.model:
                frame["model"] = self.model
        elif len(frame) == 2:
            return []
        frames = split_frame(frame)
        for piece in frames:
            self.seq += 1
            piece["seq"] = self.seq
        self.last_frame_at = asyncio.get_running_loop().time()
        return frames

    async def flush(self) -> None:
        """Send what is new to every watcher, here and in other processes."""
        async with self._send_lock:
            await self._send(self._take_frames())

    async def send_due_frame(self) -> None:
        """Send the frame that is due, if one is, from the round's own task, when its stream
        has nothing more to read for now (chat.providers.network.before_waiting): waking the
        publisher to send it would cost a turn of the busy loop between the tokens and their
        frame, and a task switch for every token; sending at the first token that made it
        due would leave the tokens read with it waiting out the next interval.

        A Stop meanwhile waits until the frame is sent (see stop): a numbered frame cut off
        halfway would leave a gap in every browser.
        """
        if not self.frame_due or self.flushing or self.finished:
            return  # nothing due; or the publisher is sending, and goes round again for it
        self._sending_here = True
        try:
            await self.flush()
        finally:
            self._sending_here = False
            if self._stop_after_send and self.task is not None:
                self._stop_after_send = False
                self.task.cancel()

    async def _send(self, frames: list[Frame]) -> None:
        for frame in frames:
            data = broadcast.encode(frame)
            # Text and nothing else, as most frames are: a socket that has the frame before
            # may send just the text (docs/protocol.md, "Text-only frames").
            text = frame["text"].encode() if frame.keys() == TEXT_ONLY else None
            seq = frame["seq"]
            await broadcast.relay_here(self.conversation_id, data, self.message_id, seq, text)
            for channel in list(self.remote_watchers):
                try:
                    await broadcast.send_to(channel, data, self.message_id, seq, text)
                except Exception:  # a full or gone channel: that socket resynchronises
                    log.exception("watcher %s of reply %s dropped", channel, self.message_id)
                    self.remote_watchers.discard(channel)

    async def send_last_frame(self) -> None:
        """The round's last frame, to every socket on the conversation in every process
        (the frames before it, when the rest was too long for one, go as live frames)."""
        async with self._send_lock:
            *before, frame = self._take_frames(last=True)
            await self._send(before)
            await broadcast.publish(
                self.conversation_id, frame, message=self.message_id, seq=frame["seq"]
            )

    async def snapshot(self, offset: int, watcher: str = "") -> tuple[list[str], int]:
        """Everything from `offset` for a new watcher, as encoded frames, and the seq the
        live frames continue from.

        Sent frames first, so the snapshot is exactly what the live frames continue; a
        `watcher` channel (a socket in another process) is sent the snapshot and then every
        frame, in order.
        """
        async with self._send_lock:
            await self._send(self._take_frames())
            start = min(max(offset, 0), self._sent_length)
            texts = self.text_from(start)
            tools = [call.as_dict() for call in self.calls]
            base: Frame = {"type": "frame", "message": self.message_id}
            if sum(len(text) for _, text in texts) <= SMALL:
                text = "".join(text for _, text in texts)
                frames = split_frame(base | {"offset": start, "text": text, "tools": tools})
            else:  # a frame for each block as it is, then the tool calls (chat/frames.py)
                frames = [base | {"offset": at, "text": text} for at, text in texts]
                frames += split_frame(base | {"tools": tools}) if tools else []
            # Numbered up to the seq it stands for; a long snapshot moves the seq on, so
            # the live frames after it are still above all of its pieces.
            count = len(frames)
            self.seq = max(self.seq, count)
            encoded, slices = [], Slices()
            for seq, piece in enumerate(frames, start=self.seq - count + 1):
                piece["seq"] = seq
                encoded.append(broadcast.encode(piece))
                if watcher:
                    await broadcast.send_to(watcher, encoded[-1], self.message_id, seq)
                await slices.pause()  # megabytes of snapshot must not hold up the loop
            if watcher:
                self.remote_watchers.add(watcher)
            return encoded, self.seq

    # --- stopping ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the reply: cancelling its task closes the upstream request and abandons tools."""
        if self.stop_requested or self.task is None:
            return
        self.stop_requested = True
        if self._sending_here:
            self._stop_after_send = True  # the round's task, once its frame is out
        elif not self.finished:
            self.task.cancel()
        # Otherwise a round is being saved: let it finish; the next one will not start.


async def _listen(generation: Generation) -> None:
    """Answer requests sent to this reply's channel from other processes."""
    layer = get_channel_layer()
    while True:
        request = await layer.receive(generation.channel)
        kind, reply_to = request.get("type"), request.get("reply_to")
        if kind == "reply.stop":
            generation.stop()
        elif kind == "reply.watch" and isinstance(reply_to, str):
            offset = request.get("offset")
            await generation.snapshot(offset if isinstance(offset, int) else 0, reply_to)
        elif kind == "reply.unwatch" and isinstance(reply_to, str):
            generation.remote_watchers.discard(reply_to)


async def run(
    generation: Generation,
    conversation: Conversation,
    upstream: Upstream,
    history: list[dict],
    started: replies.Started | None = None,
) -> None:
    """Write the reply: round after round while the model calls tools, then save it.

    `started`: the user's message (if any) and the reply's row, announced here first (or
    the whole new branch, for a new version), so that a failure even there ends the reply
    in words rather than leaving it `streaming`.
    """
    listener = asyncio.create_task(_listen(generation))
    try:
        if started is not None:
            if started.shown is not None:
                await broadcast.publish_history(conversation.pk, started.shown)
            elif started.user_message is not None:
                await broadcast.publish(
                    conversation.pk,
                    {
                        "type": "message",
                        "conversation": conversation.pk,
                        "message": started.user_message,
                    },
                )
            await announce(started.reply, started.shown[-1] if started.shown else None)
        round_number = 1
        while await _round(generation, conversation, upstream, history, round_number):
            await _save_round(generation, conversation, last=False)
            reply, history = await replies.next_round(
                conversation, generation.channel, generation.tail
            )
            generation.next_round(reply.pk)
            await announce(reply)
            round_number += 1
    except asyncio.CancelledError:
        if not generation.stop_requested:
            raise  # the process is going away
        generation.status = Status.STOPPED  # stopped between two rounds
    except Exception:
        # Whatever breaks between rounds ends the reply in words, with what arrived saved.
        log.exception("reply %s failed between rounds", generation.message_id)
        generation.status, generation.error = Status.ERROR, SERVER_FAILED
    finally:
        listener.cancel()
        await _save_round(generation, conversation, last=True)
    if generation.status == Status.COMPLETE and settings.CHAT_MODEL_TITLES:
        _in_background(_improve_title(conversation, upstream))


async def _round(
    generation: Generation,
    conversation: Conversation,
    upstream: Upstream,
    history: list[dict],
    round_number: int,
) -> bool:
    """Stream one answer and run the tools it calls. True: ask the model again."""
    if generation.stop_requested:  # Stop came while the last round was being saved
        generation.status = Status.STOPPED
        return False
    helpers = [asyncio.create_task(_publish_frames(generation))]
    generation.sent = history
    tools = enabled_tools()
    go_on = False
    try:
        stream = providers.stream_completion(
            upstream,
            history,
            conversation.model or settings.CHAT_MODEL,
            generation.assembler,
            [tool.spec() for tool in tools],
        )
        with _sending_due_frames(generation):
            async for progress in stream:
                text = progress.content or progress.refusal
                if text:
                    generation.add_text(text)
                    if generation.length > settings.CHAT_MAX_REPLY_LENGTH:
                        raise UpstreamError(
                            f"The model wrote more than {settings.CHAT_MAX_REPLY_LENGTH:,} "
                            "characters, the most this site keeps of one reply, so the reply "
                            "was ended there."
                        )
                if progress.tool_calls:
                    generation.update_calls()
        # The reply stays `streaming` while its tools run: Stop must still reach them.
        status, error = _outcome(generation.assembler.ending())
        calls = generation.assembler.tool_calls()
        if status == Status.COMPLETE and calls:
            await _run_tools(
                generation, calls, tools, ToolContext(conversation.user_id, conversation.pk)
            )
            if round_number >= settings.CHAT_MAX_TOOL_ROUNDS:
                status = Status.ERROR
                error = (
                    f"The model asked for tools {round_number} times in a row, the most this "
                    "site allows (CHAT_MAX_TOOL_ROUNDS), so the reply ends here. Send a message "
                    "to let it go on."
                )
            else:
                go_on = True
        generation.status, generation.error = status, error
    except UpstreamError as exc:
        generation.status, generation.error = Status.ERROR, str(exc)
    except asyncio.CancelledError:
        if not generation.stop_requested:
            raise  # the process is going away; the row is marked interrupted later
        generation.status = Status.STOPPED
    except Exception:
        log.exception("reply %s failed", generation.message_id)
        generation.status, generation.error = Status.ERROR, SERVER_FAILED
    finally:
        generation.finished = True
        generation.wake()
        # The publisher finishes the frame in hand (a numbered frame lost halfway would
        # leave a gap in every browser), and stops at once if it has none.
        if not generation.flushing:
            for helper in helpers:
                helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    return go_on


@contextmanager
def _sending_due_frames(generation: Generation) -> Iterator[None]:
    """While the round's task reads the stream, it sends the frame its tokens made due
    each time the stream has nothing more to read (chat.providers.network.before_waiting).
    Only then: the tools run in tasks of their own, which must not send the reply's frames."""
    sending = before_waiting.set(generation.send_due_frame)
    try:
        yield
    finally:
        before_waiting.reset(sending)


async def _run_tools(
    generation: Generation, calls: list[dict], tools: list, context: ToolContext
) -> None:
    """Run the round's calls at once, showing each as it starts and ends; save the results."""
    generation.update_calls()
    for i, view in enumerate(generation.calls):
        view.id = view.id or f"call_{generation.message_id}_{i}"  # some servers send no id
        view.state = ToolState.RUNNING
    generation.mark_changed()

    async def run(view: ToolCall, call: dict) -> None:
        result = await run_tool_call(call, context, tools)
        view.state = ToolState.DONE if result.ok else ToolState.FAILED
        view.duration_ms, view.result = result.duration_ms, storable(result.content)
        generation.mark_changed()

    try:
        await asyncio.gather(
            *(run(view, call) for view, call in zip(generation.calls, calls, strict=True))
        )
    finally:
        # Stopped halfway, every call still gets a result, so the history stays whole.
        for view in generation.calls:
            if view.state == ToolState.RUNNING:
                view.state, view.result = ToolState.STOPPED, TOOL_STOPPED
        generation.tail = await replies.save_tool_results(
            generation.conversation_id, generation.message_id, generation.calls
        )
        generation.tools_ran = True


async def _publish_frames(generation: Generation) -> None:
    """Send the frames that fall due with no read to carry them: held text whose time is
    up, a tool's new state (Generation._note_change times them; the round's task sends the
    ones its tokens make due when its stream runs dry: send_due_frame)."""
    while not generation.finished:  # once finished, the last frame is the save's
        if not generation.frame_due:
            await generation.wait_for_change()
            continue
        # Not cancelled while it sends (see _round): no task per frame to shield it.
        generation.flushing = True
        try:
            await generation.flush()
        finally:
            generation.flushing = False


async def _save_round(generation: Generation, conversation: Conversation, *, last: bool) -> None:
    """Save the round's message whole and send its last frame."""
    if generation.status == Status.STREAMING:  # cut off by a shutdown: keep what we have
        generation.status = Status.INTERRUPTED
        generation.error = "The server stopped while this reply was being written."
    for view in generation.calls:
        if view.state not in ENDED_TOOL_STATES:  # arguments cut off before the tool could run
            view.state = (
                ToolState.STOPPED if generation.status == Status.STOPPED else ToolState.FAILED
            )
    try:
        await _save_final(generation, conversation)
    finally:
        if last:
            generation.on_finished()
    try:
        await generation.send_last_frame()
    except Exception:
        log.exception("the last frame of reply %s could not be sent", generation.message_id)


async def _save_final(generation: Generation, conversation: Conversation) -> None:
    """Save the round whole, trying once more after a moment: a database that hiccups must
    not lose a reply. If it still fails, the checkpoints hold what arrived, the row (still
    `streaming`) is marked interrupted once nobody writes it, and the pages hear the reply
    ended all the same."""
    fields = _final_fields(generation)
    for attempt in range(2):
        try:
            await replies.save_final(
                conversation.pk,
                generation.message_id,
                fields,
                conversation.user_id,
                conversation.model or settings.CHAT_MODEL,  # what the round asked for
            )
            return
        except Exception:
            log.exception("reply %s could not be saved", generation.message_id)
            if attempt == 0:
                await asyncio.sleep(SAVE_RETRY_DELAY)
    generation.status, generation.error = Status.ERROR, NOT_SAVED


def _final_fields(generation: Generation) -> dict:
    ending = generation.assembler.ending()
    fields = {
        "content": generation.text,
        "status": generation.status,
        "error": generation.error,
        # What the provider says is kept only as a database can store it.
        "finish_reason": storable(ending["finish_reason"] or "")[:32],
        # Exactly as streamed, and only once they have results: history needs both.
        "tool_calls": [view.as_upstream() for view in generation.calls]
        if generation.tools_ran
        else None,
        "usage": _usage(generation, ending),
    }
    if ending["model"]:  # the exact model version that answered, when the provider says
        fields["model"] = generation.model = storable(ending["model"])[:200]
    return fields


def _usage(generation: Generation, ending: dict) -> dict | None:
    """The round's usage as the provider said it; estimated from the text when it said
    nothing but answered (a round the provider refused used nothing)."""
    said = known(ending["usage"])
    if said is not None:
        return storable_json(said)
    if not (generation.text or generation.calls):
        return None
    calls = [view.as_upstream() for view in generation.calls]
    return estimate(generation.sent, generation.text, calls)


# Background work that no reply waits for; held so it is not garbage-collected midway.
_background: set[asyncio.Task] = set()


def _in_background(work) -> None:
    task = asyncio.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _improve_title(conversation: Conversation, upstream: Upstream) -> None:
    try:
        title = await titles.improve_title(conversation, upstream)
    except Exception:
        log.exception("title of conversation %s", conversation.pk)
        return
    if title:
        conversation.title = title
        await broadcast.publish(
            conversation.pk, {"type": "conversation", "conversation": conversation.as_dict()}
        )


async def announce(reply: Message, data: MessageData | None = None) -> None:
    """Tell every socket on the conversation that a reply has started (`writer`: its channel,
    for sockets in other processes to watch it); `data`: the reply as the page shows it, when
    it is known already (with its versions)."""
    message = data or reply.as_dict()
    await broadcast.publish(
        reply.conversation_id,
        {"type": "message", "conversation": reply.conversation_id, "message": message},
        writer=reply.writer,
        reply=reply.pk,
    )


def _outcome(ending: dict) -> tuple[str, str]:
    reason = ending["finish_reason"]
    if reason in CUT_SHORT:
        return Status.ERROR, CUT_SHORT[reason]
    return Status.COMPLETE, ""
