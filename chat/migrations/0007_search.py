"""Full-text search over titles and message text (chat/search_index.py): PostgreSQL's
tsvector columns with GIN indexes, or SQLite's FTS5 tables with triggers. Nothing in the
models' state changes: the columns and tables are the database's own, not fields."""

from django.db import migrations

from chat import search_index


def install(apps, schema_editor):
    search_index.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    search_index.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_sidebar")]

    operations = [migrations.RunPython(install, uninstall)]
