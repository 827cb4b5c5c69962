"""Every reply's usage is known (chat/usage.py): as the provider says it, through the whole
path; asked of OpenAI-style servers with `stream_options` unless a server refuses it (then
remembered); estimated from the text and marked so when a provider says nothing; each tool
round its own. Prices come from CHAT_PRICES; a model without one costs nothing and is
flagged."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.models import Message
from chat.usage import cost, estimate, known, parse_prices
from tests.test_sse import fixture_files, require_fixtures
from tests.test_tool_loop import tool_call_reply
from tests.upstream_server import DONE, Reply, chunk, error_reply, text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)


async def reply_of(alice, content: str = "hi") -> Message:
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": content})
    await socket.recv_reply_end()
    await socket.close()
    return await Message.objects.filter(role="assistant").alast()


def without_usage(reply: Reply) -> Reply:
    return Reply(body=[part for part in reply.body if b'"usage"' not in part])


@pytest.mark.parametrize(
    "path",
    [p for p in fixture_files("openai_*.sse") if "three_choices" not in p.name],
    ids=lambda p: p.name,
)
async def test_a_recorded_stream_s_usage_is_saved_on_its_reply(alice, upstream, path):
    expected = json.loads((require_fixtures() / "expected.json").read_text())[path.name]
    upstream.queue(Reply(body=[path.read_bytes()]))
    await reply_of(alice)
    first_round = await Message.objects.filter(role="assistant").afirst()
    assert first_round.usage == expected["usage"]


async def test_openai_style_servers_are_asked_for_usage(alice, upstream):
    upstream.queue(text_reply(["Hi."]))
    await reply_of(alice)
    (request,) = upstream.wait_for_requests(1)
    assert request["body"]["stream_options"] == {"include_usage": True}


async def test_a_server_that_refuses_stream_options_is_asked_without_and_remembered(
    alice, upstream
):
    upstream.queue(
        error_reply(400, "Unrecognized request argument supplied: stream_options"),
        without_usage(text_reply(["Fine, thanks."])),
        without_usage(text_reply(["Again."])),
    )
    first = await reply_of(alice)
    assert first.status == "complete" and first.content == "Fine, thanks."
    assert first.usage["estimated"] is True and first.usage["completion_tokens"] == 4
    await reply_of(alice, "more")
    refused, asked, remembered = upstream.wait_for_requests(3)
    assert "stream_options" in refused["body"]
    assert "stream_options" not in asked["body"] and "stream_options" not in remembered["body"]


async def test_a_provider_that_says_nothing_gets_an_estimate_marked_as_one(alice, upstream):
    upstream.queue(without_usage(text_reply(["x" * 400])))
    reply = await reply_of(alice, "y" * 800)
    assert reply.usage["estimated"] is True
    assert reply.usage["completion_tokens"] == 100  # 400 characters
    assert 200 <= reply.usage["prompt_tokens"] <= 220  # 800 characters and the envelope
    assert reply.usage["total_tokens"] == sum(
        reply.usage[k] for k in ("prompt_tokens", "completion_tokens")
    )


async def test_each_tool_round_has_its_own_usage(alice, upstream):
    upstream.queue(
        tool_call_reply(("call_1", "calculator", ['{"expression": "6*7"}'])),
        without_usage(text_reply(["It is 42."])),
    )
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "6*7?"})
    await socket.recv_reply_end()  # the round that calls the tool
    await socket.recv_reply_end()  # the round that answers
    await socket.close()
    calling, answering = [m async for m in Message.objects.filter(role="assistant")]
    assert calling.usage is not None and answering.usage["estimated"] is True
    # The second round was sent the first round's call and its result, so it cost more.
    assert answering.usage["prompt_tokens"] > 0


async def test_a_refused_request_used_nothing(alice, upstream):
    upstream.queue(error_reply(400, "Bad request."))
    reply = await reply_of(alice)
    assert reply.status == "error" and reply.usage is None


async def test_usage_that_is_not_numbers_is_replaced_by_an_estimate(alice, upstream):
    bad = {"prompt_tokens": "many", "completion_tokens": -1}
    body = [chunk({"role": "assistant", "content": "Hi."}), chunk({}, finish_reason="stop")]
    upstream.queue(Reply(body=[*body, chunk(None, usage=bad), DONE]))
    reply = await reply_of(alice)
    assert reply.usage["estimated"] is True


def test_known_keeps_the_providers_details_and_checks_the_counts():
    assert known({"prompt_tokens": 2, "completion_tokens": 3, "extra": {"a": 1}}) == {
        "prompt_tokens": 2,
        "completion_tokens": 3,
        "total_tokens": 5,
        "extra": {"a": 1},
    }
    for bad in (None, [], {"prompt_tokens": 1}, {"prompt_tokens": True, "completion_tokens": 1}):
        assert known(bad) is None


def test_an_estimate_counts_the_text_of_everything_sent_and_written():
    history = [{"role": "system", "content": "abcd"}, {"role": "user", "content": "efgh"}]
    calls = [{"id": "c", "type": "function", "function": {"name": "ab", "arguments": "cd"}}]
    usage = estimate(history, "1234", calls)
    # The call's name and arguments are text the model wrote; its id and type are not.
    assert usage == {
        "prompt_tokens": 2 + 2 * 4,
        "completion_tokens": 2,
        "total_tokens": 12,
        "estimated": True,
    }


def test_prices_are_per_million_tokens_by_model(settings):
    settings.CHAT_PRICES = parse_prices("gpt-4o=2.5/10, anthropic:claude-sonnet-4-5=3/15")
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 200_000}
    assert cost("gpt-4o", usage).amount == Decimal("4.5")
    assert cost("claude-sonnet-4-5", usage).amount == Decimal("6")
    # A dated version the provider answers with is priced as the model asked for.
    assert cost("gpt-4o-2024-08-06", usage).amount == Decimal("4.5")


def test_a_model_without_a_price_costs_nothing_and_is_flagged(settings):
    settings.CHAT_PRICES = parse_prices("gpt-4o=2.5/10")
    for model in ("gpt-4o-mini", "llama3", ""):
        assert cost(model, {"prompt_tokens": 10}).priced is False
        assert cost(model, {"prompt_tokens": 10}).amount == 0


@pytest.mark.parametrize("text", ["gpt-4o", "gpt-4o=2.5", "=1/2", "m=a/b", "m=-1/2", "m=1/inf"])
def test_a_price_table_that_is_not_one_stops_the_site_in_words(text):
    with pytest.raises(ImproperlyConfigured, match="CHAT_PRICES has an entry"):
        parse_prices(text)
