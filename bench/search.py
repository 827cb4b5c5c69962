"""Search at scale: one user with 10,000 conversations and 1,000,000 messages, and the time
chat.search.search() takes for common words, rare words, phrases, prefixes and no hits.
See "Search" in docs/benchmarks.md.

    .venv/bin/python bench/search.py                       # PostgreSQL, the sizes above
    .venv/bin/python bench/search.py --database sqlite --conversations 1000
    .venv/bin/python bench/search.py --keep                    # leave the database behind

PostgreSQL: a fresh database on the machine's server (127.0.0.1:5432, as tests/services.py),
dropped at the end. SQLite: a fresh file in a temporary directory. The schema comes from the
site's migrations; rows are written with COPY (PostgreSQL, the GIN indexes dropped and
rebuilt around it, as a restore does) or executemany (SQLite, through the triggers).

The text: sentences of 6-22 words drawn from the words of the repository's markdown
corpus (tests/markdown_corpus/), by the rank of their frequency there (so "the" and "file"
are common and most words rare); a user message is 1-3 sentences, a reply 3-12. Two
hundred made-up words are each put into 3-30 messages, for rare-word queries. A second
user (bob) has 200 conversations of the same text, so the owner filter has something to
filter out.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POSTGRES = "postgres://postgres@127.0.0.1:5432/"
SEED = 9


# ---------------------------------------------------------------- text


def vocabulary() -> tuple[list[str], list[float]]:
    """Words of the repository's prose, most frequent first, with cumulative weights."""
    counts: collections.Counter[str] = collections.Counter()
    for pattern in ("tests/markdown_corpus/*.md",):
        for path in sorted(ROOT.glob(pattern)):
            counts.update(re.findall(r"[a-z]{2,}", path.read_text(errors="replace").lower()))
    words = [w for w, _ in counts.most_common()]
    # Zipf by rank (as natural text is), not the documents' own counts, which are few.
    weights = [1 / (rank + 1) for rank in range(len(words))]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


def rare_words(rng: random.Random, n: int) -> list[str]:
    syllables = ["zor", "quil", "vex", "brim", "thal", "nyx", "orb", "plu", "kesh", "wim"]
    made: set[str] = set()
    while len(made) < n:
        made.add("".join(rng.choice(syllables) for _ in range(3)))
    return sorted(made)


class Text:
    def __init__(self, rng: random.Random, sentences: int = 60_000):
        self.rng = rng
        self.words, cumulative = vocabulary()
        self.pool = []
        for _ in range(sentences):
            k = rng.randint(6, 22)
            drawn = rng.choices(self.words, cum_weights=cumulative, k=k)
            self.pool.append(drawn[0].capitalize() + " " + " ".join(drawn[1:]) + ".")

    def message(self, role: str) -> str:
        k = self.rng.randint(1, 3) if role == "user" else self.rng.randint(3, 12)
        return " ".join(self.rng.choices(self.pool, k=k))


# ---------------------------------------------------------------- data


def rows(text: Text, user_id: int, first_conv: int, conversations: int, per: int, rare):
    """(conversations, messages) as tuples; rare: {message number: word} to put in."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    convs, messages = [], []
    n = 0
    for c in range(conversations):
        conv_id = first_conv + c
        created = start + timedelta(minutes=50 * c)
        title = ""
        for i in range(per):
            role = "user" if i % 2 == 0 else "assistant"
            content = text.message(role)
            if n in rare:
                content += f" The {rare[n]} case."
            if i == 0:
                title = " ".join(content.split()[:6])
            at = created + timedelta(seconds=20 * i)
            messages.append((conv_id, role, content, at))
            n += 1
        updated = created + timedelta(seconds=20 * per)
        convs.append((conv_id, user_id, title, created, updated))
    return convs, messages


def place_rare(rng: random.Random, words: list[str], total: int) -> dict[int, str]:
    placed = {}
    for word in words:
        for _ in range(rng.randint(3, 30)):
            placed[rng.randrange(total)] = word
    return placed


def fill_postgres(conn, convs, messages) -> None:
    """COPY, with the GIN indexes dropped and rebuilt from their own definitions."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
            "('chat_message_search', 'chat_conversation_search')"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        conv_cols = "id, user_id, title, model, system_prompt, created, updated"
        with cur.copy(f"COPY chat_conversation ({conv_cols}) FROM STDIN") as copy:
            for conv_id, user_id, title, created, updated in convs:
                copy.write_row((conv_id, user_id, title, "bench-model", "", created, updated))
        msg_cols = (
            "conversation_id, role, content, status, tool_call_id, finish_reason, model, "
            "error, created, writer, updated"
        )
        with cur.copy(f"COPY chat_message ({msg_cols}) FROM STDIN") as copy:
            for conv_id, role, content, at in messages:
                model = "bench-model" if role == "assistant" else ""
                copy.write_row((conv_id, role, content, "complete", "", "", model, "", at, "", at))
        cur.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('chat_conversation', 'id'), "
            "(SELECT max(id) FROM chat_conversation))"
        )
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE chat_message")
    conn.execute("VACUUM ANALYZE chat_conversation")


def fill_sqlite(connection, convs, messages) -> None:
    with connection.cursor() as cur:
        cur.executemany(
            "INSERT INTO chat_conversation (id, user_id, title, model, system_prompt, created, "
            "updated) VALUES (%s, %s, %s, 'bench-model', '', %s, %s)",
            [(c, u, t, cr.isoformat(), up.isoformat()) for c, u, t, cr, up in convs],
        )
        cur.executemany(
            "INSERT INTO chat_message (conversation_id, role, content, status, tool_call_id, "
            "finish_reason, model, error, created, writer, updated) VALUES "
            "(%s, %s, %s, 'complete', '', '', '', '', %s, '', %s)",
            [(c, r, t, at.isoformat(), at.isoformat()) for c, r, t, at in messages],
        )
        cur.execute("ANALYZE")


# ---------------------------------------------------------------- queries


def queries(text: Text, rare: list[str], rng: random.Random) -> dict[str, list[str]]:
    from chat.search import parse

    stop = {
        "the", "and", "to", "of", "a", "in", "is", "it", "that", "for", "be", "on", "as",
        "with", "are", "or", "not", "this", "an", "by", "at", "from", "its", "if", "one",
        "no", "can", "when", "what", "which", "they", "all", "each", "so", "has", "have",
        "but", "was", "there", "their", "then", "only", "than", "out", "into", "any",
        "more", "other", "do", "does", "same", "we", "you", "your", "how", "who", "them",
        "these", "those", "up", "also", "both", "just", "will", "would", "were", "been",
        "most", "some", "own", "too", "very", "over", "again", "after", "before", "here",
    }  # fmt: skip
    content = [w for w in text.words if w not in stop and len(w) > 3]
    phrases = []
    for sentence in text.pool[:2000]:
        words = [w.lower().strip(".") for w in sentence.split()]
        pairs = [
            (a, b)
            for a, b in itertools.pairwise(words)
            if a not in stop and b not in stop and len(a) > 3 and len(b) > 3
        ]
        if pairs:
            phrases.append('"' + " ".join(pairs[0]) + '"')
    chosen = {
        "common word": content[:5],
        "mid word": content[300:305],
        "rare word": rng.sample(rare, 5),
        "two common words": [f"{a} {b}" for a, b in zip(content[:5], content[5:10], strict=True)],
        "phrase": phrases[:5],
        "prefix, as typed": [w[:4] for w in content[1:6]],
        "no hits": ["qwxzv", "zzyzzx plonk", '"model file nothing"', "zzqqxxwv", "xq"],
    }
    for group in chosen.values():
        for q in group:
            assert parse(q).items, q
    return chosen


def run_queries(user, chosen, repeat: int) -> dict[str, list[float]]:
    from chat.search import search

    timings: dict[str, list[float]] = {}
    for group, qs in chosen.items():
        for q in qs:
            search(user, q)  # once to warm the cache, not timed
            for _ in range(repeat):
                t = time.perf_counter()
                results = search(user, q)
                timings.setdefault(group, []).append((time.perf_counter() - t) * 1000)
            print(f"  {group:18} {q!r:28} {len(results):3} results", flush=True)
    return timings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(timings: dict[str, list[float]]) -> None:
    print(f"\n{'queries':18} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    everything = []
    for group, values in timings.items():
        everything += values
        print(
            f"{group:18} {len(values):5} {statistics.median(values):8.1f} "
            f"{percentile(values, 95):8.1f} {max(values):8.1f}"
        )
    print(
        f"{'all':18} {len(everything):5} {statistics.median(everything):8.1f} "
        f"{percentile(everything, 95):8.1f} {max(everything):8.1f}"
    )


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-per-conversation", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--queries", action=argparse.BooleanOptionalAction, default=True, help="time queries"
    )
    args = parser.parse_args()

    admin = name = tmp = None
    if args.database == "postgres":
        import psycopg

        admin = psycopg.connect(POSTGRES + "postgres", autocommit=True, connect_timeout=3)
        name = f"chat_bench_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = POSTGRES + name
    else:
        tmp = tempfile.mkdtemp(prefix="search-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("CHAT_DEMO_MODE", "0")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    try:
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        users = get_user_model().objects
        alice = users.create_user("alice", password="-")
        bob = users.create_user("bob", password="-")
        rng = random.Random(SEED)
        text = Text(rng)
        rare = rare_words(rng, 200)
        total = args.conversations * args.messages_per_conversation
        convs, messages = rows(
            text, alice.pk, 1, args.conversations, args.messages_per_conversation,
            place_rare(rng, rare, total),
        )  # fmt: skip
        bob_convs, bob_messages = rows(
            text, bob.pk, args.conversations + 1, 200, args.messages_per_conversation, {}
        )
        t1 = time.perf_counter()
        print(
            f"{args.database}: {len(convs):,} conversations and {len(messages):,} messages "
            f"for alice (+{len(bob_messages):,} for bob), "
            f"{sum(len(m[2]) for m in messages) / len(messages):.0f} characters a message; "
            f"made in {t1 - t0:.0f} s"
        )
        if args.database == "postgres":
            connection.ensure_connection()
            fill_postgres(connection.connection, convs + bob_convs, messages + bob_messages)
        else:
            fill_sqlite(connection, convs + bob_convs, messages + bob_messages)
        t2 = time.perf_counter()
        print(f"stored and indexed in {t2 - t1:.0f} s")
        del convs, messages, bob_convs, bob_messages
        chosen = queries(text, rare, rng)
        if args.queries:
            report(run_queries(alice, chosen, args.repeat))
    finally:
        from django.db import connections

        connections.close_all()
        if admin is not None:
            if args.keep:
                print(f"kept: {POSTGRES}{name}")
            else:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
        if tmp is not None and not args.keep:
            for path in Path(tmp).iterdir():
                path.unlink()
            os.rmdir(tmp)


if __name__ == "__main__":
    main()
