"""The tool registry, the schemas derived from Python functions, and the runner."""

import asyncio
import json
import threading
import time
from typing import Literal

import pytest

from chat import tools
from chat.tools import REGISTRY, Tool, ToolContext, enabled_tools, make_tool, run_tool_call, tool

CONTEXT = ToolContext(user_id=1)


def call(name: str, arguments) -> dict:
    """An OpenAI tool call; a dict of arguments is encoded the way the API sends it."""
    encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": encoded}}


def forecast(
    city: str,
    days: int,
    unit: Literal["celsius", "fahrenheit"] = "celsius",
    tags: list[str] | None = None,
    detailed: bool = False,
    threshold: float | None = None,
    context: ToolContext | None = None,
) -> dict:
    """Get the weather forecast for a city.

    Longer notes that are not part of the description.

    Args:
        city: The city's name.
        days (int): How many days,
            from 1 to 7.
        unit: The temperature unit.
        tags: Labels to attach.

    Returns:
        The forecast.
    """
    return {"city": city, "days": days, "unit": unit, "tags": tags, "user": context.user_id}


FORECAST = make_tool(forecast)


# --- Schema derivation ------------------------------------------------------------------


def test_schema_is_derived_from_hints_and_docstring():
    assert FORECAST.name == "forecast"
    assert FORECAST.description == "Get the weather forecast for a city."
    assert FORECAST.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city's name."},
            "days": {"type": "integer", "description": "How many days, from 1 to 7."},
            "unit": {
                "type": "string",
                "enum": ["celsius", "fahrenheit"],
                "description": "The temperature unit.",
                "default": "celsius",
            },
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Labels to attach.",
            },
            "detailed": {"type": "boolean", "default": False},
            "threshold": {"type": "number"},
        },
        "required": ["city", "days"],
        "additionalProperties": False,
    }


def test_context_is_never_in_the_schema():
    assert "context" not in FORECAST.parameters["properties"]
    assert "context" not in FORECAST.parameters["required"]


def test_spec_has_the_openai_shape():
    assert FORECAST.spec() == {
        "type": "function",
        "function": {
            "name": "forecast",
            "description": "Get the weather forecast for a city.",
            "parameters": FORECAST.parameters,
        },
    }


def test_explicit_name_description_and_parameters_win():
    schema = {"type": "object", "properties": {}}

    def anything(**kwargs):
        return kwargs

    built = make_tool(anything, name="other", description="Do a thing.", parameters=schema)
    assert (built.name, built.description, built.parameters) == ("other", "Do a thing.", schema)


def test_literal_of_mixed_types_has_enum_without_type():
    def pick(level: Literal[1, "max"]) -> str:
        """Pick."""
        return str(level)

    assert make_tool(pick).parameters["properties"]["level"] == {"enum": [1, "max"]}


@pytest.mark.parametrize(
    "hint", [dict, list, tuple[int, int], int | str, object, "set[str]"], ids=repr
)
def test_unsupported_hint_is_refused_at_decoration(hint):
    def bad(value):
        """Bad."""

    bad.__annotations__ = {"value": hint}
    with pytest.raises(TypeError, match="value"):
        make_tool(bad)


def test_parameter_without_hint_or_tool_without_docstring_is_refused():
    def untyped(value):
        """Untyped."""

    def undocumented(value: int):
        pass

    with pytest.raises(TypeError, match="no type hint"):
        make_tool(untyped)
    with pytest.raises(TypeError, match="description"):
        make_tool(undocumented)


def test_invalid_tool_name_is_refused():
    with pytest.raises(ValueError, match="name"):
        make_tool(forecast, name="has spaces")


def test_decorator_registers_and_refuses_a_second_tool_of_the_same_name(monkeypatch):
    monkeypatch.setattr(tools, "REGISTRY", {})  # keep the test tool out of the real registry

    @tool(name="echo_text")
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    assert echo("hi") == "hi"  # the function itself is returned unchanged
    assert tools.REGISTRY["echo_text"].parameters["required"] == ["text"]
    with pytest.raises(ValueError, match="already registered"):
        tool(name="echo_text")(echo)


def test_enabled_tools_follow_the_setting(settings):
    settings.CHAT_TOOLS = ["calculator", "get_current_time"]
    assert [t.name for t in enabled_tools()] == ["calculator", "get_current_time"]


def test_enabled_tools_are_those_chat_tools_names_in_its_order(settings):
    settings.CHAT_TOOLS = ["search_conversations", "calculator"]
    assert [t.name for t in enabled_tools()] == ["search_conversations", "calculator"]


def test_enabled_tools_skip_unknown_names(settings, caplog):
    settings.CHAT_TOOLS = ["calculator", "no_such_tool", "calculator"]
    assert [t.name for t in enabled_tools()] == ["calculator"]
    assert "no_such_tool" in caplog.text


def test_builtins_are_registered():
    enabled_tools()
    assert {"get_current_time", "calculator", "search_conversations"} <= set(REGISTRY)


# --- The runner ------------------------------------------------------------------------


async def test_good_call_gets_the_json_result_and_the_context():
    result = await run_tool_call(call("forecast", {"city": "Lyon", "days": 2}), CONTEXT, [FORECAST])
    assert result.ok
    assert json.loads(result.content) == {
        "city": "Lyon",
        "days": 2,
        "unit": "celsius",
        "tags": None,
        "user": 1,
    }
    assert result.duration_ms >= 0


async def test_optional_parameter_without_a_default_gets_none():
    def greet(name: str | None) -> str:
        """Greet."""
        return f"Hello, {name or 'you'}"

    built = make_tool(greet)
    assert built.parameters["required"] == []
    result = await run_tool_call(call("greet", {}), CONTEXT, [built])
    assert (result.ok, result.content) == (True, "Hello, you")


async def test_string_result_is_sent_as_is():
    def shout(text: str) -> str:
        """Shout."""
        return text.upper() + " ✓"

    result = await run_tool_call(call("shout", {"text": "héllo"}), CONTEXT, [make_tool(shout)])
    assert (result.ok, result.content) == (True, "HÉLLO ✓")


async def test_async_tool_is_awaited():
    async def later(seconds: float) -> dict:
        """Wait."""
        await asyncio.sleep(seconds)
        return {"waited": seconds}

    result = await run_tool_call(call("later", {"seconds": 0.01}), CONTEXT, [make_tool(later)])
    assert (result.ok, result.content) == (True, '{"waited": 0.01}')


async def test_sync_tool_runs_off_the_event_loop():
    def which_thread() -> str:
        """Name the thread."""
        return threading.current_thread().name

    result = await run_tool_call(call("which_thread", {}), CONTEXT, [make_tool(which_thread)])
    assert result.ok
    assert result.content != threading.current_thread().name


async def test_null_for_an_optional_argument_means_its_default():
    arguments = {"city": "Lyon", "days": 1, "unit": None}
    result = await run_tool_call(call("forecast", arguments), CONTEXT, [FORECAST])
    assert result.ok
    assert json.loads(result.content)["unit"] == "celsius"


async def test_empty_arguments_mean_no_arguments():
    def ping() -> str:
        """Ping."""
        return "pong"

    result = await run_tool_call(call("ping", ""), CONTEXT, [make_tool(ping)])
    assert (result.ok, result.content) == (True, "pong")


async def test_unknown_tool_lists_the_available_ones():
    def ping() -> str:
        """Ping."""
        return "pong"

    result = await run_tool_call(call("nope", {}), CONTEXT, [FORECAST, make_tool(ping)])
    assert not result.ok
    assert result.content == "Unknown tool 'nope'. Available tools: forecast, ping."


async def test_disabled_tool_is_unknown(settings):
    settings.CHAT_TOOLS = ["calculator"]
    result = await run_tool_call(call("get_current_time", {}), CONTEXT)
    assert not result.ok
    assert result.content == "Unknown tool 'get_current_time'. Available tools: calculator."


async def test_malformed_call_is_refused():
    result = await run_tool_call({"id": "x"}, CONTEXT, [FORECAST])
    assert not result.ok
    assert "malformed" in result.content


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Lyon", ', "not valid JSON"),
        ('{"city": NaN}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not an array"),
        ('"Lyon"', "must be a JSON object, not a string"),
        ("null", "must be a JSON object, not null"),
    ],
)
async def test_arguments_that_are_not_a_json_object_are_refused(arguments, expected):
    result = await run_tool_call(call("forecast", arguments), CONTEXT, [FORECAST])
    assert not result.ok
    assert expected in result.content


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"days": 1}, "the required property 'city' is missing"),
        ({"city": 7, "days": 1}, "'city' must be a string, not an integer"),
        ({"city": "Lyon", "days": "2"}, "'days' must be an integer, not a string"),
        ({"city": "Lyon", "days": True}, "'days' must be an integer, not a boolean"),
        ({"city": "Lyon", "days": 1.5}, "'days' must be an integer, not a number"),
        ({"city": "Lyon", "days": None}, "'days' must be an integer, not null"),
        ({"city": "Lyon", "days": 1, "detailed": 1}, "'detailed' must be a boolean"),
        ({"city": "Lyon", "days": 1, "threshold": True}, "'threshold' must be a number"),
        ({"city": "Lyon", "days": 1, "country": "FR"}, "there is no property 'country'"),
        ({"city": "Lyon", "days": 1, "unit": "kelvin"}, "'unit' must be one of"),
        ({"city": "Lyon", "days": 1, "tags": "a"}, "'tags' must be an array"),
        ({"city": "Lyon", "days": 1, "tags": ["a", 2]}, "'tags[1]' must be a string"),
    ],
)
async def test_arguments_breaking_the_schema_are_refused_naming_the_property(arguments, expected):
    result = await run_tool_call(call("forecast", arguments), CONTEXT, [FORECAST])
    assert not result.ok
    assert result.content.startswith("Invalid arguments for forecast: ")
    assert expected in result.content


async def test_an_integer_is_a_number():
    arguments = {"city": "Lyon", "days": 1, "threshold": 3}
    result = await run_tool_call(call("forecast", arguments), CONTEXT, [FORECAST])
    assert result.ok


async def test_enum_compares_types_too():
    def level(value: Literal[1, 2]) -> int:
        """Level."""
        return value

    result = await run_tool_call(call("level", {"value": True}), CONTEXT, [make_tool(level)])
    assert not result.ok


async def test_a_broken_tool_definition_still_gives_a_result():
    broken = Tool(
        name="broken_schema",
        description="Broken.",
        parameters={"type": "object", "properties": {"a": "not a schema"}},
        function=lambda a: a,
    )
    result = await run_tool_call(call("broken_schema", {"a": 1}), CONTEXT, [broken])
    assert not result.ok
    assert "error on the server" in result.content


async def test_a_raising_tool_becomes_a_failed_result_without_traceback():
    def broken(text: str) -> str:
        """Break."""
        raise RuntimeError(f"cannot handle {text}")

    result = await run_tool_call(call("broken", {"text": "this"}), CONTEXT, [make_tool(broken)])
    assert not result.ok
    assert result.content == "The tool failed: RuntimeError: cannot handle this"


async def test_a_tool_raising_its_own_timeout_is_a_failure_not_a_timeout():
    async def remote() -> str:
        """Call a remote service."""
        raise TimeoutError("the service did not answer")

    result = await run_tool_call(call("remote", {}), CONTEXT, [make_tool(remote)])
    assert result.content == "The tool failed: TimeoutError: the service did not answer"


async def test_a_result_that_is_not_json_is_a_failure():
    def not_finite() -> float:
        """NaN."""
        return float("nan")

    result = await run_tool_call(call("not_finite", {}), CONTEXT, [make_tool(not_finite)])
    assert not result.ok
    assert "could not be encoded as JSON" in result.content


async def test_sync_tool_past_the_timeout(settings):
    settings.CHAT_TOOL_TIMEOUT = 0.2
    release = threading.Event()

    def stuck() -> str:
        """Hang."""
        release.wait(5)
        return "too late"

    started = time.monotonic()
    try:
        result = await run_tool_call(call("stuck", {}), CONTEXT, [make_tool(stuck)])
    finally:
        release.set()  # the worker thread cannot be killed: let it end with the test
    assert time.monotonic() - started < 1
    assert not result.ok
    assert result.content == "The tool timed out after 0.2 seconds."


async def test_async_tool_past_the_timeout(settings):
    settings.CHAT_TOOL_TIMEOUT = 0.2

    async def slow() -> str:
        """Hang."""
        await asyncio.sleep(5)
        return "too late"

    started = time.monotonic()
    result = await run_tool_call(call("slow", {}), CONTEXT, [make_tool(slow)])
    assert time.monotonic() - started < 1
    assert (result.ok, result.content) == (False, "The tool timed out after 0.2 seconds.")


async def test_long_output_is_truncated_with_a_note(settings):
    settings.CHAT_TOOL_OUTPUT_LIMIT = 100

    def chatty() -> str:
        """Talk."""
        return "x" * 250

    result = await run_tool_call(call("chatty", {}), CONTEXT, [make_tool(chatty)])
    assert result.ok
    assert result.content == "x" * 100 + "\n[output truncated: 150 characters]"


async def test_cancellation_propagates():
    started = asyncio.Event()

    async def slow() -> str:
        """Hang."""
        started.set()
        await asyncio.sleep(5)
        return "too late"

    task = asyncio.create_task(run_tool_call(call("slow", {}), CONTEXT, [make_tool(slow)]))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_tool_objects_can_be_built_directly():
    def double(n: int) -> int:
        return n * 2

    built = Tool(name="double", description="Double.", parameters={}, function=double)
    result = await run_tool_call(call("double", {"n": 4}), CONTEXT, [built])
    assert (result.ok, result.content) == (True, "8")
