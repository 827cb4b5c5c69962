"""The machine's PostgreSQL and Redis, for tests that run several server processes."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator

from tests.conftest import require_service

POSTGRES = "postgres://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/7"


def postgres_database():
    """A fresh database: (an admin connection, its name). Drop it with `drop_database`."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES + "postgres", autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to reach the server means "not available"
        require_service(False, f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc})")
    name = f"chat_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name


def drop_database(admin, name: str) -> None:
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def require_redis() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            available = conn.recv(16).startswith(b"+PONG")
    except OSError:
        available = False
    require_service(available, "Redis is not reachable at 127.0.0.1:6379")


def scaled_out_env(database: str, upstream_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": POSTGRES + database,
        "REDIS_URL": REDIS,
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": "sk-scaled",
    }


@contextlib.contextmanager
def two_sites(tmp_path_factory, upstream_url: str, **extra_env: str) -> Iterator[tuple]:
    """Two daphne processes on one fresh PostgreSQL database and Redis, with alice's
    account: (first, second)."""
    from tests.live import create_user, start_site

    require_redis()
    admin, database = postgres_database()
    env = scaled_out_env(database, upstream_url) | extra_env
    first = start_site(tmp_path_factory.mktemp("first"), env)
    second = start_site(tmp_path_factory.mktemp("second"), env)
    try:
        create_user(first, "alice", "alice-password-1")
        yield first, second
    finally:
        first.stop()
        second.stop()
        drop_database(admin, database)
