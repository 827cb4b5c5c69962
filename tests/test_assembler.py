"""StreamAssembler against the recorded OpenAI streams, then one behaviour a test."""

import json
from typing import Any

import pytest

from chat.providers.assembler import Progress, StreamAssembler, StreamError, assemble_response
from tests.test_sse import FIXTURES_DIR, decode, require_fixtures

EXPECTED: dict[str, Any] = (
    json.loads((FIXTURES_DIR / "expected.json").read_text())
    if (FIXTURES_DIR / "expected.json").is_file()
    else {}
)
OPENAI_FIXTURES = sorted(name for name in EXPECTED if name.startswith("openai_"))


def test_every_openai_recording_has_an_expected_result() -> None:
    directory = require_fixtures()
    recorded = {path.name for path in directory.glob("openai_*.sse")}
    assert recorded
    assert recorded == set(OPENAI_FIXTURES)


def assemble_recording(name: str) -> tuple[StreamAssembler, list[Progress]]:
    assembler = StreamAssembler()
    progress = [
        assembler.feed_data(event.data) for event in decode((FIXTURES_DIR / name).read_bytes())
    ]
    return assembler, progress


@pytest.mark.parametrize("name", OPENAI_FIXTURES)
def test_recording_assembles_like_the_official_sdk(name: str) -> None:
    expected = EXPECTED[name]
    assembler, progress = assemble_recording(name)
    result = assembler.result()

    assert assembler.done
    assert len(progress) == expected["chunks"] + 1  # the chunks, then [DONE]
    assert result["object"] == "chat.completion"
    assert result["id"].startswith("chatcmpl-")
    assert result["model"] == "gpt-4o-2024-08-06"
    assert isinstance(result["created"], int)
    assert result["usage"] == expected["usage"]
    assert [choice["index"] for choice in result["choices"]] == [
        choice["index"] for choice in expected["choices"]
    ]
    for choice, want in zip(result["choices"], expected["choices"], strict=True):
        message = choice["message"]
        assert choice["finish_reason"] == want["finish_reason"]
        assert message["role"] == "assistant"
        assert message["content"] == want["content"]
        assert message["refusal"] == want["refusal"]
        calls = [
            {"id": call["id"], "type": call["type"], **call["function"]}
            for call in message.get("tool_calls", [])
        ]
        assert calls == [
            {key: call[key] for key in ("id", "type", "name", "arguments")}
            for call in want["tool_calls"]
        ]
        assert ("tool_calls" in message) == bool(want["tool_calls"])


@pytest.mark.parametrize("name", OPENAI_FIXTURES)
def test_recording_progress_adds_up_to_choice_0(name: str) -> None:
    assembler, progress = assemble_recording(name)
    message = assembler.result()["choices"][0]["message"]
    assert "".join(step.content for step in progress) == (message["content"] or "")
    assert "".join(step.refusal for step in progress) == (message["refusal"] or "")
    assert any(step.tool_calls for step in progress) == ("tool_calls" in message)


@pytest.mark.parametrize("name", OPENAI_FIXTURES)
def test_recording_ending_says_what_the_result_says(name: str) -> None:
    assembler, _ = assemble_recording(name)
    result = assembler.result()
    assert assembler.ending() == {
        "finish_reason": result["choices"][0]["finish_reason"] if result["choices"] else None,
        "model": result["model"],
        "usage": result["usage"],
    }


def test_ending_of_nothing_yet_is_empty() -> None:
    assert StreamAssembler().ending() == {"finish_reason": None, "model": None, "usage": None}


# Chunks and events


def chunk(*choices: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "created": 1, "model": "m", "choices": list(choices), **fields}


def delta(index: int = 0, finish_reason: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "finish_reason": finish_reason}


def call(index: int, arguments: str, **fields: Any) -> dict[str, Any]:
    return {"index": index, **fields, "function": {"arguments": arguments}}


def test_error_object_in_stream_raises_with_the_providers_message() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk(delta(content="Hi")))
    error = {"error": {"message": "The server had an error.", "type": "server_error"}}
    with pytest.raises(StreamError) as caught:
        assembler.feed_data(json.dumps(error))
    assert str(caught.value) == ("The model provider reported an error: The server had an error.")


def test_error_given_as_a_string_is_reported_too() -> None:
    with pytest.raises(StreamError, match="reported an error: overloaded"):
        StreamAssembler().feed({"error": "overloaded"})


def test_bad_json_raises_a_plain_sentence() -> None:
    with pytest.raises(StreamError) as caught:
        StreamAssembler().feed_data('{"id": "chatcmpl-1", "choi')
    message = str(caught.value)
    assert message.startswith("The model provider sent a reply that could not be read")
    assert "not valid JSON" in message
    assert "Traceback" not in message
    assert "line 1" not in message


@pytest.mark.parametrize(
    "bad",
    [
        [],
        "text",
        chunk(choices="none"),
        {"choices": ["x"]},
        chunk(delta(content=["a"])),
        chunk(delta(tool_calls={"index": 0})),
        chunk(delta(tool_calls=["x"])),
    ],
    ids=[
        "list",
        "string",
        "choices-not-list",
        "choice-not-object",
        "content-not-text",
        "tool-calls-not-list",
        "tool-call-not-object",
    ],
)
def test_unreadable_chunk_raises_a_plain_sentence(bad: object) -> None:
    with pytest.raises(
        StreamError, match=r"^The model provider sent a reply that could not be read"
    ):
        StreamAssembler().feed(bad)


def test_done_sets_done_and_adds_nothing() -> None:
    assembler = StreamAssembler()
    assert not assembler.done
    assert assembler.feed_data("[DONE]") == Progress()
    assert assembler.done
    assert assembler.result()["choices"] == []


def test_chunks_with_empty_choices_are_fine() -> None:
    # Azure's first chunk: no choices, an empty id and model, created 0.
    azure_first = {"id": "", "object": "", "created": 0, "model": "", "choices": []}
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assembler = StreamAssembler()
    assert assembler.feed(azure_first | {"prompt_filter_results": []}) == Progress()
    assert assembler.feed(chunk(delta(role="assistant", content="Hi"))) == Progress(content="Hi")
    assert assembler.feed(chunk(usage=usage)) == Progress()
    assert assembler.feed(azure_first) == Progress()
    result = assembler.result()
    assert (result["id"], result["created"], result["model"]) == ("chatcmpl-1", 1, "m")
    assert result["choices"][0]["message"]["content"] == "Hi"
    assert result["usage"] == usage


def test_content_null_is_fine() -> None:
    assembler = StreamAssembler()
    assert assembler.feed(chunk(delta(role="assistant", content=None))) == Progress()
    assert assembler.feed(chunk(delta(content="A"))) == Progress(content="A")
    assert assembler.feed(chunk(delta(content=None), delta(finish_reason="stop"))) == Progress()
    assert assembler.result()["choices"][0]["message"]["content"] == "A"


def test_content_is_none_when_no_delta_carried_text() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk(delta(role="assistant", content="", refusal=None)))
    assembler.feed(chunk(delta(finish_reason="stop")))
    choice = assembler.result()["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": None, "refusal": None},
        "finish_reason": "stop",
    }


def test_interleaved_choices_are_joined_by_index_and_sorted() -> None:
    assembler = StreamAssembler()
    for step in [delta(1, content="b"), delta(0, content="a"), delta(1, content="B")]:
        assembler.feed(chunk(step))
    assembler.feed(chunk(delta(1, "stop"), delta(0, "length")))
    choices = assembler.result()["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "length"),
        (1, "bB", "stop"),
    ]


def test_progress_reports_choice_0_only() -> None:
    assembler = StreamAssembler()
    assert assembler.feed(chunk(delta(1, content="other"))) == Progress()
    assert assembler.feed(chunk(delta(1, content="x"), delta(0, refusal="No"))) == Progress(
        refusal="No"
    )


def test_parallel_tool_calls_split_in_many_fragments() -> None:
    first = {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}
    second = {"id": "call_b", "type": "function", "function": {"name": "stock", "arguments": ""}}
    fragments = [
        [{"index": 0, **first}],
        [call(0, '{"ci')],
        [call(0, 'ty": "Par'), {"index": 1, **second}],
        [call(1, '{"tick')],
        [call(0, 'is"}')],
        [call(1, 'er": "AAPL"}')],
    ]
    assembler = StreamAssembler()
    steps = [assembler.feed(chunk(delta(tool_calls=part))) for part in fragments]
    assembler.feed(chunk(delta(finish_reason="tool_calls")))

    assert all(step.tool_calls for step in steps)
    message = assembler.result()["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "stock", "arguments": '{"ticker": "AAPL"}'},
        },
    ]


def test_tool_calls_are_sorted_by_index() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk(delta(tool_calls=[call(1, "{}", id="call_b")])))
    assembler.feed(chunk(delta(tool_calls=[call(0, "{}", id="call_a")])))
    calls = assembler.result()["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_a", "call_b"]


def test_repeated_id_type_and_name_are_not_doubled() -> None:
    repeated = {"id": "call_a", "type": "function"}
    assembler = StreamAssembler()
    for piece in ['{"a"', ": 1}"]:
        fragment = {"index": 0, **repeated, "function": {"name": "f", "arguments": piece}}
        assembler.feed(chunk(delta(tool_calls=[fragment])))
    (tool_call,) = assembler.result()["choices"][0]["message"]["tool_calls"]
    assert tool_call == {
        "id": "call_a",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": 1}'},
    }


def test_tool_call_fragments_without_index() -> None:
    # Some OpenAI-compatible servers omit the index: an id starts a new call.
    assembler = StreamAssembler()
    assembler.feed(
        chunk(delta(tool_calls=[{"id": "call_a", "function": {"name": "f", "arguments": "{"}}]))
    )
    assembler.feed(chunk(delta(tool_calls=[{"function": {"arguments": "}"}}])))
    assembler.feed(
        chunk(delta(tool_calls=[{"id": "call_b", "function": {"name": "g", "arguments": "[]"}}]))
    )
    calls = assembler.result()["choices"][0]["message"]["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("call_a", "f", "{}"),
        ("call_b", "g", "[]"),
    ]


def test_an_empty_argument_fragment_is_no_progress() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk(delta(tool_calls=[call(0, "", id="call_a")])))
    assert assembler.feed(chunk(delta(tool_calls=[call(0, "")]))) == Progress()


def test_last_non_null_usage_wins() -> None:
    assembler = StreamAssembler()
    assembler.feed(chunk(usage={"total_tokens": 1}))
    assembler.feed(chunk(usage={"total_tokens": 2}))
    assembler.feed(chunk(usage=None))
    assert assembler.result()["usage"] == {"total_tokens": 2}


# Non-streamed responses

TOOL_CALL = {
    "id": "call_a",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_assemble_response_equals_the_result_of_the_equivalent_stream() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me look.",
                    "refusal": None,
                    "tool_calls": [TOOL_CALL],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "I can't."},
                "logprobs": None,
                "finish_reason": "stop",
            },
        ],
        "usage": USAGE,
    }
    stream = [
        chunk(delta(role="assistant", content="", refusal=None)),
        chunk(delta(content="Let me"), delta(1, role="assistant", content=None, refusal="")),
        chunk(delta(content=" look."), delta(1, refusal="I can't.")),
        chunk(
            delta(
                tool_calls=[
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            )
        ),
        chunk(delta(tool_calls=[call(0, '{"city": ')])),
        chunk(delta(tool_calls=[call(0, '"Paris"}')])),
        chunk(delta(finish_reason="tool_calls"), delta(1, finish_reason="stop")),
        chunk(usage=USAGE),
    ]
    assembler = StreamAssembler()
    for part in stream:
        assembler.feed(part)
    assembler.feed_data("[DONE]")

    assert assemble_response(body) == assembler.result()
    assert assembler.result()["choices"][0]["message"]["tool_calls"] == [TOOL_CALL]


def test_assemble_response_turns_empty_content_into_none() -> None:
    body = chunk(
        {
            "index": 0,
            "message": {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            "finish_reason": "tool_calls",
        }
    )
    message = assemble_response(body)["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [TOOL_CALL],
    }


def test_assemble_response_of_an_error_body_raises() -> None:
    body = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
    with pytest.raises(StreamError, match=r"reported an error: Incorrect API key provided\.$"):
        assemble_response(body)


@pytest.mark.parametrize(
    "bad", [None, [], chunk(choices="x"), chunk({"index": 0, "message": "hi"})]
)
def test_assemble_response_of_an_unreadable_body_raises(bad: object) -> None:
    with pytest.raises(StreamError, match="could not be read"):
        assemble_response(bad)
