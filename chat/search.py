"""Search over the titles and message text of one user's own conversations.

`search(user, query, limit)` is the whole interface; the index it reads is described in
chat/search_index.py (PostgreSQL's text search, or SQLite's FTS5).

What the query means, on both databases: every word must appear (stemmed: "running" finds
"run"); "words in quotes" must appear together, in that order; the last word is also a
prefix while it is being typed (3 characters or more), so results come as the user
types. Nothing else in the query is syntax: each word is quoted before the database sees
it, so `*`, `NEAR`, `OR`, `-`, `:`, parentheses or a stray quote can neither fail nor
change the search.

Ranking: conversations whose title matches come first, by rank; then conversations by
their best-matching message (ts_rank on PostgreSQL, bm25 on SQLite). Ranking every match of
a word in a tenth of a million messages would not fit in 100 ms (docs/benchmarks.md, the
"Search" section): the newest CANDIDATES matching messages are ranked (for most words that
is all of them), which is also what someone searching usually wants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorField,
)
from django.db import connection, transaction
from django.db.models import F, Func, Value
from django.db.models.expressions import Expression
from django.db.models.functions import Left, Replace

from chat.models import Conversation, Message
from chat.search_index import (
    CONVERSATION_FTS,
    INDEXED_CHARS,
    MESSAGE_FTS,
    SEARCH_CONFIG,
    VECTOR_COLUMN,
)

MAX_QUERY_CHARS = 200
MAX_TERMS = 12  # words and phrases; more are ignored (each one narrows further anyway)
MAX_LIMIT = 50
PREFIX_MIN_CHARS = 3  # shorter prefixes match too much of the index to be worth it
CANDIDATES = 500
# Marks around matches in the database's snippets: control characters, which text
# almost never holds; the page gets segments, never markup.
START, STOP = "\x02", "\x03"
LT = "\ue000"  # a private-use character standing in for "<" (see _Postgres._shown)
SNIPPET_WORDS = 24

WORD = re.compile(r"\w+")

Segment = dict  # {"text": str, "mark": bool}


class BadQuery(ValueError):
    """A query that cannot be searched for; the message says why, in words."""


@dataclass(frozen=True)
class Terms:
    """A parsed query: each item a phrase (one word or several in order)."""

    items: tuple[tuple[str, ...], ...]
    prefix: bool  # the last item is one word, still being typed

    def tsquery(self) -> str:
        """PostgreSQL's to_tsquery syntax, every word quoted."""

        def item(i: int, words: tuple[str, ...]) -> str:
            quoted = [f"'{w}'" for w in words]  # \w+ holds no quote or backslash
            if self.prefix and i == len(self.items) - 1:
                quoted[-1] += ":*"
            return "(" + " <-> ".join(quoted) + ")"

        return " & ".join(item(i, words) for i, words in enumerate(self.items))

    def fts5(self) -> str:
        """SQLite's FTS5 query syntax: every word inside a double-quoted string."""

        def item(i: int, words: tuple[str, ...]) -> str:
            text = '"' + " ".join(words) + '"'  # \w+ holds no double quote
            return text + "*" if self.prefix and i == len(self.items) - 1 else text

        return " AND ".join(item(i, words) for i, words in enumerate(self.items))


def parse(query: str) -> Terms:
    """The words and phrases of `query`; BadQuery when there is nothing to search for."""
    if not isinstance(query, str) or not query.strip():
        raise BadQuery("Type something to search for.")
    if len(query) > MAX_QUERY_CHARS:
        raise BadQuery(f"A search is at most {MAX_QUERY_CHARS} characters.")
    items: list[tuple[str, ...]] = []
    for i, part in enumerate(query.split('"')):
        words = tuple(w.lower() for w in WORD.findall(part))
        if i % 2:  # inside quotes (an unclosed quote runs to the end)
            if words:
                items.append(words)
        else:
            items.extend((w,) for w in words)
    items = items[:MAX_TERMS]
    last_word_typed = bool(WORD.search(query[-1:])) and query.count('"') % 2 == 0
    prefix = (last_word_typed and bool(items) and len(items[-1]) == 1) and len(
        items[-1][0]
    ) >= PREFIX_MIN_CHARS
    return Terms(tuple(items), prefix)


@dataclass
class Result:
    conversation: Conversation
    title: list[Segment]
    message: Message | None = None
    snippet: list[Segment] = field(default_factory=list)

    def as_dict(self) -> dict:
        url = self.conversation.get_absolute_url()
        when: datetime = self.message.created if self.message else self.conversation.updated
        return {
            "conversation": self.conversation.pk,
            "title": self.title,
            "message": self.message.pk if self.message else None,
            "role": self.message.role if self.message else None,
            "snippet": self.snippet,
            "url": f"{url}#m{self.message.pk}" if self.message else url,
            "when": when.isoformat(),
        }


def segments(marked: str) -> list[Segment]:
    """Text with START…STOP around matches, as plain and marked pieces (whitespace and
    line breaks squeezed: a snippet is one line)."""
    pieces: list[Segment] = []
    for i, chunk in enumerate(re.split(f"[{START}{STOP}]", marked)):
        text = re.sub(r"\s+", " ", chunk)
        if text:
            pieces.append({"text": text, "mark": i % 2 == 1})
    return pieces


def search(user, query: str, limit: int = 20) -> list[Result]:
    """The best `limit` conversations of `user` for `query`: title matches first, each
    with its best-matching message when one matches too. BadQuery for an empty or long
    query; no results (not an error) for a query with no words in it."""
    terms = parse(query)
    limit = max(1, min(limit, MAX_LIMIT))
    if not terms.items:
        return []
    engine = _Postgres(terms) if connection.vendor == "postgresql" else _Sqlite(terms)
    titles = engine.titles(user, limit)  # [conversation id], best first
    best = {}  # conversation id -> its best message id, best conversation first
    for message_id, conversation_id, _rank in sorted(
        engine.messages(user), key=lambda row: (-row[2], -row[0])
    ):
        best.setdefault(conversation_id, message_id)
    in_titles = set(titles)
    order = (titles + [c for c in best if c not in in_titles])[:limit]
    if not order:
        return []
    # Only the user's own, and not those being deleted (still in the index until purged).
    conversations = Conversation.objects.owned_by(user).in_bulk(order)
    message_ids = [best[c] for c in order if c in best]
    messages = Message.objects.only("id", "role", "created", "conversation_id").in_bulk(message_ids)
    snippets = engine.snippets(message_ids)
    marked_titles = engine.marked_titles([c for c in order if c in in_titles])
    results = []
    for conversation_id in order:
        conversation = conversations.get(conversation_id)
        if conversation is None:  # deleted, or deleted between the queries
            continue
        message = messages.get(best.get(conversation_id))
        title = marked_titles.get(conversation_id)
        results.append(
            Result(
                conversation=conversation,
                title=segments(title)
                if title
                else [{"text": conversation.display_title(), "mark": False}],
                message=message,
                snippet=segments(snippets.get(message.pk, "")) if message else [],
            )
        )
    return results


class StoredVector(Expression):
    """The query's own table's tsvector column (chat/search_index.py), under whatever alias
    the table has in that query (U0 in a subquery): a column the models do not declare."""

    output_field = SearchVectorField()

    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{table}.{connection.ops.quote_name(VECTOR_COLUMN)}", []


class _Postgres:
    """django.contrib.postgres.search over the stored tsvector columns."""

    def __init__(self, terms: Terms):
        self.query = SearchQuery(terms.tsquery(), search_type="raw", config=SEARCH_CONFIG)
        self.phrase = any(len(words) > 1 for words in terms.items)

    def titles(self, user, limit: int) -> list[int]:
        vector = StoredVector()
        rows = (
            Conversation.objects.owned_by(user)
            .alias(vector=vector)
            .filter(vector=self.query)
            .annotate(rank=SearchRank(vector, self.query))
            .order_by("-rank", "-updated", "-id")
            .values_list("id", flat=True)[:limit]
        )
        return list(rows)

    def messages(self, user) -> list[tuple[int, int, float]]:
        """The newest CANDIDATES matching messages of `user`, ranked.

        PostgreSQL's planner picks the way to them from its statistics: for a common word,
        walking the primary key back from the newest message (it meets CANDIDATES matches
        soon); for a rare one, the GIN index. A phrase is estimated as its words anywhere
        in a message, far more often than they stand together, and a walk looking for a
        rare phrase of common words goes through the whole table (1.4 s at a million
        messages): a phrase always goes through the index.
        """
        vector = StoredVector()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # compiling costs more than these queries
            if self.phrase:
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL enable_seqscan = off")
            ids = list(
                Message.objects.filter(conversation__user=user)
                .alias(vector=vector)
                .filter(vector=self.query)
                .order_by("-id")
                .values_list("id", flat=True)[:CANDIDATES]
            )
        rows = (
            Message.objects.filter(id__in=ids)
            .annotate(rank=SearchRank(vector, self.query))
            .order_by()
            .values_list("id", "conversation_id", "rank")
        )
        return list(rows)

    @staticmethod
    def _shown(text) -> Func:
        """`text` as ts_headline should see it: without the marks (the message's own
        would pass for ours), and with "<" held as LT: ts_headline leaves out whatever its
        parser takes for an HTML tag, and messages are full of code."""
        for mark in (START, STOP):
            text = Replace(text, Value(mark), Value(""))
        return Replace(text, Value("<"), Value(LT))

    def snippets(self, message_ids: list[int]) -> dict[int, str]:
        text = self._shown(Left("content", INDEXED_CHARS))
        rows = (
            Message.objects.filter(id__in=message_ids)
            .annotate(
                headline=SearchHeadline(
                    text,
                    self.query,
                    config=SEARCH_CONFIG,
                    start_sel=START,
                    stop_sel=STOP,
                    max_words=SNIPPET_WORDS,
                    min_words=SNIPPET_WORDS // 2,
                    max_fragments=2,
                    fragment_delimiter=" … ",
                )
            )
            .values_list("id", "headline")
        )
        return {pk: text.replace(LT, "<") for pk, text in rows}

    def marked_titles(self, conversation_ids: list[int]) -> dict[int, str]:
        rows = (
            Conversation.objects.filter(id__in=conversation_ids)
            .annotate(
                headline=SearchHeadline(
                    self._shown(F("title")),
                    self.query,
                    config=SEARCH_CONFIG,
                    start_sel=START,
                    stop_sel=STOP,
                    highlight_all=True,
                )
            )
            .values_list("id", "headline")
        )
        return {pk: text.replace(LT, "<") for pk, text in rows}


class _Sqlite:
    """SQLite's FTS5 tables, through Django's connection."""

    def __init__(self, terms: Terms):
        self.match = terms.fts5()

    def titles(self, user, limit: int) -> list[int]:
        sql = f"""
            SELECT c.id FROM {CONVERSATION_FTS} f JOIN chat_conversation c ON c.id = f.rowid
            WHERE {CONVERSATION_FTS} MATCH %s AND c.user_id = %s
            ORDER BY f.rank, c.updated DESC, c.id DESC LIMIT %s"""  # noqa: S608 - table names
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.match, user.pk, limit])
            return [row[0] for row in cursor.fetchall()]

    def messages(self, user) -> list[tuple[int, int, float]]:
        # FTS5's rank is bm25, lower is better: negated, so higher is better as on PostgreSQL.
        sql = f"""
            SELECT f.rowid, m.conversation_id, -f.rank FROM {MESSAGE_FTS} f
            JOIN chat_message m ON m.id = f.rowid
            JOIN chat_conversation c ON c.id = m.conversation_id
            WHERE {MESSAGE_FTS} MATCH %s AND c.user_id = %s
            ORDER BY f.rowid DESC LIMIT %s"""  # noqa: S608 - table names
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.match, user.pk, CANDIDATES])
            return cursor.fetchall()

    def _marked(self, table: str, function: str, ids: list[int]) -> dict[int, str]:
        if not ids:
            return {}
        places = ", ".join(["%s"] * len(ids))
        sql = f"""
            SELECT rowid, {function} FROM {table}
            WHERE {table} MATCH %s AND rowid IN ({places})"""  # noqa: S608 - names, placeholders
        with connection.cursor() as cursor:
            cursor.execute(sql, [START, STOP, self.match, *ids])
            return dict(cursor.fetchall())

    def snippets(self, message_ids: list[int]) -> dict[int, str]:
        function = f"snippet({MESSAGE_FTS}, 0, %s, %s, '…', {SNIPPET_WORDS})"
        return self._marked(MESSAGE_FTS, function, message_ids)

    def marked_titles(self, conversation_ids: list[int]) -> dict[int, str]:
        function = f"highlight({CONVERSATION_FTS}, 0, %s, %s)"
        return self._marked(CONVERSATION_FTS, function, conversation_ids)
