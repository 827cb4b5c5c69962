"""Tools the model may call: the registry, the schemas derived from Python, and the runner.

A tool is a plain function, sync or async, registered with `@tool`. Its JSON schema comes
from the type hints and its description from the docstring, so the function is the only
place a tool is described. `run_tool_call` turns every failure (unknown tool, bad
arguments, an exception, a timeout) into a `ToolResult` the model can read and recover
from: one bad call must never end the reply.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

# What the OpenAI API accepts as a function name.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The parameter through which the runner hands a tool its ToolContext; never in the schema.
CONTEXT_PARAMETER = "context"


@dataclass(frozen=True)
class ToolContext:
    # The user whose reply called the tool: tools must never see other users' data.
    user_id: int
    # The conversation the reply is in (the model has it already), when there is one.
    conversation_id: int | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # JSON schema of the arguments object
    function: Callable  # sync or async; may take a `context: ToolContext` keyword

    def spec(self) -> dict:
        """This tool in the OpenAI `tools` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolResult:
    content: str  # sent back to the model: JSON text, or a sentence saying what went wrong
    ok: bool
    duration_ms: int


REGISTRY: dict[str, Tool] = {}


# --- Declaring tools -------------------------------------------------------------------


def make_tool(
    func: Callable,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict | None = None,
) -> Tool:
    """A Tool for `func`, without registering it; what is not given is derived from `func`."""
    name = name or func.__name__
    if not _NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Tool name {name!r} must be 1-64 letters, digits, '_' or '-'.")
    summary, argument_docs = _parse_docstring(inspect.getdoc(func) or "")
    description = description or summary
    if not description:
        raise TypeError(f"Tool {name!r} needs a description: give it a docstring.")
    if parameters is None:
        parameters = _derive_parameters(func, name, argument_docs)
    return Tool(name=name, description=description, parameters=parameters, function=func)


def tool(
    func: Callable | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: dict | None = None,
):
    """Register a function as a tool: `@tool` or `@tool(name=..., ...)`. Returns it unchanged."""

    def register(func: Callable) -> Callable:
        built = make_tool(func, name=name, description=description, parameters=parameters)
        if built.name in REGISTRY:
            raise ValueError(f"A tool named {built.name!r} is already registered.")
        REGISTRY[built.name] = built
        return func

    return register(func) if func is not None else register


def enabled_tools() -> list[Tool]:
    """The tools named in settings.CHAT_TOOLS, in that order."""
    # The built-in tools registered themselves when the app started (chat/apps.py).
    names = settings.CHAT_TOOLS
    enabled = []
    for tool_name in dict.fromkeys(names):  # a name listed twice would be rejected upstream
        if tool_name in REGISTRY:
            enabled.append(REGISTRY[tool_name])
        else:
            # The site refuses to start with an unknown name (chat/apps.py); one that appears
            # later, in settings changed at run time, costs that tool, not every reply.
            logger.error("settings.CHAT_TOOLS names %r, which is not a registered tool", tool_name)
    return enabled


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each parameter's description from a Google-style Args section."""
    lines = doc.splitlines()
    paragraph = []
    for line in lines:
        if not line.strip():
            break
        paragraph.append(line.strip())
    arguments: dict[str, str] = {}
    header_indent = entry_indent = None
    current = None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if header_indent is None:
            if line.strip() in ("Args:", "Arguments:"):
                header_indent = indent
            continue
        if not line.strip():
            continue
        if indent <= header_indent:  # the next section ("Returns:", ...) ends the Args
            break
        entry = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)", line)
        if entry and (entry_indent is None or indent <= entry_indent):
            current, entry_indent = entry[1], indent
            arguments[current] = entry[2].strip()
        elif current is not None:  # a continuation line of the current parameter
            arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    return " ".join(paragraph), arguments


def _derive_parameters(func: Callable, name: str, docs: dict[str, str]) -> dict:
    """The JSON schema of `func`'s arguments, from its signature and type hints."""
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise TypeError(f"Tool {name!r}: its type hints cannot be resolved ({exc}).") from exc
    properties: dict[str, dict] = {}
    required: list[str] = []
    for parameter in inspect.signature(func).parameters.values():
        if parameter.name == CONTEXT_PARAMETER:
            continue
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(
                f"Tool {name!r}: parameter {parameter.name!r} must be a plain or keyword "
                "parameter; the runner passes arguments by name."
            )
        if parameter.name not in hints:
            raise TypeError(f"Tool {name!r}: parameter {parameter.name!r} has no type hint.")
        schema, optional = _schema_for(hints[parameter.name], name, parameter.name)
        if parameter.name in docs:
            schema["description"] = docs[parameter.name]
        if parameter.default is not parameter.empty and parameter.default is not None:
            schema["default"] = parameter.default
        properties[parameter.name] = schema
        if not optional and parameter.default is parameter.empty:
            required.append(parameter.name)
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _schema_for(hint: Any, tool_name: str, parameter: str) -> tuple[dict, bool]:
    """The schema for one type hint, and whether the hint allows None (so is optional)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in arguments:
        rest = [argument for argument in arguments if argument is not type(None)]
        if len(rest) == 1:
            return _schema_for(rest[0], tool_name, parameter)[0], True
    elif hint in _SCALARS:
        return {"type": _SCALARS[hint]}, False
    elif origin is list and len(arguments) == 1:
        return {"type": "array", "items": _schema_for(arguments[0], tool_name, parameter)[0]}, False
    elif origin is Literal and all(type(value) in _SCALARS for value in arguments):
        kinds = {type(value) for value in arguments}
        schema = {"type": _SCALARS[kinds.pop()]} if len(kinds) == 1 else {}
        return {**schema, "enum": list(arguments)}, False
    raise TypeError(
        f"Tool {tool_name!r}: parameter {parameter!r} has the unsupported type hint {hint!r}; "
        "use str, int, float, bool, list[...], Literal[...] or X | None."
    )


# --- Checking arguments -------------------------------------------------------------------

# A validator for the subset of JSON Schema the derived schemas use: type, enum, items,
# properties, required, additionalProperties. Other keywords are not checked.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
_WITH_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass in Python, not in JSON
        return "boolean"
    return next(name for name, kinds in _JSON_TYPES.items() if isinstance(value, kinds))


def _validate(value: Any, schema: dict, path: str = "") -> str | None:
    """The first way `value` breaks `schema`, as a phrase naming the property; None if valid."""
    where = repr(path) if path else "the arguments"
    expected, actual = schema.get("type"), _json_type(value)
    # JSON "number" includes the integers; every other type must match exactly.
    accepted = {expected, "integer"} if expected == "number" else {expected}
    if expected in _JSON_TYPES and actual not in accepted:
        return f"{where} must be {_WITH_ARTICLE[expected]}, not {_WITH_ARTICLE[actual]}"
    # Compared with the type too: in Python True == 1 and 1 == 1.0.
    allowed = schema.get("enum")
    if allowed is not None and not any(
        type(option) is type(value) and option == value for option in allowed
    ):
        options = ", ".join(json.dumps(option, ensure_ascii=False) for option in allowed)
        return f"{where} must be one of {options}, not {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            if problem := _validate(item, schema["items"], f"{path}[{index}]"):
                return problem
    if isinstance(value, dict):
        return _validate_object(value, schema, path)
    return None


def _validate_object(value: dict, schema: dict, path: str) -> str | None:
    properties = schema.get("properties", {})
    prefix = f"{path}." if path else ""
    for name in schema.get("required", []):
        if name not in value:
            return f"the required property {prefix + name!r} is missing"
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in properties:
                allowed = ", ".join(properties) or "none"
                return f"there is no property {prefix + name!r} (allowed: {allowed})"
    for name, item in value.items():
        if name in properties and (problem := _validate(item, properties[name], prefix + name)):
            return problem
    return None


class _CallFailed(Exception):
    """A call that gave no result: refused, failed or timed out. The message is for the model."""


def _parse_arguments(raw: Any) -> dict:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}  # some servers send "" for a tool without parameters
    if not isinstance(raw, str):
        raise _CallFailed("The arguments must be a JSON object encoded as a string.")

    def refuse_constant(constant: str) -> None:  # NaN and Infinity are not JSON
        raise ValueError(f"{constant} is not a JSON value")

    try:
        arguments = json.loads(raw, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise _CallFailed(f"The arguments are not valid JSON: {exc}.") from None
    if not isinstance(arguments, dict):
        kind = _WITH_ARTICLE[_json_type(arguments)]
        raise _CallFailed(f"The arguments must be a JSON object, not {kind}.")
    return arguments


# --- Running tools --------------------------------------------------------------------


async def run_tool_call(
    call: dict, context: ToolContext, tools: list[Tool] | None = None
) -> ToolResult:
    """Run one OpenAI tool call. Never raises, except CancelledError (so Stop still works)."""
    started = time.monotonic()
    try:
        content = await _run(call, context, enabled_tools() if tools is None else tools)
        ok = True
    except _CallFailed as exc:
        content, ok = str(exc), False
    except Exception:  # a bug here or a broken tool definition: the model still gets an answer
        logger.exception("Tool call %r could not be run", call)
        content, ok = "The tool call could not be run because of an error on the server.", False
    duration_ms = round((time.monotonic() - started) * 1000)
    return ToolResult(content=_truncate(content), ok=ok, duration_ms=duration_ms)


async def _run(call: Any, context: ToolContext, tools: list[Tool]) -> str:
    function = call.get("function") if isinstance(call, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise _CallFailed("The tool call is malformed: it names no function.")
    available = {candidate.name: candidate for candidate in tools}
    chosen = available.get(name)
    if chosen is None:
        listed = ", ".join(available) or "none"
        raise _CallFailed(f"Unknown tool {name!r}. Available tools: {listed}.")

    arguments = _parse_arguments(function.get("arguments"))
    # Models often send null for an optional argument they mean to leave out.
    required = chosen.parameters.get("required", [])
    arguments = {k: v for k, v in arguments.items() if v is not None or k in required}
    if problem := _validate(arguments, chosen.parameters):
        raise _CallFailed(f"Invalid arguments for {chosen.name}: {problem}.")

    timeout = settings.CHAT_TOOL_TIMEOUT
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            value = await _invoke(chosen, _keyword_arguments(chosen, arguments, context))
    except TimeoutError as exc:
        if deadline.expired():
            raise _CallFailed(f"The tool timed out after {timeout:g} seconds.") from None
        raise _CallFailed(_failure(chosen, exc)) from None  # the tool's own TimeoutError
    except Exception as exc:
        raise _CallFailed(_failure(chosen, exc)) from None
    return _encode(value)


def _keyword_arguments(chosen: Tool, arguments: dict, context: ToolContext) -> dict:
    keywords = dict(arguments)
    properties = chosen.parameters.get("properties", {})
    for name, parameter in inspect.signature(chosen.function).parameters.items():
        if name == CONTEXT_PARAMETER:
            keywords[name] = context
        elif name not in keywords and name in properties and parameter.default is parameter.empty:
            keywords[name] = None  # `x: int | None` without a default: optional, so None
    return keywords


async def _invoke(chosen: Tool, keywords: dict) -> Any:
    if inspect.iscoroutinefunction(chosen.function):
        return await chosen.function(**keywords)
    # A worker thread keeps the event loop free. On timeout the thread cannot be killed: it
    # runs on to its end, but its result is dropped.
    return await asyncio.to_thread(_call_in_thread, chosen.function, keywords)


def _call_in_thread(function: Callable, keywords: dict) -> Any:
    # As Channels' database_sync_to_async does: the worker thread keeps its own database
    # connection, which must not be left broken or past its CONN_MAX_AGE.
    close_old_connections()
    try:
        return function(**keywords)
    finally:
        close_old_connections()


def _failure(chosen: Tool, exc: Exception) -> str:
    # ValueError is how tools say "bad input": worth a line, not a traceback.
    logger.warning(
        "Tool %s failed: %s: %s",
        chosen.name,
        type(exc).__name__,
        exc,
        exc_info=not isinstance(exc, ValueError),
    )
    detail = f": {exc}" if str(exc) else ""
    return f"The tool failed: {type(exc).__name__}{detail}"


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _CallFailed(f"The tool's result could not be encoded as JSON: {exc}.") from None


def _truncate(content: str) -> str:
    limit = settings.CHAT_TOOL_OUTPUT_LIMIT
    if len(content) <= limit:
        return content
    return f"{content[:limit]}\n[output truncated: {len(content) - limit} characters]"
