"""The full-text index behind chat/search.py, one per database, kept by the database itself.

- PostgreSQL: a stored generated `tsvector` column on messages and on conversations, each
  with a GIN index. PostgreSQL recomputes it whenever a row's text changes, however the
  row is written (the ORM, `replies.checkpoint_all`'s raw UPDATE, `bulk_create`, COPY).
- SQLite: FTS5 tables (`chat_message_fts`, `chat_conversation_fts`) kept in step by
  triggers, for the same reason.

Only what the user sees as conversation text is indexed: user and assistant messages that
are not streaming (a reply is indexed when it ends, so checkpoints each second cost the
index nothing), and only their first INDEXED_CHARS characters (a tsvector is limited to
1 MB: a 5 MB reply must still save). Changing this DDL needs a new migration.
"""

# The statements below are built from this module's own names and numbers, never from input.
# ruff: noqa: S608

from __future__ import annotations

INDEXED_CHARS = 100_000
SEARCH_CONFIG = "english"  # PostgreSQL's text search configuration: stemming, stop words
VECTOR_COLUMN = "search_vector"  # PostgreSQL only; not a model field (SQLite has none)
MESSAGE_FTS = "chat_message_fts"
CONVERSATION_FTS = "chat_conversation_fts"

_INDEXED = "{row}.status <> 'streaming' AND {row}.role IN ('user', 'assistant')"

POSTGRES_INSTALL = [
    f"""ALTER TABLE chat_message ADD COLUMN {VECTOR_COLUMN} tsvector GENERATED ALWAYS AS (
        CASE WHEN {_INDEXED.format(row="chat_message")}
        THEN to_tsvector('{SEARCH_CONFIG}'::regconfig, left(content, {INDEXED_CHARS})) END
    ) STORED""",
    f"CREATE INDEX chat_message_search ON chat_message USING gin ({VECTOR_COLUMN})",
    f"""ALTER TABLE chat_conversation ADD COLUMN {VECTOR_COLUMN} tsvector GENERATED ALWAYS AS (
        to_tsvector('{SEARCH_CONFIG}'::regconfig, title)
    ) STORED""",
    f"CREATE INDEX chat_conversation_search ON chat_conversation USING gin ({VECTOR_COLUMN})",
]
POSTGRES_UNINSTALL = [
    f"ALTER TABLE chat_message DROP COLUMN {VECTOR_COLUMN}",
    f"ALTER TABLE chat_conversation DROP COLUMN {VECTOR_COLUMN}",
]

# porter: "running" finds "run"; remove_diacritics: "cafe" finds "café".
_TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"
SQLITE_TABLES = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {MESSAGE_FTS} USING fts5(body, {_TOKENIZE})",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {CONVERSATION_FTS} USING fts5(title, {_TOKENIZE})",
]


def _text(sql: str) -> str:
    """The text FTS5 keeps a copy of, without the control characters chat/search.py marks
    matches with in snippets (so a message's own cannot pass for a mark)."""
    return f"replace(replace({sql}, char(2), ''), char(3), '')"


_ADD_MESSAGE = (
    f"INSERT INTO {MESSAGE_FTS}(rowid, body) SELECT new.id, "
    f"{_text(f'substr(new.content, 1, {INDEXED_CHARS})')} WHERE {_INDEXED.format(row='new')};"
)
_ADD_TITLE = f"INSERT INTO {CONVERSATION_FTS}(rowid, title) VALUES (new.id, {_text('new.title')});"
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS chat_message_fts_insert AFTER INSERT ON chat_message
    BEGIN {_ADD_MESSAGE} END""",
    f"""CREATE TRIGGER IF NOT EXISTS chat_message_fts_delete AFTER DELETE ON chat_message
    BEGIN DELETE FROM {MESSAGE_FTS} WHERE rowid = old.id; END""",
    # A checkpoint (streaming before and after) touches nothing.
    f"""CREATE TRIGGER IF NOT EXISTS chat_message_fts_update
    AFTER UPDATE OF content, status, role ON chat_message
    WHEN old.status <> 'streaming' OR new.status <> 'streaming'
    BEGIN DELETE FROM {MESSAGE_FTS} WHERE rowid = old.id; {_ADD_MESSAGE} END""",
    f"""CREATE TRIGGER IF NOT EXISTS chat_conversation_fts_insert
    AFTER INSERT ON chat_conversation
    BEGIN {_ADD_TITLE} END""",
    f"""CREATE TRIGGER IF NOT EXISTS chat_conversation_fts_delete
    AFTER DELETE ON chat_conversation
    BEGIN DELETE FROM {CONVERSATION_FTS} WHERE rowid = old.id; END""",
    f"""CREATE TRIGGER IF NOT EXISTS chat_conversation_fts_update
    AFTER UPDATE OF title ON chat_conversation
    BEGIN DELETE FROM {CONVERSATION_FTS} WHERE rowid = old.id; {_ADD_TITLE} END""",
]
SQLITE_FILL = [
    f"DELETE FROM {MESSAGE_FTS}",
    f"""INSERT INTO {MESSAGE_FTS}(rowid, body)
    SELECT id, {_text(f"substr(content, 1, {INDEXED_CHARS})")}
    FROM chat_message WHERE {_INDEXED.format(row="chat_message")}""",
    f"DELETE FROM {CONVERSATION_FTS}",
    f"INSERT INTO {CONVERSATION_FTS}(rowid, title) SELECT id, {_text('title')} "
    "FROM chat_conversation",
]
SQLITE_UNINSTALL = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "chat_message_fts_insert",
            "chat_message_fts_delete",
            "chat_message_fts_update",
            "chat_conversation_fts_insert",
            "chat_conversation_fts_delete",
            "chat_conversation_fts_update",
        )
    ),
    f"DROP TABLE IF EXISTS {MESSAGE_FTS}",
    f"DROP TABLE IF EXISTS {CONVERSATION_FTS}",
]


def install(connection) -> None:
    """Create the index and fill it from what is stored (the migration runs this)."""
    statements = {
        "postgresql": POSTGRES_INSTALL,
        "sqlite": SQLITE_TABLES + SQLITE_TRIGGERS + SQLITE_FILL,
    }.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def uninstall(connection) -> None:
    statements = {"postgresql": POSTGRES_UNINSTALL, "sqlite": SQLITE_UNINSTALL}
    with connection.cursor() as cursor:
        for sql in statements.get(connection.vendor, []):
            cursor.execute(sql)


def restore_triggers(using: str = "default", **kwargs) -> None:
    """After every `migrate` (post_migrate): put back SQLite's triggers if a later migration
    dropped them. SQLite alters a table by copying it into a new one, and the triggers
    go with the old table; the ids and texts are copied unchanged, so the FTS tables are
    still right and only the triggers need restoring."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = %s",
            [MESSAGE_FTS],
        )
        if not cursor.fetchone()[0]:
            return  # not migrated that far (or migrated back)
        for sql in SQLITE_TRIGGERS:
            cursor.execute(sql)
