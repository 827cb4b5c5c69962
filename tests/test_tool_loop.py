"""The tool loop: the model calls tools, the site runs them, sends the results back, and the
model goes on; each test checks the exact body the upstream receives next."""

import asyncio
import json

import pytest

from chat import tools as tools_api
from chat.models import Message
from tests.upstream_server import DONE, USAGE, Reply, chunk, error_reply, text_reply
from tests.ws import ReplyView, Socket, frames_of

pytestmark = pytest.mark.django_db(transaction=True)


def tool_call_reply(
    *calls: tuple[str, str, list[str]], text: str = "", pause: float = 0.0, interleave: bool = False
) -> Reply:
    """A streamed reply calling tools: (id, name, argument fragments) per call."""
    body: list = [chunk({"role": "assistant", "content": text or None})]
    starts = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        for i, (call_id, name, _) in enumerate(calls)
    ]
    pieces = [
        [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
            for fragment in fragments
        ]
        for i, (_, _, fragments) in enumerate(calls)
    ]
    if interleave:
        body += starts
        for row in range(max(len(p) for p in pieces)):
            body += [p[row] for p in pieces if row < len(p)]
    else:
        for start, own in zip(starts, pieces, strict=True):
            body += [start, *own]
    if pause:
        body = [item for piece in body for item in (pause, piece)]
    body += [chunk({}, finish_reason="tool_calls"), chunk(None, usage=USAGE), DONE]
    return Reply(body=body)


def fragments(arguments: dict, size: int = 3) -> list[str]:
    text = json.dumps(arguments)
    return [text[i : i + size] for i in range(0, len(text), size)]


def call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@pytest.fixture(autouse=True)
def test_tools(settings):
    async def slow_tool(seconds: float) -> str:
        """Wait, then answer.

        Args:
            seconds: how long to wait.
        """
        await asyncio.sleep(seconds)
        return f"waited {seconds}"

    tools_api.REGISTRY["slow_tool"] = tools_api.make_tool(slow_tool)
    settings.CHAT_TOOLS = ["calculator", "get_current_time", "slow_tool"]
    settings.CHAT_SYSTEM_PROMPT = ""
    yield
    tools_api.REGISTRY.pop("slow_tool", None)


async def ask(alice, content: str = "What is 6*7?") -> tuple[Socket, int]:
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": content})
    return socket, (await socket.recv())["conversation"]["id"]


async def until_done(socket: Socket) -> list[dict]:
    """Every frame until the last round's reply ends (a non-streaming frame not followed
    by a new round)."""
    frames = []
    while True:
        frames += await socket.recv_reply_end(timeout=15)
        # A round that ended in tool calls is followed at once by the next round's `message`.
        if frames[-1]["status"] != "complete" or await socket.nothing(0.3):
            return frames


async def replies() -> list[Message]:
    return [m async for m in Message.objects.exclude(role="user").order_by("id")]


async def test_one_round_runs_the_tool_and_sends_the_result_back(alice, upstream):
    args = '{"expression": "6*7"}'
    upstream.queue(
        # Paused longer than a frame interval: the arguments are seen arriving.
        tool_call_reply(
            ("call_a", "calculator", [args[:8], args[8:]]), text="Let me compute. ", pause=0.05
        ),
        text_reply(["It is ", "42."]),
    )
    socket, _ = await ask(alice)
    frames = await until_done(socket)

    first, second = upstream.wait_for_requests(2)
    assert [t["function"]["name"] for t in first["body"]["tools"]] == [
        "calculator",
        "get_current_time",
        "slow_tool",
    ]
    assert second["body"]["messages"] == [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": "Let me compute. ",
            "tool_calls": [call("call_a", "calculator", args)],
        },
        {
            "role": "tool",
            "content": '{"expression": "6*7", "result": 42}',
            "tool_call_id": "call_a",
        },
    ]
    assert second["body"]["tools"] == first["body"]["tools"]

    asked, result, answer = await replies()
    assert (asked.role, asked.status, asked.finish_reason) == (
        "assistant",
        "complete",
        "tool_calls",
    )
    assert asked.tool_calls == [call("call_a", "calculator", args)]
    assert asked.content == "Let me compute. "
    assert (result.role, result.tool_call_id, result.error) == ("tool", "call_a", "")
    assert (result.status, type(result.duration_ms)) == ("complete", int)
    assert (answer.status, answer.content) == ("complete", "It is 42.")

    tool_frames = [f for f in frames_of(frames) if f["message"] == asked.pk]
    states = [
        change["state"] for f in tool_frames for change in f.get("tools", ()) if "state" in change
    ]
    assert (states[0], states[-1]) == ("streaming", "done")  # shown before it ran, then done
    assert ["status" in f for f in tool_frames] == [False] * (len(tool_frames) - 1) + [True]
    view = ReplyView()
    for frame in tool_frames:
        view.apply(frame)
    assert view.tools[0] | {"duration_ms": 0} == {
        "index": 0,
        "id": "call_a",
        "name": "calculator",
        "arguments": args,
        "state": "done",
        "duration_ms": 0,
        "result": '{"expression": "6*7", "result": 42}',
    }
    await socket.close()


async def test_several_rounds_carry_the_whole_history(alice, upstream):
    upstream.queue(
        tool_call_reply(("c1", "calculator", ['{"expression": "2+2"}'])),
        tool_call_reply(("c2", "calculator", ['{"expression": "4*10"}'])),
        text_reply(["Done."]),
    )
    socket, _ = await ask(alice)
    await until_done(socket)
    requests = upstream.wait_for_requests(3)
    assert [m["role"] for m in requests[2]["body"]["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert requests[2]["body"]["messages"][4] == {
        "role": "tool",
        "content": '{"expression": "4*10", "result": 40}',
        "tool_call_id": "c2",
    }
    assert [m.role for m in await replies()] == [
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    await socket.close()


async def test_parallel_calls_split_in_many_fragments_run_together(alice, upstream):
    upstream.queue(
        tool_call_reply(
            ("p1", "slow_tool", fragments({"seconds": 1.0}, 2)),
            ("p2", "slow_tool", fragments({"seconds": 1.0}, 2)),
            interleave=True,
        ),
        text_reply(["Both done."]),
    )
    socket, _ = await ask(alice)
    await until_done(socket)
    messages = upstream.wait_for_requests(2)[1]["body"]["messages"]
    assert messages[1]["tool_calls"] == [
        call("p1", "slow_tool", '{"seconds": 1.0}'),
        call("p2", "slow_tool", '{"seconds": 1.0}'),
    ]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        ("p1", "waited 1.0"),
        ("p2", "waited 1.0"),
    ]
    asked, *results = (await replies())[:3]
    assert [type(result.duration_ms) for result in results] == [int, int]
    # Run together: one after the other would take 2 s or more.
    assert (asked.updated - asked.created).total_seconds() < 1.8
    await socket.close()


@pytest.mark.parametrize(
    ("name", "arguments", "words"),
    [
        ("no_such_tool", "{}", "Unknown tool 'no_such_tool'"),
        ("calculator", '{"expression": ', "not valid JSON"),
        ("calculator", '{"expr": "1"}', "expression"),
        ("calculator", '{"expression": "1/0"}', "Division by zero"),
    ],
)
async def test_a_bad_call_becomes_an_error_result_the_model_sees(
    alice, upstream, name, arguments, words
):
    upstream.queue(tool_call_reply(("bad", name, [arguments])), text_reply(["Sorry."]))
    socket, _ = await ask(alice)
    await until_done(socket)
    sent_back = upstream.wait_for_requests(2)[1]["body"]["messages"][2]
    assert sent_back["role"] == "tool" and sent_back["tool_call_id"] == "bad"
    assert words in sent_back["content"]
    _, result, answer = await replies()
    assert result.status == "error"
    assert words in result.error
    assert answer.status == "complete"
    await socket.close()


async def test_a_tool_that_takes_too_long_times_out(alice, upstream, settings):
    settings.CHAT_TOOL_TIMEOUT = 0.3
    upstream.queue(tool_call_reply(("t", "slow_tool", ['{"seconds": 5}'])), text_reply(["Ok."]))
    socket, _ = await ask(alice)
    await until_done(socket)
    assert upstream.wait_for_requests(2)[1]["body"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("t", "slow_tool", '{"seconds": 5}')],
        },
        {"role": "tool", "content": "The tool timed out after 0.3 seconds.", "tool_call_id": "t"},
    ]
    await socket.close()


async def test_past_the_round_limit_the_reply_ends_with_an_explanation(alice, upstream, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    for i in range(3):
        upstream.queue(tool_call_reply((f"r{i}", "calculator", ['{"expression": "1+1"}'])))
    socket, conversation_id = await ask(alice)
    frames = await until_done(socket)
    assert frames[-1]["status"] == "error"
    assert "2 times in a row" in frames[-1]["error"]
    assert len(upstream.wait_for_requests(3, timeout=1)) == 2
    # The conversation goes on, with both rounds' calls and results in its history.
    upstream.queue(text_reply(["Fine."]))
    await socket.send({"type": "send", "conversation": conversation_id, "content": "go on"})
    await socket.recv_reply_end()
    two = {"role": "tool", "content": '{"expression": "1+1", "result": 2}'}
    assert upstream.wait_for_requests(3)[2]["body"]["messages"] == [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("r0", "calculator", '{"expression": "1+1"}')],
        },
        two | {"tool_call_id": "r0"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("r1", "calculator", '{"expression": "1+1"}')],
        },
        two | {"tool_call_id": "r1"},
        {"role": "user", "content": "go on"},
    ]
    await socket.close()


async def test_stop_during_a_tool_keeps_a_whole_history(alice, upstream):
    upstream.queue(tool_call_reply(("s", "slow_tool", ['{"seconds": 30}'])))
    socket, conversation_id = await ask(alice)
    await socket.recv_until(
        lambda f: (
            f["type"] == "frame"
            and any(change.get("state") == "running" for change in f.get("tools", ()))
        )
    )
    await socket.send({"type": "stop", "conversation": conversation_id})
    view = ReplyView.of(await socket.recv_reply_end())
    # The call's new state may come in the last frame or in one just before it.
    assert view.status == "stopped" and view.tools[0]["state"] == "stopped"
    asked, result = await replies()
    assert asked.status == "stopped" and asked.tool_calls == [
        call("s", "slow_tool", '{"seconds": 30}')
    ]
    assert result.content == "Stopped by the user before the tool finished."

    upstream.queue(text_reply(["Alright."]))
    await socket.send({"type": "send", "conversation": conversation_id, "content": "never mind"})
    await socket.recv_reply_end()
    assert upstream.wait_for_requests(2)[1]["body"]["messages"] == [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("s", "slow_tool", '{"seconds": 30}')],
        },
        {
            "role": "tool",
            "content": "Stopped by the user before the tool finished.",
            "tool_call_id": "s",
        },
        {"role": "user", "content": "never mind"},
    ]
    await socket.close()


async def test_a_failed_round_is_left_out_and_the_conversation_continues(alice, upstream):
    upstream.queue(
        tool_call_reply(("f", "calculator", ['{"expression": "3*3"}'])), error_reply(500, "boom")
    )
    socket, conversation_id = await ask(alice)
    frames = await until_done(socket)
    assert frames[-1]["status"] == "error"
    upstream.queue(text_reply(["Recovered."]))
    await socket.send({"type": "send", "conversation": conversation_id, "content": "again"})
    await socket.recv_reply_end()
    assert upstream.wait_for_requests(3)[2]["body"]["messages"] == [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("f", "calculator", '{"expression": "3*3"}')],
        },
        {"role": "tool", "content": '{"expression": "3*3", "result": 9}', "tool_call_id": "f"},
        {"role": "user", "content": "again"},
    ]
    await socket.close()


async def test_a_reopened_conversation_shows_the_tool_blocks(alice, upstream):
    upstream.queue(
        tool_call_reply(("o", "calculator", ['{"expression": "5+5"}'])), text_reply(["Ten."])
    )
    socket, conversation_id = await ask(alice)
    await until_done(socket)
    await socket.send({"type": "open", "conversation": conversation_id})
    history = await socket.recv()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "assistant"]
    asked, answer = history["messages"][1:]
    assert asked["tool_calls"] == [
        {
            "index": 0,
            "id": "o",
            "name": "calculator",
            "arguments": '{"expression": "5+5"}',
            "state": "done",
            "duration_ms": asked["tool_calls"][0]["duration_ms"],
            "result": '{"expression": "5+5", "result": 10}',
        }
    ]
    assert isinstance(asked["tool_calls"][0]["duration_ms"], int)
    assert answer["content"] == "Ten."
    await socket.close()


async def test_the_system_prompt_goes_first_and_the_model_is_the_chosen_one(
    alice, upstream, settings
):
    settings.CHAT_TOOLS = []
    settings.CHAT_SYSTEM_PROMPT = "Be brief."
    settings.CHAT_MODELS = ["test-model", "other-model"]
    socket = await Socket.open_as(alice)
    await socket.send(
        {
            "type": "send",
            "conversation": None,
            "content": "hi",
            "model": "other-model",
            "system_prompt": "Speak like a pirate.",
        }
    )
    conversation_id = (await socket.recv())["conversation"]["id"]
    await socket.recv_reply_end()
    await socket.send({"type": "settings", "conversation": conversation_id, "system_prompt": ""})
    assert (await socket.recv_until(lambda f: f["type"] == "settings"))[-1]["system_prompt"] == ""
    await socket.send(
        {"type": "send", "conversation": conversation_id, "content": "again", "model": "test-model"}
    )
    await socket.recv_reply_end()
    first, second = upstream.wait_for_requests(2)
    assert first["body"]["model"] == "other-model"
    assert first["body"]["messages"][0] == {"role": "system", "content": "Speak like a pirate."}
    assert second["body"]["model"] == "test-model"
    assert second["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    await socket.send(
        {"type": "send", "conversation": conversation_id, "content": "x", "model": "gpt-unknown"}
    )
    assert (await socket.recv())["code"] == "bad_frame"
    await socket.close()


async def test_the_same_loop_through_the_anthropic_adapter(alice, upstream, settings):
    from tests.test_anthropic import (
        MESSAGE_START,
        MESSAGE_STOP,
        block_stop,
        message_delta,
        text_delta,
        text_start,
        tool_use,
    )

    settings.CHAT_MODELS = ["claude-test"]
    settings.CHAT_MODEL = "claude-test"
    settings.CHAT_MODEL_PROVIDERS = {"claude-test": "anthropic"}
    settings.ANTHROPIC_BASE_URL = upstream.url.removesuffix("/v1")
    settings.ANTHROPIC_API_KEY = "ak-test"
    settings.CHAT_SYSTEM_PROMPT = "Be exact."
    upstream.queue(
        Reply(
            body=[
                MESSAGE_START,
                text_start(),
                text_delta("Computing. "),
                block_stop(0),
                *tool_use(1, "toolu_1", "calculator", '{"expression": "6*7"}'),
                message_delta("tool_use"),
                MESSAGE_STOP,
            ]
        ),
        Reply(
            body=[
                MESSAGE_START,
                text_start(),
                text_delta("It is 42."),
                block_stop(0),
                message_delta("end_turn"),
                MESSAGE_STOP,
            ]
        ),
    )
    socket, _ = await ask(alice)
    frames = await until_done(socket)
    assert frames[-1]["status"] == "complete"

    first, second = upstream.wait_for_requests(2)
    assert second["path"] == "/v1/messages"
    assert second["headers"]["x-api-key"] == "ak-test"
    assert second["body"]["system"] == "Be exact."
    assert [t["name"] for t in first["body"]["tools"]] == [
        "calculator",
        "get_current_time",
        "slow_tool",
    ]
    assert second["body"]["messages"] == [
        {"role": "user", "content": "What is 6*7?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Computing. "},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "calculator",
                    "input": {"expression": "6*7"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": '{"expression": "6*7", "result": 42}',
                }
            ],
        },
    ]
    asked, _, answer = await replies()
    assert asked.tool_calls == [call("toolu_1", "calculator", '{"expression": "6*7"}')]
    assert answer.content == "It is 42."
    await socket.close()


async def test_a_stop_that_arrives_between_rounds_ends_the_reply_before_the_next(upstream):
    from chat import generation
    from chat.providers.http import Upstream

    between = generation.Generation(conversation_id=1)
    between.message_id, between.finished = 1, True
    between.task = asyncio.current_task()
    between.stop()  # a round is being saved: nothing is cancelled...
    assert between.stop_requested
    # ...and the next round does not start: no request reaches the upstream.
    assert await generation._round(between, None, Upstream(upstream.url), [], 2) is False
    assert between.status == "stopped"
    assert upstream.requests == []
