"""Search (chat/search.py, the `search/` view): a user's own titles and messages, found by
words and phrases, ranked, with marked snippets; whatever is typed.

Every test here but the Chromium ones runs on SQLite (FTS5) in this process, and again on
PostgreSQL (tsvector and GIN) by `test_the_same_behaviours_on_postgresql`, which runs this
file in a child pytest against the machine's server.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from chat import search as search_module
from chat.models import Conversation, Message
from chat.search import MAX_QUERY_CHARS, BadQuery, parse, search
from chat.search_index import restore_triggers
from tests.live import ROOT
from tests.upstream_server import text_reply
from tests.ws import Socket

pytestmark = pytest.mark.django_db

ON_POSTGRES = os.environ.get("SEARCH_TESTS_VENDOR") == "postgresql"

# What FTS5 and to_tsquery would read as syntax, and what trips naive quoting.
HOSTILE = [
    '"',
    '""',
    '"python',
    'python"',
    "*",
    "python*",
    "*python",
    "NEAR(python tips)",
    "NEAR(python tips, 2)",
    "python OR zoo",
    "python AND zoo",
    "python NOT zoo",
    "-python",
    "python -zoo",
    "(python",
    "python)",
    "((python))",
    "title:python",
    "body:python",
    "python:*",
    ":",
    "'",
    "python's",
    "\\",
    "python\\",
    "a & b | !c",
    "python <-> tips",
    "python <2> tips",
    "^python",
    "+python",
    "{python}",
    "[python]",
    "python;DROP TABLE chat_message;--",
    "' OR 1=1 --",
    "%",
    "_",
    "\x00",
    "\x02python\x03",
    "café",
    "🙂 python",
    "日本語",
]


def say(conversation: Conversation, role: str, content: str, **fields) -> Message:
    return Message.objects.create(conversation=conversation, role=role, content=content, **fields)


def chat(user, title: str, *texts: str) -> Conversation:
    """A conversation: `texts` alternate user and assistant, user first."""
    conversation = Conversation.objects.create(user=user, title=title)
    for i, text in enumerate(texts):
        say(conversation, "user" if i % 2 == 0 else "assistant", text)
    return conversation


def ids(results) -> list[int]:
    return [r.conversation.pk for r in results]


def marked(segments) -> list[str]:
    return [s["text"] for s in segments if s["mark"]]


def text_of(segments) -> str:
    return "".join(s["text"] for s in segments)


@pytest.fixture
def bobs(bob):
    """Bob's conversations, full of the words the tests search for."""
    return [
        chat(bob, "Python tips", "python python tips", "zoo python NEAR tips"),
        chat(bob, "Bob's secret", "my secret recipe", "python zoo café"),
    ]


def test_the_database_is_the_one_asked_for():
    assert connection.vendor == os.environ.get("SEARCH_TESTS_VENDOR", "sqlite")


def test_message_text_is_found_and_opens_at_the_message(alice):
    conversation = chat(alice, "Gardening", "How deep do I plant tulip bulbs?", "About 15 cm.")
    [result] = search(alice, "tulip")
    assert result.conversation == conversation
    question = conversation.messages.get(role="user")
    assert result.message == question
    data = result.as_dict()
    assert data["url"] == f"/c/{conversation.pk}/#m{question.pk}"
    assert data["message"] == question.pk and data["role"] == "user"
    assert marked(data["snippet"]) == ["tulip"]


def test_a_title_is_found_even_when_no_message_matches(alice):
    conversation = chat(alice, "Holiday in Lisbon", "Where should we stay?", "Near the river.")
    [result] = search(alice, "lisbon")
    assert result.conversation == conversation and result.message is None
    assert marked(result.title) == ["Lisbon"]
    assert result.as_dict()["url"] == f"/c/{conversation.pk}/"


def test_an_assistant_reply_is_found(alice):
    conversation = chat(alice, "Cooking", "What goes in pesto?", "Basil, pine nuts, parmesan.")
    [result] = search(alice, "parmesan")
    assert result.message == conversation.messages.get(role="assistant")


def test_words_are_stemmed_and_all_must_match(alice):
    running = chat(alice, "A", "I was running late", "Run faster.")
    chat(alice, "B", "Walking is fine", "Sure.")
    assert ids(search(alice, "runs")) == [running.pk]
    assert ids(search(alice, "running late")) == [running.pk]
    assert search(alice, "running walking") == []


def test_a_quoted_phrase_must_appear_in_order(alice):
    in_order = chat(alice, "A", "I bought a red car yesterday", "Nice.")
    chat(alice, "B", "The car is red", "Nice.")
    assert ids(search(alice, '"red car"')) == [in_order.pk]
    assert len(search(alice, "red car")) == 2


def test_the_last_word_is_a_prefix_while_it_is_typed(alice):
    conversation = chat(alice, "A", "Learning kubernetes this week", "Good luck.")
    assert ids(search(alice, "kuber")) == [conversation.pk]
    assert search(alice, "kuber ") == []  # a finished word is a word
    assert search(alice, "ku") == []  # too short to be worth a prefix search


def test_bobs_conversations_are_never_found_whatever_the_query(alice, bobs):
    mine = chat(alice, "Python tips", "python python tips", "zoo python NEAR tips")
    bob_ids = {c.pk for c in bobs}
    for query in ["python", "tips", "secret", "recipe", "zoo", "café", *HOSTILE]:
        try:
            results = search(alice, query)
        except BadQuery:
            continue
        assert not bob_ids & set(ids(results)), query
        assert set(ids(results)) <= {mine.pk}, query
    assert search(alice, "secret") == [] and search(alice, "recipe") == []


def test_query_syntax_never_fails_and_is_searched_as_words(alice, bobs):
    conversation = chat(alice, "Notes", "python tips for the zoo", "python NEAR tips, café")
    for query in HOSTILE:
        try:
            results = search(alice, query)
        except BadQuery as refused:  # only for having nothing in it at all
            assert str(refused) == "Type something to search for.", query
            assert not query.strip(), query
            continue
        assert set(ids(results)) <= {conversation.pk}, query
    # The operators are words like any other, not syntax.
    assert ids(search(alice, "title:python")) == []  # "title" is in no message
    assert ids(search(alice, "NEAR(python tips)")) == [conversation.pk]
    assert ids(search(alice, "-python")) == [conversation.pk]  # not "without python"
    assert ids(search(alice, "python OR nothingatall")) == []
    assert ids(search(alice, "café")) == [conversation.pk]


def test_a_title_match_ranks_above_a_message_match(alice):
    in_message = chat(alice, "Unrelated", "I like the accordion a lot", "Me too.")
    in_title = chat(alice, "Accordion lessons", "When do we start?", "Monday.")
    assert ids(search(alice, "accordion")) == [in_title.pk, in_message.pk]


def test_a_message_about_the_words_ranks_above_one_that_mentions_them(alice):
    mentions = chat(
        alice,
        "A",
        "Yesterday at the zoo there was a long queue, a snake keeper, many children, "
        "sandwiches, rain, an umbrella, a gift shop, a python, and a tired parrot.",
    )
    about = chat(alice, "B", "Python decorators in Python: how do Python decorators work?")
    assert ids(search(alice, "python decorators")) == [about.pk]
    assert ids(search(alice, "python")) == [about.pk, mentions.pk]


def test_each_conversation_is_listed_once_at_its_best_message(alice):
    conversation = chat(alice, "A", "gazpacho", "gazpacho gazpacho soup recipe", "gazpacho?")
    results = search(alice, "gazpacho soup")
    assert ids(results) == [conversation.pk]
    assert results[0].message.content == "gazpacho gazpacho soup recipe"


def test_results_are_limited(alice):
    for i in range(8):
        chat(alice, f"Chat {i}", "the same giraffe again")
    assert len(search(alice, "giraffe", limit=5)) == 5
    assert len(search(alice, "giraffe")) == 8


def test_snippets_mark_the_matches_and_carry_text_never_markup(alice):
    long_text = (
        "Intro words that do not matter much. " * 20
        + "Here <b>bold</b> & <script>alert(1)</script> meets the walrus \x02 here. "
        + "Closing words that do not matter either. " * 20
    )
    chat(alice, "A", long_text)
    [result] = search(alice, "walrus")
    assert marked(result.snippet) == ["walrus"]
    snippet = text_of(result.snippet)
    assert len(snippet) < 400  # a piece around the match, not the whole message
    assert "<script>alert(1)</script>" in snippet  # text, to be shown as text
    assert "\x02" not in snippet and "\x03" not in snippet
    assert all(set(s) == {"text", "mark"} for s in result.snippet)


def test_a_phrase_is_marked_in_the_title(alice):
    chat(alice, "Fixing the flaky test suite", "hello")
    [result] = search(alice, '"flaky test"')
    assert " ".join(marked(result.title)).split() == ["flaky", "test"]
    assert text_of(result.title) == "Fixing the flaky test suite"


def test_a_renamed_title_is_found_by_its_new_words_only(client, alice):
    conversation = chat(alice, "Old name", "hello")
    client.force_login(alice)
    client.post(f"/c/{conversation.pk}/rename/", {"title": "Brand new heading"})
    assert ids(search(alice, "heading")) == [conversation.pk]
    assert search(alice, "old") == []


def test_deleted_conversations_are_gone(client, alice):
    conversation = chat(alice, "Quarterly taxes", "quarterly figures", "Here they are.")
    client.force_login(alice)
    assert client.post(f"/c/{conversation.pk}/delete/").status_code == 302
    assert search(alice, "quarterly") == []
    assert search(alice, "figures") == []


def test_tool_results_system_prompts_and_streaming_text_are_not_searched(alice):
    conversation = chat(alice, "A", "hello")
    say(conversation, "tool", "tool output with marmalade", tool_call_id="c1")
    say(conversation, "system", "system prompt with marmalade")
    reply = say(conversation, "assistant", "half written marmalade", status="streaming")
    assert search(alice, "marmalade") == []
    reply.content = "finished marmalade"
    reply.status = Message.Status.COMPLETE
    reply.save()
    [result] = search(alice, "marmalade")
    assert result.message == reply


@pytest.mark.django_db(transaction=True)
async def test_a_replys_final_text_is_found_after_it_streams(alice, upstream, settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 0.05  # checkpoints happen while it streams
    upstream.queue(text_reply(["The answer ", "involves ", "a ", "hippopotamus", "."], pause=0.1))
    socket = await Socket.open_as(alice)
    await socket.send({"type": "send", "conversation": None, "content": "Tell me something"})
    conversation_id = (await socket.recv())["conversation"]["id"]
    frames = await socket.recv_reply_end()
    reply_id = next(
        f["message"]["id"]
        for f in frames
        if f["type"] == "message" and f["message"]["role"] == "assistant"
    )
    await socket.close()

    [result] = await database_sync_to_async(search)(alice, "hippopotamus")
    assert result.conversation.pk == conversation_id
    assert result.message.pk == reply_id
    assert "answer involves a hippopotamus" in text_of(result.snippet)


def test_empty_and_overlong_queries_are_refused_in_words(alice):
    for empty in ["", "   ", "\n\t"]:
        with pytest.raises(BadQuery, match="Type something to search for"):
            search(alice, empty)
    with pytest.raises(BadQuery, match=f"at most {MAX_QUERY_CHARS} characters"):
        search(alice, "a" * (MAX_QUERY_CHARS + 1))
    assert search(alice, "!!! ??? ...") == []  # no words: nothing found, not an error


def test_parse_quotes_every_word_for_both_databases():
    terms = parse('say "hello world" NEAR(x) pyth')
    assert terms.items == (("say",), ("hello", "world"), ("near",), ("x",), ("pyth",))
    assert terms.fts5() == '"say" AND "hello world" AND "near" AND "x" AND "pyth"*'
    assert terms.tsquery() == "('say') & ('hello' <-> 'world') & ('near') & ('x') & ('pyth':*)"
    assert parse('"unclosed phrase').items == (("unclosed", "phrase"),)
    assert parse('"unclosed phrase').prefix is False


# ---------------------------------------------------------------- the view


def test_the_view_needs_a_login(client):
    response = client.get("/search/?q=anything")
    assert response.status_code == 401
    assert "logged out" in response.json()["error"]


def test_the_view_answers_json_of_the_users_own_results(client, alice, bobs):
    conversation = chat(alice, "Sourdough", "my sourdough starter died", "Feed it daily.")
    client.force_login(alice)
    response = client.get("/search/", {"q": "sourdough"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    [result] = response.json()["results"]
    assert result["conversation"] == conversation.pk
    assert result["url"].startswith(f"/c/{conversation.pk}/#m")
    assert marked(result["title"]) == ["Sourdough"]
    assert marked(result["snippet"]) == ["sourdough"]
    client.force_login(alice)
    assert client.get("/search/", {"q": "secret"}).json() == {"results": []}


def test_the_view_refuses_bad_queries_and_limits_in_words(client, alice):
    client.force_login(alice)
    cases = {
        "": "Type something to search for.",
        "q=": "Type something to search for.",
        "q=%20%20": "Type something to search for.",
        "q=" + "a" * 201: "A search is at most 200 characters.",
        "q=x&limit=0": "The limit must be a number from 1 to 50.",
        "q=x&limit=51": "The limit must be a number from 1 to 50.",
        "q=x&limit=ten": "The limit must be a number from 1 to 50.",
    }
    for query, words in cases.items():
        response = client.get("/search/?" + query)
        assert response.status_code == 400, query
        assert response.json() == {"error": words}, query
    for query in HOSTILE:
        assert client.get("/search/", {"q": query}).status_code in (200, 400), query


def test_the_view_takes_only_get(client, alice):
    client.force_login(alice)
    assert client.post("/search/", {"q": "x"}).status_code == 405


# ---------------------------------------------------------------- the index itself


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL's index is a column of the table itself")
def test_sqlite_triggers_come_back_after_a_migration_rebuilds_the_table(alice):
    # SQLite rebuilds a table to alter it, and its triggers go with the old one.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        triggers = [row[0] for row in cursor.fetchall()]
        assert len([t for t in triggers if "_fts_" in t]) == 6
        for name in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
    restore_triggers(using="default")  # what post_migrate runs after every migrate
    conversation = chat(alice, "Restored", "armadillo")
    assert ids(search(alice, "armadillo")) == [conversation.pk]


def test_only_the_first_part_of_a_huge_message_is_indexed_and_it_still_saves(alice):
    head = "needle " + "filler " * (search_module.INDEXED_CHARS // 7)
    conversation = chat(alice, "Huge", head + " haystack " + "x" * 5_000_000)
    assert ids(search(alice, "needle")) == [conversation.pk]
    assert search(alice, "haystack") == []


# ---------------------------------------------------------------- on PostgreSQL


@pytest.mark.skipif(ON_POSTGRES, reason="this is the run on PostgreSQL")
@pytest.mark.django_db(False)
def test_the_same_behaviours_on_postgresql():
    """This file's tests again, in a child pytest whose database is the machine's
    PostgreSQL (a fresh database, dropped after)."""
    from tests import services

    admin, database = services.postgres_database()
    try:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_URL", "CHAT_", "OPENAI_"))
        }
        env |= {
            "DATABASE_URL": services.POSTGRES + database,
            "SEARCH_TESTS_VENDOR": "postgresql",
        }
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/test_search.py",
                "-m",
                "not browser",
                "-q",
                "-p",
                "no:cacheprovider",
                "--create-db",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        # pytest-django's own test database too, should the child not have dropped it.
        admin.execute(f'DROP DATABASE IF EXISTS "test_{database}" WITH (FORCE)')
        services.drop_database(admin, database)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert " failed" not in output and " error" not in output, output
    # Everything ran but this test, the SQLite-only one, and the browser's.
    assert "2 skipped" in output, output
