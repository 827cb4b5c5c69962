"""Every frame the server sends has the shape chat/protocol.py (and docs/protocol.md) gives
it: a reply with text and a tool call, its history, and a refusal, checked key by key."""

import types
import typing

import pytest

from chat import protocol
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)

SHAPES = {
    "frame": protocol.Frame,
    "history": protocol.HistoryEvent,
    "message": protocol.MessageEvent,
    "conversation": protocol.ConversationEvent,
    "settings": protocol.SettingsEvent,
    "deleted": protocol.DeletedEvent,
    "error": protocol.ErrorEvent,
}


def problems(value, hint, where: str = "frame") -> list[str]:
    """What in `value` does not fit the type `hint` (a TypedDict, list, union, literal…)."""
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where} is not an object"]
        hints = typing.get_type_hints(hint)
        found = [f"{where} lacks {key}" for key in hint.__required_keys__ - value.keys()]
        found += [f"{where} has an unknown {key}" for key in value.keys() - hints.keys()]
        for key in value.keys() & hints.keys():
            found += problems(value[key], hints[key], f"{where}.{key}")
        return found
    if origin is list:
        if not isinstance(value, list):
            return [f"{where} is not a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{where}[{i}]")]
    if origin in (typing.Union, types.UnionType):
        fits = any(not problems(value, option, where) for option in typing.get_args(hint))
        return [] if fits else [f"{where} is {value!r}, not {hint}"]
    if origin is typing.Literal:
        return [] if value in typing.get_args(hint) else [f"{where} is {value!r}"]
    if hint is type(None):
        return [] if value is None else [f"{where} is not null"]
    if hint is int and isinstance(value, bool):
        return [f"{where} is a boolean"]
    return [] if isinstance(value, hint) else [f"{where} is {type(value).__name__}"]


def check(frames: list[dict]) -> None:
    for frame in frames:
        assert problems(frame, SHAPES[frame["type"]]) == [], frame


def test_the_checker_finds_what_does_not_fit():
    assert problems({"type": "frame", "message": 1}, protocol.Frame) == ["frame lacks seq"]
    found = problems({"type": "frame", "message": "1", "seq": 1, "x": 0}, protocol.Frame)
    assert sorted(found) == ["frame has an unknown x", "frame.message is str"]
    assert problems({"index": 0, "state": 3}, protocol.ToolCallChange) == ["frame.state is int"]


async def test_a_reply_with_a_tool_call_its_history_and_a_refusal_fit_their_shapes(alice, upstream):
    upstream.queue(
        tool_call_reply(("c1", "calculator", ['{"expression": ', '"6*7"}']), pause=0.03),
        text_reply(["It is ", "**42**."], pause=0.03),
    )
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "What is 6*7?"})
    ended = []  # the rounds' last frames: the tool call's, then the answer's
    frames = await socket.recv_until(
        lambda f: (
            f["type"] == "frame" and "status" in f and ended.append(f) is None and len(ended) == 2
        )
    )
    conversation = frames[0]["conversation"]["id"]
    await socket.send({"type": "open", "conversation": conversation})
    frames += await socket.recv_until(lambda f: f["type"] == "history")
    await socket.send({"type": "send", "conversation": conversation, "content": " "})
    frames += await socket.recv_until(lambda f: f["type"] == "error")
    await socket.close()

    assert {f["type"] for f in frames} == {"conversation", "message", "frame", "history", "error"}
    assert any("tools" in f for f in frames if f["type"] == "frame")
    check(frames)
