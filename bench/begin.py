"""CPU per reply start in the database: `replies.begin` (the user's message and the reply's
row saved, the limits counted, the history read) called directly, one user starting a
first message in each of N fresh conversations, with every reply left streaming, as
bench/load.py's one user has them. See "Where the time goes" in docs/benchmarks.md.

    .venv/bin/python bench/begin.py                                 # SQLite, 200 starts
    .venv/bin/python bench/begin.py --database postgres --profile   # and where it goes
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES = "postgres://postgres@127.0.0.1:5432/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--warm", type=int, default=50, help="starts made before measuring")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured starts")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="chat-begin-")
    admin = database = None
    if args.database == "postgres":
        import psycopg

        database = f"chat_begin_{uuid.uuid4().hex[:8]}"
        admin = psycopg.connect(POSTGRES + "postgres", autocommit=True)
        admin.execute(f'CREATE DATABASE "{database}"')
        url = POSTGRES + database
    else:
        url = f"sqlite:///{workdir}/db.sqlite3"
    os.environ |= {
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": url,
        # As bench/load.py sets them: one user may start every reply.
        "CHAT_USER_MAX_REPLIES": "100000",
        "CHAT_USER_MESSAGES_PER_MINUTE": "100000",
    }
    try:
        run(args)
    finally:
        if admin is not None:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')


def run(args) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat import replies
    from chat.models import Conversation

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    conversations = [
        Conversation.objects.create(user=user) for _ in range(args.warm + args.starts + 1)
    ]
    begin = replies.begin.func  # the function itself, on this thread

    def start(conversation: Conversation) -> None:
        begin(conversation, "bench-channel", "Hello there", None, set())

    for conversation in conversations[: args.warm]:
        start(conversation)
    with CaptureQueriesContext(connection) as queries:
        start(conversations[args.warm])
    measured = conversations[args.warm + 1 :]
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    for conversation in measured:
        start(conversation)
    if profile:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"{args.database}: {len(measured)} starts after {args.warm}, "
        f"{len(queries.captured_queries)} statements each (BEGIN and COMMIT included): "
        f"{cpu / len(measured) * 1000:.2f} ms of CPU and {wall / len(measured) * 1000:.2f} ms "
        f"in all per start{' (profiled)' if profile else ''}"
    )
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(r"chat/", 15)


if __name__ == "__main__":
    main()
