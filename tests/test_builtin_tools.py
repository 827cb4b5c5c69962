"""The built-in tools, called directly and through the runner as the model would call them."""

import json
import re
import time
from datetime import datetime, timedelta

import pytest

from chat.builtin_tools import calculator, get_current_time, search_conversations
from chat.models import Conversation, Message
from chat.tools import REGISTRY, ToolContext, run_tool_call

TOOLS = [REGISTRY["get_current_time"], REGISTRY["calculator"], REGISTRY["search_conversations"]]


async def run(name: str, context: ToolContext | None = None, **arguments):
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": ""}}
    call["function"]["arguments"] = json.dumps(arguments)
    return await run_tool_call(call, context or ToolContext(user_id=0), TOOLS)


# --- get_current_time -------------------------------------------------------------------


def test_current_time_in_a_zone():
    result = get_current_time("Asia/Kolkata")
    now = datetime.fromisoformat(result["iso"])
    assert result["timezone"] == "Asia/Kolkata"
    assert result["utc_offset"] == "+05:30"  # India has no daylight saving time
    assert now.utcoffset() == timedelta(hours=5, minutes=30)
    assert result["weekday"] == now.strftime("%A")


def test_current_time_defaults_to_utc():
    result = get_current_time()
    assert (result["timezone"], result["utc_offset"]) == ("UTC", "+00:00")
    assert abs(datetime.fromisoformat(result["iso"]) - datetime.now().astimezone()).seconds < 5


def test_zone_names_are_matched_without_regard_to_case():
    assert get_current_time("america/new_york")["timezone"] == "America/New_York"


def test_negative_offsets_keep_their_sign():
    assert get_current_time("America/St_Johns")["utc_offset"] in ("-03:30", "-02:30")


async def test_unknown_zone_is_an_error_result():
    result = await run("get_current_time", timezone="Mars/Base")
    assert not result.ok
    assert result.content == (
        "The tool failed: ValueError: Unknown time zone 'Mars/Base'. "
        "Use an IANA name such as Europe/Paris."
    )


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/localtime", "Europe/../UTC", "zoneinfo/UTC", "", "."]
)
def test_path_like_zone_names_are_refused(name):
    with pytest.raises(ValueError, match="Unknown time zone"):
        get_current_time(name)


# --- calculator ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("7 // 2 + 7 % 2", 4),
        ("7 / 2", 3.5),
        ("0.1 * 3", 0.30000000000000004),
        ("-(-3) + +4", 7),
        ("2**10", 1024),
        ("2 ** -1", 0.5),
        ("sqrt(16) + log(e) + cos(0)", 6.0),
        ("log(8, 2)", 3.0),
        ("2 * pi", 6.283185307179586),
        ("1_000 + 1e3", 2000.0),
    ],
)
def test_calculator_computes(expression, expected):
    assert calculator(expression) == {"expression": expression, "result": expected}


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9",
        "10**100000",
        "(2**5000)**3",
        "2**9000 * 2**9000",
        "9**999 * 9**999 * 9**999 * 9**999",
        "10.0 ** 400",
        "1e308 * 10",
        "exp(1000)",
        "2**5000 / 3",
    ],
)
def test_calculator_refuses_huge_results_quickly(expression):
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"too large|limited"):
        calculator(expression)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ("__import__('os')", "'__import__'"),
        ("open('/etc/passwd')", "'open'"),
        ("x + 1", "'x'"),
        ("(1).__class__", "attributes"),
        ("math.sqrt(4)", "this call"),
        ("(lambda: 1)()", "this call"),
        ("lambda: 1", "lambdas"),
        ("'a' * 3", "'a'"),
        ("[x for x in range(3)]", "comprehensions"),
        ("[1, 2][0]", "subscripts"),
        ("1 < 2", "comparisons"),
        ("True + 1", "True"),
        ("~1", "unary operator"),
        ("1 << 3", "operator"),
        ("sqrt(x=4)", "plain arguments"),
        ("1j * 2", "1j"),
    ],
)
def test_calculator_refuses_what_is_not_arithmetic(expression, named):
    with pytest.raises(ValueError, match=r"Not allowed|plain arguments") as refusal:
        calculator(expression)
    assert named in str(refusal.value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "Division by zero."),
        ("5 // 0", "Division by zero."),
        ("5 % 0.0", "Division by zero."),
        ("0 ** -1", "Division by zero."),
        ("sqrt(-1)", "sqrt() is undefined"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(1, 2)", "Wrong number of arguments"),
        ("1 +", "Not a valid expression"),
        ("1" * 501, "longer than 500"),
        ("-" * 400 + "1", None),
    ],
)
def test_calculator_errors(expression, message):
    if message is None:  # deep but legal nesting works
        assert calculator(expression)["result"] == 1
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        calculator(expression)


async def test_division_by_zero_is_an_error_result():
    result = await run("calculator", expression="1/0")
    assert (result.ok, result.content) == (False, "The tool failed: ValueError: Division by zero.")


async def test_calculator_through_the_runner():
    result = await run("calculator", expression="6 * 7")
    assert (result.ok, json.loads(result.content)["result"]) == (True, 42)


# --- search_conversations -----------------------------------------------------------------


@pytest.fixture
def saved(alice, bob):
    """Alice's and Bob's conversations, both mentioning the Kestrel project."""
    mine = Conversation.objects.create(user=alice, title="Project planning")
    Message.objects.create(
        conversation=mine,
        role="user",
        content="Early notes. " * 20 + "The KESTREL launch slips to May." + " Later notes." * 20,
        created=datetime.now().astimezone() - timedelta(days=2),
    )
    Message.objects.create(
        conversation=mine, role="assistant", content="Noted: Kestrel moves to May."
    )
    Message.objects.create(conversation=mine, role="tool", content="kestrel tool output")
    other = Conversation.objects.create(user=bob, title="Bob's secrets")
    Message.objects.create(conversation=other, role="user", content="Kestrel budget: 2M")
    return mine


@pytest.mark.django_db
def test_search_finds_own_messages_newest_first(alice, saved):
    results = search_conversations("kestrel", context=ToolContext(alice.pk))
    assert [r["role"] for r in results] == ["assistant", "user"]  # never the tool message
    assert results[0] == {
        "conversation": "Project planning",
        "url": f"/c/{saved.pk}/",
        "snippet": "Noted: Kestrel moves to May.",
        "role": "assistant",
    }


@pytest.mark.django_db
def test_search_never_returns_another_users_messages(alice, bob, saved):
    assert search_conversations("budget", context=ToolContext(alice.pk)) == []
    bobs = search_conversations("kestrel", context=ToolContext(bob.pk))
    assert [r["conversation"] for r in bobs] == ["Bob's secrets"]


@pytest.mark.django_db
def test_snippet_is_cut_around_the_match(alice, saved):
    snippet = search_conversations("kestrel launch", context=ToolContext(alice.pk))[0]["snippet"]
    assert "KESTREL launch" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 162


@pytest.mark.django_db
def test_limit_is_clamped(alice, saved):
    assert len(search_conversations("kestrel", context=ToolContext(alice.pk), limit=0)) == 1
    assert len(search_conversations("kestrel", context=ToolContext(alice.pk), limit=99)) == 2


@pytest.mark.django_db
def test_like_wildcards_are_literal(alice, saved):
    assert search_conversations("%", context=ToolContext(alice.pk)) == []


@pytest.mark.django_db(transaction=True)
async def test_search_through_the_runner_is_scoped_to_the_caller(alice, saved):
    result = await run("search_conversations", ToolContext(alice.pk), query="Kestrel")
    assert result.ok
    found = json.loads(result.content)
    assert {r["conversation"] for r in found} == {"Project planning"}
    assert all("2M" not in r["snippet"] for r in found)


@pytest.mark.parametrize("query", ["", "   "])
async def test_empty_query_is_an_error_result(query):
    result = await run("search_conversations", ToolContext(user_id=1), query=query)
    assert not result.ok
    assert "The query is empty" in result.content


@pytest.mark.django_db
def test_search_leaves_out_the_conversation_it_is_asked_from(alice, saved):
    asking = Conversation.objects.create(user=alice, title="Where was kestrel?")
    Message.objects.create(conversation=asking, role="user", content="Find kestrel for me")
    found = search_conversations("kestrel", context=ToolContext(alice.pk, asking.pk))
    assert {r["url"] for r in found} == {f"/c/{saved.pk}/"}
    everywhere = search_conversations("kestrel", context=ToolContext(alice.pk))
    assert f"/c/{asking.pk}/" in {r["url"] for r in everywhere}
